package recorder

import (
	"time"
)

// The reorder buffer's bounds. Latency is how long a hole in the sequence numbers is waited for
// (a retransmission answering a NACK) before the packet is given up; it adapts to how late
// retransmissions actually arrive and to the interarrival jitter, within these bounds.
const (
	minLatency  = 50 * time.Millisecond
	maxLatency  = 500 * time.Millisecond
	initialPeak = 120 * time.Millisecond // until a retransmission has been measured
)

// Slot states of the reorder buffer.
const (
	slotEmpty   uint8 = iota
	slotMissing       // a later packet arrived; this one is awaited
	slotHeld          // arrived; waits for the packets before it
	slotDone          // handed on
	slotLost          // given up
)

// bufferedPacket is one RTP packet as the reorder buffer keeps it: its payload is a copy in a
// buffer the slot reuses, so nothing of the hub's shared packet is retained.
type bufferedPacket struct {
	seq     uint16
	ts      uint32
	marker  bool
	arrival time.Time
	payload []byte
	// filled: the packet arrived after a later one (a retransmission) and filled a hole.
	filled bool
}

type slot struct {
	state uint8
	pkt   bufferedPacket
	since time.Time // slotMissing, slotLost: when the hole was noticed
}

// insertResult tells the caller what became of a packet.
type insertResult uint8

const (
	insertHeld   insertResult = iota // kept; drain hands it on in order
	insertDirect                     // the next packet in order with nothing waiting: use it now
	insertLate                       // its sequence number was already given up or handed on
	insertDuplicate
)

// reorderBuffer puts one track's packets back in sequence-number order and waits, for a
// bounded adaptive time, for the ones missing (RFC 3550 §A.1 for the sequence arithmetic). Packets
// arriving in order with nothing missing pass straight through without being copied; only
// packets behind a hole are copied, into slot buffers that are reused, so the steady state
// allocates nothing. The ring is allocated at the first hole. One goroutine uses it.
type reorderBuffer struct {
	size    int
	slots   []slot
	started bool
	next    uint16 // the next sequence number to hand on
	top     uint16 // one past the highest sequence number seen
	held    int

	clock     int64         // RTP clock rate
	peak      time.Duration // decaying peak of how late retransmissions came
	decayAt   time.Time
	jitter    time.Duration // RFC 3550 §6.4.1 interarrival jitter, in arrival time
	lastTS    uint32
	lastAt    time.Time
	hasJitter bool
}

func newReorderBuffer(size int, clockRate uint32) reorderBuffer {
	return reorderBuffer{size: size, clock: int64(max(clockRate, 1)), peak: initialPeak}
}

// latency is how long a hole is waited for.
func (b *reorderBuffer) latency() time.Duration {
	return min(max(b.peak*3/2+3*b.jitter, minLatency), maxLatency)
}

func (b *reorderBuffer) slot(seq uint16) *slot { return &b.slots[int(seq)&(b.size-1)] }

// reset forgets everything: the next packet starts the sequence anew.
func (b *reorderBuffer) reset() {
	for i := range b.slots {
		b.slots[i].state = slotEmpty
	}
	b.started, b.held, b.hasJitter = false, 0, false
}

// ahead is how far seq is ahead of the next sequence number to hand on (negative: behind).
func (b *reorderBuffer) ahead(seq uint16) int { return int(int16(seq - b.next)) }

// insert adds a packet that arrived at now. A packet beyond the ring must be made room for
// first (giveUpBefore).
func (b *reorderBuffer) insert(seq uint16, ts uint32, marker bool, payload []byte, now time.Time) insertResult {
	if !b.started {
		b.started, b.next, b.top = true, seq, seq
	}
	if b.ahead(seq) < 0 {
		return b.behind(seq, now)
	}
	b.observe(seq, ts, now)
	if int16(seq-b.top) >= 0 { // the newest so far
		if seq == b.next && b.held == 0 {
			b.next, b.top = seq+1, seq+1
			return insertDirect
		}
		b.ensureRing()
		for s := b.top; s != seq; s++ {
			sl := b.slot(s)
			sl.state, sl.pkt.seq, sl.since = slotMissing, s, now
		}
		b.top = seq + 1
		b.hold(seq, ts, marker, payload, now, false)
		return insertHeld
	}
	sl := b.slot(seq)
	if sl.state != slotMissing || sl.pkt.seq != seq {
		return insertDuplicate
	}
	b.noteLateness(now.Sub(sl.since))
	b.hold(seq, ts, marker, payload, now, true)
	return insertHeld
}

// behind classifies a packet whose sequence number was already handed on or given up.
func (b *reorderBuffer) behind(seq uint16, now time.Time) insertResult {
	if b.slots != nil && -b.ahead(seq) <= b.size {
		if sl := b.slot(seq); sl.state == slotLost && sl.pkt.seq == seq {
			// A retransmission that came too late: wait longer for the next ones.
			b.noteLateness(now.Sub(sl.since))
			return insertLate
		}
	}
	return insertDuplicate
}

func (b *reorderBuffer) ensureRing() {
	if b.slots == nil {
		b.slots = make([]slot, b.size)
	}
}

func (b *reorderBuffer) hold(seq uint16, ts uint32, marker bool, payload []byte, now time.Time, filled bool) {
	sl := b.slot(seq)
	sl.state = slotHeld
	sl.pkt.seq, sl.pkt.ts, sl.pkt.marker, sl.pkt.arrival, sl.pkt.filled = seq, ts, marker, now, filled
	sl.pkt.payload = append(sl.pkt.payload[:0], payload...)
	b.held++
}

// noteLateness feeds how long a retransmission took into the waiting time.
func (b *reorderBuffer) noteLateness(d time.Duration) {
	b.peak = max(b.peak, min(d, maxLatency))
}

// observe updates the interarrival jitter from the first packet of each new timestamp, and lets
// the retransmission peak decay by 1/16 a second.
func (b *reorderBuffer) observe(seq uint16, ts uint32, now time.Time) {
	if int16(seq-b.top) < 0 {
		return
	}
	if now.Sub(b.decayAt) >= time.Second {
		b.decayAt = now
		b.peak -= b.peak / 16
	}
	if b.hasJitter && ts != b.lastTS {
		rtpDelta := time.Duration(int64(int32(ts-b.lastTS)) * int64(time.Second) / b.clock)
		d := (now.Sub(b.lastAt) - rtpDelta).Abs()
		if d < maxLatency*4 { // a stall or a jump says nothing about jitter
			b.jitter += (d - b.jitter) / 16
		}
	}
	if ts != b.lastTS || !b.hasJitter {
		b.lastTS, b.lastAt, b.hasJitter = ts, now, true
	}
}

// pop returns the next packet in order when it is there, or the number of sequence numbers given
// up before it (their wait expired by now, or force). ok is false when nothing can move yet.
// The packet is valid until the next call that inserts.
func (b *reorderBuffer) pop(now time.Time, force bool) (p *bufferedPacket, lost int, ok bool) {
	if b.held == 0 {
		return nil, 0, false
	}
	wait := b.latency()
	for {
		sl := b.slot(b.next)
		if sl.state == slotHeld && sl.pkt.seq == b.next {
			if lost > 0 {
				return nil, lost, true
			}
			sl.state = slotDone
			b.held--
			b.next++
			return &sl.pkt, 0, true
		}
		if !force && now.Sub(sl.since) < wait {
			return nil, lost, lost > 0
		}
		sl.state, sl.pkt.seq = slotLost, b.next
		b.next++
		lost++
	}
}

// giveUpBefore gives up every sequence number before seq that is not there yet (a packet too far
// ahead for the ring, or a source that resumed after a long loss), reporting them to handOn
// with a nil packet; held packets are handed on through handOn first. Afterwards seq is the next
// in order.
func (b *reorderBuffer) giveUpBefore(seq uint16, handOn func(p *bufferedPacket, lost int)) {
	if !b.started {
		return
	}
	for b.held > 0 {
		p, lost, _ := b.pop(time.Time{}, true)
		handOn(p, lost)
	}
	if gap := int(seq - b.next); gap > 0 { // forward, modulo 2^16
		handOn(nil, gap)
	}
	b.next, b.top = seq, seq
}
