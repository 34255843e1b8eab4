package media

import (
	"time"

	"github.com/pion/rtp"
)

// Packet is one RTP packet as it travels from a publisher through the hub to every subscriber.
//
// A Packet is shared by all subscribers of a stream and must be treated as read-only once it has
// been handed to the hub: a subscriber that needs to change a header field copies the header first.
type Packet struct {
	// RTP is the packet as received (after SRTP decryption and NACK repair).
	RTP *rtp.Packet
	// Track is the index of the track within its stream.
	Track int
	// Kind is the kind of the track.
	Kind Kind
	// KeyframeStart is true when the packet begins a video keyframe (or carries the parameter
	// sets that precede one). Decoding can start here.
	KeyframeStart bool
	// Arrival is when the server received the packet.
	Arrival time.Time
}
