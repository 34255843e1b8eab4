package hub

import (
	"slices"
	"time"

	"github.com/vigilrec/vigil/internal/media"
)

// Health figures: what a degraded-stream check needs, kept without timers or goroutines. Each
// track keeps a short history of whole seconds, rolled on packet arrival like the per-second
// rates; a snapshot compares the last few seconds (Config.HealthWindow) with the track's own
// recent past. A stream also remembers when a subscriber last dropped a packet.

// historySeconds is how many whole seconds each track remembers: the baseline (up to
// baselineSeconds) plus the longest health window.
const historySeconds = 48

// baselineSeconds bounds the seconds before the window whose median is the track's normal.
const baselineSeconds = 30

// MaxHealthWindow is the longest health window the history supports.
const MaxHealthWindow = (historySeconds - baselineSeconds - 2) * time.Second

// Recent describes a track over the hub's health window, against its own recent past.
type Recent struct {
	// Window is the time the figures cover: the health window, or less for a young track.
	Window time.Duration
	// Expected counts the packets the sequence numbers say were sent in the window, and Lost
	// those still missing (retransmissions that arrived are not lost).
	Expected, Lost uint64
	// FPS and Bitrate (bits per second) are averages over the window.
	FPS, Bitrate float64
	// MedianFPS and MedianBitrate are the medians of the whole seconds before the window; they
	// cover BaselineSeconds seconds (at most 30; the track's first, partial second is left out).
	MedianFPS, MedianBitrate float64
	BaselineSeconds          int
	// LastKeyframe is when the last keyframe started (video), and GapSinceKeyframe when the
	// first sequence gap after it opened; zero when there was none.
	LastKeyframe, GapSinceKeyframe time.Time
}

// LossRatio is Lost/Expected over the window, 0 when nothing was expected.
func (r Recent) LossRatio() float64 {
	if r.Expected == 0 {
		return 0
	}
	return float64(r.Lost) / float64(r.Expected)
}

// secSample is one whole second of a track: what arrived in it, and the running totals at its end.
type secSample struct {
	sec                  int64 // the unix second
	bytes, frames        uint64
	cumBytes, cumFrames  uint64
	cumLost, cumExpected uint64
}

// history is a ring of the last historySeconds samples.
type history struct {
	ring [historySeconds]secSample
	next int // where the next sample goes
	n    int
}

func (h *history) push(s secSample) {
	h.ring[h.next] = s
	h.next = (h.next + 1) % historySeconds
	if h.n < historySeconds {
		h.n++
	}
}

// at returns the i-th newest sample (0 is the newest).
func (h *history) at(i int) *secSample {
	return &h.ring[(h.next-1-i+2*historySeconds)%historySeconds]
}

// health is the part of trackStats kept for Recent.
type health struct {
	hist  history
	first time.Time // arrival of the first packet
	keyAt time.Time // arrival of the last keyframe start
	gapAt time.Time // first sequence gap since keyAt
}

// expected is the number of packets the sequence numbers cover so far.
func (t *trackStats) expected() uint64 {
	if !t.started {
		return 0
	}
	return uint64(t.highSeq-t.baseSeq) + 1
}

// noteGap is called after observeSeq with the highest sequence number before it.
func (t *trackStats) noteGap(p *media.Packet, prevHigh uint32, wasStarted bool) {
	if !wasStarted {
		t.first = p.Arrival
		return
	}
	if t.highSeq-prevHigh > 1 && t.gapAt.IsZero() {
		t.gapAt = p.Arrival
	}
}

// noteKeyframe is called when a new keyframe starts.
func (t *trackStats) noteKeyframe(p *media.Packet) {
	t.keyAt, t.gapAt = p.Arrival, time.Time{}
}

// closeSecond records the second that just ended; n is the payload of the packet that opened
// the new one (already counted in Bytes).
func (t *trackStats) closeSecond(n uint64) {
	if t.secStart == 0 {
		return // no second yet
	}
	t.hist.push(secSample{sec: t.secStart, bytes: t.secBytes, frames: t.secFrames,
		cumBytes: t.Bytes - n, cumFrames: t.Frames, cumLost: t.Lost, cumExpected: t.expected()})
}

// recent computes the health figures at now over window.
func (t *trackStats) recent(now time.Time, window time.Duration) Recent {
	r := Recent{LastKeyframe: t.keyAt, GapSinceKeyframe: t.gapAt}
	if !t.started {
		return r
	}
	// The second in progress is sample 0 (it may be long over: nothing closes a second but the
	// next packet); the closed ones follow, newest first.
	open := secSample{sec: t.secStart, bytes: t.secBytes, frames: t.secFrames, cumBytes: t.Bytes,
		cumFrames: t.Frames, cumLost: t.Lost, cumExpected: t.expected()}
	sample := func(i int) *secSample {
		if i == 0 {
			return &open
		}
		return t.hist.at(i - 1)
	}
	samples := t.hist.n + 1
	from := now.Add(-window)
	var base secSample
	start := t.first
	baseIdx := samples // the samples from baseIdx on ended before the window
	for i := range samples {
		s := sample(i)
		if end := time.Unix(s.sec+1, 0); !end.After(from) {
			base, start, baseIdx = *s, end, i
			break
		}
	}
	span := now.Sub(start)
	if span <= 0 {
		return r
	}
	r.Window = span
	r.Expected = open.cumExpected - base.cumExpected
	if open.cumLost > base.cumLost {
		r.Lost = open.cumLost - base.cumLost
	}
	r.FPS = float64(open.cumFrames-base.cumFrames) / span.Seconds()
	r.Bitrate = float64(open.cumBytes-base.cumBytes) * 8 / span.Seconds()

	var fps, rates [baselineSeconds]float64
	n := 0
	firstSec := t.first.Unix()
	for i := baseIdx; i < samples && n < baselineSeconds; i++ {
		s := sample(i)
		if s.sec == firstSec {
			continue
		}
		fps[n], rates[n] = float64(s.frames), float64(s.bytes*8)
		n++
	}
	r.BaselineSeconds = n
	if n > 0 {
		r.MedianFPS, r.MedianBitrate = median(fps[:n]), median(rates[:n])
	}
	return r
}

func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// noteDrop records that a subscriber dropped p. The time is the packet's arrival (no clock read
// per dropped packet); packets without one are stamped with the hub's clock.
func (s *Stream) noteDrop(p *media.Packet) {
	t := p.Arrival
	if t.IsZero() {
		t = s.hub.now()
	}
	s.lastDrop.Store(t.UnixNano())
}

// lastDropTime is when a subscriber last dropped a packet; zero if never.
func (s *Stream) lastDropTime() time.Time {
	if ns := s.lastDrop.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}
