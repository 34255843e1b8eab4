package pull

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
)

// trackOut keeps one local track a single RTP sequence across upstream sessions, the way an SFU's
// switching context does: the first session's packets pass unchanged; the packets of each later
// session are renumbered to follow the last sequence number written, and their timestamps are
// moved to follow the last timestamp written plus the wall-clock time that passed. Viewers,
// statistics and the GOP cache therefore see one continuous stream with a pause in it.
//
// The SSRC is the remote's, and differs from the previous session's (RFC 3550 §8.2: a new SSRC is
// a new source whose clock must be synchronised again): recorders depacketize afresh and start a
// new segment on it, with A/V sync from the new session's sender reports.
//
// rewrite is called by the track's reader goroutine only; timestampOffset by its RTCP goroutine.
type trackOut struct {
	clock uint32

	started bool // some packet has been written to the local track
	lastSeq uint16
	lastTS  uint32
	lastAt  time.Time
	outSSRC uint32

	primed bool // the current session's offsets are known
	seqOff uint16
	tsOff  uint32
	srOff  atomic.Int64 // tsOff once primed, -1 before
}

func newTrackOut(clock uint32) *trackOut {
	o := &trackOut{clock: max(clock, 1)}
	o.srOff.Store(-1)
	return o
}

// newSession prepares for the packets of a new upstream session; its offsets are fixed by its
// first packet.
func (o *trackOut) newSession() {
	o.primed = false
	o.srOff.Store(-1)
}

// rewrite moves h onto the local line.
func (o *trackOut) rewrite(h *rtp.Header, now time.Time) {
	if !o.primed {
		o.prime(h, now)
	}
	h.SequenceNumber += o.seqOff
	h.Timestamp += o.tsOff
	h.SSRC = o.outSSRC
	if !o.started || int16(h.SequenceNumber-o.lastSeq) > 0 {
		o.started = true
		o.lastSeq, o.lastTS, o.lastAt = h.SequenceNumber, h.Timestamp, now
	}
}

func (o *trackOut) prime(h *rtp.Header, now time.Time) {
	o.primed = true
	if !o.started {
		o.seqOff, o.tsOff, o.outSSRC = 0, 0, h.SSRC
		o.srOff.Store(0)
		return
	}
	o.seqOff = o.lastSeq + 1 - h.SequenceNumber
	ticks := uint32(max(now.Sub(o.lastAt), 0).Seconds() * float64(o.clock))
	o.tsOff = o.lastTS + max(ticks, 1) - h.Timestamp
	ssrc := h.SSRC
	if ssrc == o.outSSRC {
		ssrc ^= 1 // the remote reused its SSRC: the local track must still show a new source
	}
	o.outSSRC = ssrc
	o.srOff.Store(int64(o.tsOff))
}

// timestampOffset returns what to add to the current session's RTP timestamps (for sender
// reports); ok is false until the session's first packet has been written.
func (o *trackOut) timestampOffset() (uint32, bool) {
	off := o.srOff.Load()
	return uint32(off), off >= 0
}
