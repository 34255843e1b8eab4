package recorder

import (
	"time"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
)

// accessUnit is one depacketized frame of a track with its capture time.
type accessUnit struct {
	track int
	codec media.Codec
	wall  time.Time // capture time on the receiver's clock, estimated from arrivals (clockMap)
	rtp64 int64     // unwrapped RTP timestamp
	key   bool
	// data is valid only while the handler that receives the access unit runs.
	data []byte
}

// auSink receives what a trackReader makes of its packets, on the session's goroutine.
type auSink interface {
	// accessUnit handles a whole access unit; au and au.data are reused once it returns.
	accessUnit(au *accessUnit) error
	// discontinuity reports a break in the track's timeline: the recording must start a new
	// segment. The reader has already handed on what it held.
	discontinuity(track int, reason string) error
	// keyframeNeeded asks the publisher for a keyframe (video lost a frame). It may be called
	// often; the hub rate-limits the requests.
	keyframeNeeded()
}

// Thresholds of the timeline (see docs/recording.md, Timing).
const (
	// stallGap is how long the RTP clock of the track that opens segments may show no media
	// before the recording treats it as a stall and starts a new segment.
	stallGap = 5 * time.Second
	// clockSlack is how far a jump of the RTP clock may disagree with the time that passed on
	// the receiver's clock before it is a new timeline (an encoder restart) rather than loss.
	clockSlack = 3 * time.Second
	// maxDropout is how far sequence numbers may jump and still be one RTP session (RFC 3550
	// §A.1 MAX_DROPOUT).
	maxDropout = 3000
)

// trackReader turns one track's RTP into access units: it tells real discontinuities from loss,
// puts packets back in order (waiting a short, adaptive time for retransmissions), reassembles
// access units, drops those left incomplete, and makes video wait for a keyframe after one.
// It keeps nothing of the packets it is given beyond their bytes, copied into its own buffers.
type trackReader struct {
	index   int
	info    hub.TrackInfo
	video   bool
	primary bool // the track whose stalls cut segments (video, or audio without video)
	sink    auSink
	stats   *lossStats

	// ssrc is the source of the track's packets; a new one starts the reader over (source.go).
	ssrc    uint32
	hasSSRC bool

	buf reorderBuffer
	asm assembler
	au  accessUnit
	// lastSeq, lastTS and lastAt are the newest packet by sequence number, for the
	// discontinuity checks.
	hasLast bool
	lastSeq uint16
	lastTS  uint32
	lastAt  time.Time

	// breakNext: packets were lost before the next access unit, which is kept only if its first
	// packet provably starts it.
	breakNext bool
	// waiting: video skips to the next keyframe; waitFrom is the RTP time of the first frame
	// lost, counted only when waitCounted (not the wait for the very first keyframe).
	waiting     bool
	waitCounted bool
	waitFrom    int64
	// lossBetween: packets were lost between two frames of a codec with picture IDs; the next
	// frame's picture ID tells whether a frame was among them (or only padding).
	lossBetween bool
	lastPicture int
	hasPicture  bool

	unwrapped bool
	lastRTP   uint32
	rtp64     int64
	clock     clockMap
}

func newTrackReader(index int, info hub.TrackInfo, primary bool, sink auSink, stats *lossStats) *trackReader {
	size := 512 // about 1.5 s of a 2.5 Mbps video track
	if info.Kind == media.KindAudio {
		size = 128 // 2.5 s of 20 ms packets
	}
	video := info.Kind == media.KindVideo
	return &trackReader{index: index, info: info, video: video, primary: primary, sink: sink, stats: stats,
		buf: newReorderBuffer(size, info.ClockRate), asm: newAssembler(info.Codec),
		breakNext: video, waiting: video}
}

// push takes one packet (shared and read-only: nothing of it is kept).
func (r *trackReader) push(p *media.Packet) error {
	seq, ts, now := p.RTP.SequenceNumber, p.RTP.Timestamp, p.Arrival
	reason, resync := r.checkJump(seq, ts, now)
	switch {
	case reason != "":
		if err := r.flush(); err != nil {
			return err
		}
		r.restart()
		if err := r.sink.discontinuity(r.index, reason); err != nil {
			return err
		}
	case resync || (r.buf.started && r.buf.ahead(seq) >= r.buf.size):
		// Further ahead than the ring holds, or than sequence numbers can wrap to (a long
		// loss at a high packet rate): give up what is missing.
		if err := r.giveUpBefore(seq); err != nil {
			return err
		}
		r.hasLast = false // seq is the newest now
	}
	r.noteNewest(seq, ts, now)
	switch r.buf.insert(seq, ts, p.RTP.Marker, p.RTP.Payload, now) {
	case insertDirect:
		if err := r.consume(ts, p.RTP.Marker, p.RTP.Payload, now, false); err != nil {
			return err
		}
	case insertLate:
		r.stats.late.Add(1)
	case insertDuplicate:
		r.stats.duplicates.Add(1)
	case insertHeld:
	}
	return r.drain(now, false)
}

// tick gives up holes whose wait has expired by now.
func (r *trackReader) tick(now time.Time) error { return r.drain(now, false) }

// flush hands on everything held, giving up what is missing (the stream ends, or breaks).
func (r *trackReader) flush() error { return r.drain(time.Time{}, true) }

func (r *trackReader) drain(now time.Time, force bool) error {
	for {
		p, lost, ok := r.buf.pop(now, force)
		if !ok {
			return nil
		}
		if lost > 0 {
			r.lose(lost)
			continue
		}
		if p.filled {
			r.stats.holesFilled.Add(1)
		}
		if err := r.consume(p.ts, p.marker, p.payload, p.arrival, p.filled); err != nil {
			return err
		}
	}
}

func (r *trackReader) giveUpBefore(seq uint16) error {
	var err error
	r.buf.giveUpBefore(seq, func(p *bufferedPacket, lost int) {
		if err != nil {
			return
		}
		if p == nil {
			r.lose(lost)
			return
		}
		err = r.consume(p.ts, p.marker, p.payload, p.arrival, p.filled)
	})
	return err
}

// restart forgets the track's timeline: the next packet starts it anew.
func (r *trackReader) restart() {
	r.buf.reset()
	r.asm.active = false
	r.hasLast, r.unwrapped = false, false
	r.clock = clockMap{}
	r.breakNext = r.video
	r.waiting, r.waitCounted = r.video, false
	r.lossBetween, r.hasPicture = false, false
}

// noteNewest remembers the newest packet by sequence number.
func (r *trackReader) noteNewest(seq uint16, ts uint32, now time.Time) {
	if !r.hasLast || int16(seq-r.lastSeq) > 0 {
		r.hasLast, r.lastSeq, r.lastTS, r.lastAt = true, seq, ts, now
	}
}

// checkJump tells a real discontinuity from what networks do, comparing a packet with the newest
// one so far. Sequence numbers that continue (within maxDropout) and an RTP clock that moves
// less than stallGap are one timeline, however late or bunched the packets arrive. Otherwise the
// receiver's clock is asked: a jump of the RTP clock that the time passed does not explain by
// clockSlack is a new timeline (an encoder restart); one it does explain is a stall when it
// reaches stallGap on the primary track, and loss otherwise (resync: sequence numbers went on
// further than they can be followed).
func (r *trackReader) checkJump(seq uint16, ts uint32, now time.Time) (reason string, resync bool) {
	if !r.hasLast {
		return "", false
	}
	dSeq := int(int16(seq - r.lastSeq))
	rtpGap := time.Duration(int64(int32(ts-r.lastTS)) * int64(time.Second) / int64(max(r.info.ClockRate, 1)))
	seqOK := dSeq >= -maxDropout && dSeq <= maxDropout
	if seqOK && rtpGap > -clockSlack && rtpGap < stallGap {
		return "", false
	}
	if dSeq <= 0 && seqOK && rtpGap > -clockSlack {
		return "", false // an old packet, arriving very late
	}
	passed := now.Sub(r.lastAt)
	if (rtpGap - passed).Abs() > clockSlack {
		return "rtp timestamps jumped (a new encoder timeline)", false
	}
	if rtpGap >= stallGap && r.primary {
		return "stall: no media for " + rtpGap.Round(time.Millisecond).String(), false
	}
	return "", !seqOK
}

// consume adds the next packet in sequence order to the access unit being assembled.
func (r *trackReader) consume(ts uint32, marker bool, payload []byte, arrival time.Time, filled bool) error {
	if len(payload) == 0 {
		return nil // padding
	}
	rtp64 := r.unwrap(ts)
	r.clock.observe(rtp64, r.info.ClockRate, arrival)
	a := &r.asm
	if a.active && ts != a.ts {
		// The previous access unit ends without a marker bit: a sender that does not set it, or
		// the marked packet was lost (then it is broken already).
		if err := r.finish(); err != nil {
			return err
		}
	}
	if !a.active {
		a.begin(ts)
		starts := startsAccessUnit(r.info.Codec, payload)
		if r.breakNext && !starts {
			a.broken = true
		}
		r.breakNext = false
		r.notePicture(payload, starts)
	} else {
		r.breakNext = false // the loss was inside this access unit
	}
	a.recovered = a.recovered || filled
	a.add(payload)
	if marker || r.info.Codec == media.Opus {
		return r.finish()
	}
	return nil
}

// lose notes n sequence numbers given up: the access unit being assembled is broken, and so is
// the next one unless its first packet proves it whole. Video then waits for a keyframe: even a
// frame lost whole is a reference the next ones miss.
func (r *trackReader) lose(n int) {
	r.stats.packetsLost.Add(uint64(n))
	if r.info.Codec == media.Opus {
		return // every packet is an access unit: the gap stays a gap
	}
	switch {
	case r.video && !r.asm.active && r.hasPicture:
		r.lossBetween = true // decided by the next frame's picture ID (notePicture)
	case r.video:
		r.startWait(r.rtp64)
	}
	if r.asm.active {
		r.asm.broken = true
		r.breakNext = n > 1
		return
	}
	r.breakNext = true
}

// finish ends the access unit being assembled and hands it on, or drops it.
func (r *trackReader) finish() error {
	a := &r.asm
	rtp64 := r.rtp64 - int64(int32(r.lastRTP-a.ts))
	data, ok := a.end()
	if !ok {
		if r.video {
			r.stats.framesDropped.Add(1)
			r.startWait(rtp64)
		}
		return nil
	}
	key := isKeyAU(r.info.Codec, data)
	if r.video && r.waiting {
		if !key {
			if r.waitCounted {
				r.stats.framesSkipped.Add(1)
			}
			r.sink.keyframeNeeded()
			return nil
		}
		r.endWait(rtp64)
	}
	if a.recovered {
		r.stats.framesRecovered.Add(1)
	}
	r.au = accessUnit{track: r.index, codec: r.info.Codec, rtp64: rtp64, key: key, data: data,
		wall: r.clock.wall(rtp64, r.info.ClockRate)}
	return r.sink.accessUnit(&r.au)
}

// notePicture follows VP8/VP9 picture IDs at the start of each frame: after a loss between two
// frames, a frame that starts whole and follows the last one without a missing picture proves
// that no frame was lost (the loss was padding), and video need not wait for a keyframe.
func (r *trackReader) notePicture(payload []byte, starts bool) {
	id, mod := pictureID(r.info.Codec, payload)
	if r.lossBetween {
		r.lossBetween = false
		if mod == 0 || !starts || id != (r.lastPicture+1)%mod {
			r.startWait(r.rtp64)
		}
	}
	if mod > 0 && starts {
		r.lastPicture, r.hasPicture = id, true
	}
}

func (r *trackReader) startWait(rtp64 int64) {
	if !r.waiting {
		r.waiting, r.waitCounted, r.waitFrom = true, true, rtp64
		r.stats.keyframeWaits.Add(1)
	}
	r.sink.keyframeNeeded()
}

func (r *trackReader) endWait(rtp64 int64) {
	if r.waitCounted {
		skipped := time.Duration((rtp64 - r.waitFrom) * int64(time.Second) / int64(max(r.info.ClockRate, 1)))
		r.stats.noteSkip(skipped)
	}
	r.waiting, r.waitCounted = false, false
}

// unwrap extends a 32-bit RTP timestamp to 64 bits across wraps (packets come in order).
func (r *trackReader) unwrap(ts uint32) int64 {
	if !r.unwrapped {
		r.unwrapped, r.lastRTP, r.rtp64 = true, ts, int64(ts)
		return r.rtp64
	}
	r.rtp64 += int64(int32(ts - r.lastRTP))
	r.lastRTP = ts
	return r.rtp64
}

// clockMap estimates when RTP time would have arrived on an unloaded network: the smallest
// transit (arrival − RTP time) seen over the last two windows of two seconds. Late packets
// (retransmissions, bursts after a stall) never move it; a sender clock drifting against the
// receiver's is followed within a window.
type clockMap struct {
	set      bool
	t0       time.Time // first arrival
	first    int64     // RTP time at t0
	min      [2]time.Duration
	windowAt time.Time
}

const clockWindow = 2 * time.Second

func (c *clockMap) observe(rtp64 int64, rate uint32, arrival time.Time) {
	if !c.set {
		*c = clockMap{set: true, t0: arrival, first: rtp64, windowAt: arrival}
		return
	}
	off := arrival.Sub(c.t0) - c.rel(rtp64, rate)
	if arrival.Sub(c.windowAt) >= clockWindow {
		c.windowAt = arrival
		c.min[0], c.min[1] = c.min[1], off
	}
	c.min[1] = min(c.min[1], off)
}

func (c *clockMap) rel(rtp64 int64, rate uint32) time.Duration {
	return time.Duration((rtp64 - c.first) * int64(time.Second) / int64(max(rate, 1)))
}

func (c *clockMap) wall(rtp64 int64, rate uint32) time.Time {
	return c.t0.Add(min(c.min[0], c.min[1]) + c.rel(rtp64, rate))
}
