package media

import (
	"fmt"

	"github.com/pion/rtp"
)

// Arena sizes: a block of packets, and a block of bytes sized for about 64 packets as large as
// the largest of the previous block (so an audio track's blocks are a few KiB, a video track's
// 64 KiB), between arenaMinBytes and arenaMaxBytes.
const (
	arenaPackets  = 64
	arenaMinBytes = 4 << 10
	arenaMaxBytes = 64 << 10
)

// Arena hands out packets carved from large blocks, so a track's reader makes two allocations
// per block instead of three per packet (the bytes, the rtp.Packet and the Packet). Blocks are
// never reused: a packet lives as long as any subscriber or the hub's GOP cache holds it, and the
// garbage collector frees a block once none of its packets is referenced. One goroutine uses an
// Arena; it is not safe for concurrent use.
type Arena struct {
	slots []arenaSlot
	bytes []byte
	// largest is the largest packet copied into the current byte block.
	largest int
}

type arenaSlot struct {
	pkt Packet
	rtp rtp.Packet
	// ext backs the header extensions, so unmarshalling the usual few allocates nothing.
	ext [4]rtp.Extension
}

// Packet copies raw (one RTP packet) into the arena and parses it. The returned packet's RTP
// field is set; the caller fills in the rest before handing it to the hub.
func (a *Arena) Packet(raw []byte) (*Packet, error) {
	if len(a.slots) == 0 {
		a.slots = make([]arenaSlot, arenaPackets)
	}
	if len(raw) > len(a.bytes) {
		size := min(max(arenaPackets*max(a.largest, len(raw)), arenaMinBytes), arenaMaxBytes)
		a.bytes = make([]byte, max(size, len(raw)))
		a.largest = 0
	}
	a.largest = max(a.largest, len(raw))
	data := a.bytes[:len(raw):len(raw)]
	a.bytes = a.bytes[len(raw):]
	copy(data, raw)
	s := &a.slots[0]
	a.slots = a.slots[1:]
	s.rtp.Extensions = s.ext[:0]
	if err := s.rtp.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("parse rtp: %w", err)
	}
	s.pkt.RTP = &s.rtp
	return &s.pkt, nil
}
