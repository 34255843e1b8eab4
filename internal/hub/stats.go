package hub

import (
	"time"

	"github.com/vigilrec/vigil/internal/media"
)

// Snapshot is a point-in-time view of a stream.
type Snapshot struct {
	ID      string
	Name    string
	Created time.Time
	Tracks  []TrackInfo
	// Video and Audio are nil when the stream has no such track.
	Video, Audio *TrackStats
	// PLIs and NACKs count keyframe requests and packets asked for again, sent to the publisher.
	PLIs, NACKs     uint64
	Subscribers     int
	SubscriberDrops uint64
	// LastDrop is when a subscriber last dropped a packet of this stream; zero if never.
	LastDrop time.Time
}

// Publishing reports whether media has arrived.
func (s Snapshot) Publishing() bool {
	return (s.Video != nil && s.Video.Packets > 0) || (s.Audio != nil && s.Audio.Packets > 0)
}

// TrackStats are the counters and rates of one track.
type TrackStats struct {
	Codec     media.Codec
	Packets   uint64
	Bytes     uint64
	Lost      uint64
	Frames    uint64
	Keyframes uint64
	// Bitrate in bits per second and FPS in frames per second, over the last whole second.
	Bitrate float64
	FPS     float64
	// Width and Height of the video, from the bitstream; zero until known.
	Width, Height int
	LastPacket    time.Time
	// Recent are the figures of the last few seconds, for degraded-stream checks (health.go).
	Recent Recent
}

// trackStats is updated by the publisher goroutine of its track under the stream's lock.
type trackStats struct {
	kind  media.Kind
	codec media.Codec
	TrackStats

	started        bool
	baseSeq        uint32
	highSeq        uint32 // extended with the wrap count in the upper 16 bits
	lastKeyTS      uint32
	sawKey         bool
	secStart       int64 // unix second the current bucket counts
	secBytes       uint64
	secFrames      uint64
	prevBytes      uint64 // the previous whole second
	prevFrames     uint64
	prevSec        int64
	lastFrameTS    uint32
	sawFrameMarker bool
	health
}

func (t *trackStats) observe(p *media.Packet) {
	t.Packets++
	n := uint64(len(p.RTP.Payload))
	t.Bytes += n
	t.LastPacket = p.Arrival
	prevHigh, wasStarted := t.highSeq, t.started
	t.observeSeq(p.RTP.SequenceNumber)
	t.noteGap(p, prevHigh, wasStarted)

	sec := p.Arrival.Unix()
	if sec != t.secStart {
		t.closeSecond(n)
		t.prevSec, t.prevBytes, t.prevFrames = t.secStart, t.secBytes, t.secFrames
		t.secStart, t.secBytes, t.secFrames = sec, 0, 0
	}
	t.secBytes += n
	if t.kind == media.KindVideo {
		// A frame ends at the marker bit; count distinct timestamps so a lost marker does not
		// lose the frame.
		if !t.sawFrameMarker || p.RTP.Timestamp != t.lastFrameTS {
			t.sawFrameMarker = true
			t.lastFrameTS = p.RTP.Timestamp
			t.Frames++
			t.secFrames++
		}
		if p.KeyframeStart && (!t.sawKey || p.RTP.Timestamp != t.lastKeyTS) {
			t.sawKey = true
			t.lastKeyTS = p.RTP.Timestamp
			t.Keyframes++
			t.noteKeyframe(p)
		}
		if p.KeyframeStart {
			if w, h, ok := media.PictureSize(t.codec, p.RTP.Payload); ok {
				t.Width, t.Height = w, h
			}
		}
	} else {
		t.Frames++
		t.secFrames++
	}
}

// observeSeq keeps the RFC 3550 §A.3 accounting of expected versus received packets.
func (t *trackStats) observeSeq(seq uint16) {
	if !t.started {
		t.started = true
		t.baseSeq = uint32(seq)
		t.highSeq = uint32(seq)
		return
	}
	cycles := t.highSeq &^ 0xffff
	high := uint16(t.highSeq)
	delta := seq - high
	switch {
	case delta == 0:
	case delta < 0x8000: // ahead, maybe across a wrap
		if seq < high {
			cycles += 0x10000
		}
		t.highSeq = cycles | uint32(seq)
	}
	expected := uint64(t.highSeq-t.baseSeq) + 1
	if expected > t.Packets {
		t.Lost = expected - t.Packets
	} else {
		t.Lost = 0
	}
}

func (t *trackStats) snapshot(now time.Time) TrackStats {
	out := t.TrackStats
	out.Codec = t.codec
	// Rates come from the last whole second, and are zero once the track has gone quiet.
	switch now.Unix() {
	case t.secStart: // the current second is still filling: report the one before
		if t.prevSec == t.secStart-1 {
			out.Bitrate, out.FPS = float64(t.prevBytes*8), float64(t.prevFrames)
		}
	case t.secStart + 1:
		out.Bitrate, out.FPS = float64(t.secBytes*8), float64(t.secFrames)
	}
	return out
}
