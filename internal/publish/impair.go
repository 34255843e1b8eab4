package publish

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// Impairment is what a publisher does to its own RTP packets next to the wire, after every
// interceptor: retransmissions answering NACKs are impaired like the originals, as on a real
// lossy path. RTCP is left alone.
type Impairment struct {
	// LossPct drops this share of the packets (percent), at random or in bursts.
	LossPct float64
	// BurstMin and BurstMax, when set, make losses come in bursts of that many packets (the
	// share lost stays LossPct).
	BurstMin, BurstMax int
	// ReorderPct holds this share of the packets (percent) back by up to ReorderBy (default
	// 30 ms), so that later ones overtake them.
	ReorderPct float64
	ReorderBy  time.Duration
	// Jitter delays every packet by a random time up to Jitter, keeping their order (queues
	// that fill and drain: packets bunch up).
	Jitter time.Duration
	// DuplicatePct sends this share of the packets (percent) twice.
	DuplicatePct float64
	// Seed makes the impairment reproducible; 0 picks a random seed.
	Seed uint64
}

// Active reports whether the impairment does anything.
func (im Impairment) Active() bool {
	return im.LossPct > 0 || im.ReorderPct > 0 || im.Jitter > 0 || im.DuplicatePct > 0
}

// ErrBadBurst means a burst length is not N or MIN-MAX.
var ErrBadBurst = errors.New("burst must be N or MIN-MAX packets, at least 1")

// ParseBurst reads a burst length: "10" or "5-20" packets.
func ParseBurst(s string) (lo, hi int, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = a
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 1 || hi < lo {
		return 0, 0, fmt.Errorf("%w: %q", ErrBadBurst, s)
	}
	return lo, hi, nil
}

// ImpairStats count what an impairment did.
type ImpairStats struct {
	Sent, Dropped, Reordered, Duplicated uint64
}

// impairer is the interceptor factory of one Impairment; its random source is shared by the
// streams of the peer connections it serves.
type impairer struct {
	cfg Impairment

	mu        sync.Mutex
	rng       *rand.Rand
	burstLeft int

	sent, dropped, reordered, duplicated atomic.Uint64
}

func newImpairer(cfg Impairment) *impairer {
	if cfg.ReorderBy <= 0 {
		cfg.ReorderBy = 30 * time.Millisecond
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &impairer{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (im *impairer) stats() ImpairStats {
	return ImpairStats{Sent: im.sent.Load(), Dropped: im.dropped.Load(), Reordered: im.reordered.Load(),
		Duplicated: im.duplicated.Load()}
}

// NewInterceptor implements interceptor.Factory.
func (im *impairer) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &impairInterceptor{im: im, lines: map[uint32]*delayLine{}}, nil
}

// fate is what happens to one packet.
type fate struct {
	drop      bool
	delay     time.Duration // jitter, order kept
	reorderBy time.Duration // extra hold, order not kept
	copies    int
}

func (im *impairer) decide() fate {
	im.mu.Lock()
	defer im.mu.Unlock()
	c := &im.cfg
	f := fate{copies: 1}
	switch {
	case im.burstLeft > 0:
		im.burstLeft--
		f.drop = true
	case c.BurstMax > 0 && c.LossPct > 0:
		// A burst starts with the probability that loses LossPct of the packets overall.
		mean := float64(c.BurstMin+c.BurstMax) / 2
		if im.rng.Float64()*100 < c.LossPct/mean {
			im.burstLeft = c.BurstMin + im.rng.IntN(c.BurstMax-c.BurstMin+1) - 1
			f.drop = true
		}
	case c.LossPct > 0:
		f.drop = im.rng.Float64()*100 < c.LossPct
	}
	if c.Jitter > 0 {
		f.delay = time.Duration(im.rng.Int64N(int64(c.Jitter) + 1))
	}
	if c.ReorderPct > 0 && im.rng.Float64()*100 < c.ReorderPct {
		f.reorderBy = time.Millisecond + time.Duration(im.rng.Int64N(int64(c.ReorderBy)))
	}
	if c.DuplicatePct > 0 && im.rng.Float64()*100 < c.DuplicatePct {
		f.copies = 2
	}
	return f
}

// impairInterceptor impairs the RTP streams of one peer connection. Each stream that is delayed
// gets a goroutine (a delay line), which Close stops and waits for.
type impairInterceptor struct {
	interceptor.NoOp
	im *impairer

	mu     sync.Mutex
	lines  map[uint32]*delayLine
	closed bool
	wg     sync.WaitGroup
}

// BindLocalStream implements interceptor.Interceptor.
func (i *impairInterceptor) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	var line *delayLine
	if i.im.cfg.Jitter > 0 || i.im.cfg.ReorderPct > 0 {
		i.mu.Lock()
		if !i.closed {
			line = newDelayLine(w)
			i.lines[info.SSRC] = line
			i.wg.Add(1)
			go func() {
				defer i.wg.Done()
				line.run()
			}()
		}
		i.mu.Unlock()
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		n := h.MarshalSize() + len(payload)
		f := i.im.decide()
		if f.drop {
			i.im.dropped.Add(1)
			return n, nil
		}
		i.im.sent.Add(1)
		if f.reorderBy > 0 {
			i.im.reordered.Add(1)
		}
		if f.copies > 1 {
			i.im.duplicated.Add(1)
		}
		for range f.copies {
			if line == nil {
				if _, err := w.Write(h, payload, a); err != nil {
					return 0, err
				}
				continue
			}
			line.add(h, payload, f.delay, f.reorderBy)
		}
		return n, nil
	})
}

// UnbindLocalStream implements interceptor.Interceptor.
func (i *impairInterceptor) UnbindLocalStream(info *interceptor.StreamInfo) {
	i.mu.Lock()
	line := i.lines[info.SSRC]
	delete(i.lines, info.SSRC)
	i.mu.Unlock()
	if line != nil {
		line.stop()
	}
}

// Close implements interceptor.Interceptor: every delay line stops (what they hold is never
// sent) and Close returns once their goroutines have.
func (i *impairInterceptor) Close() error {
	i.mu.Lock()
	i.closed = true
	for ssrc, line := range i.lines {
		line.stop()
		delete(i.lines, ssrc)
	}
	i.mu.Unlock()
	i.wg.Wait()
	return nil
}

// delayLine sends packets when they are due. One goroutine (run) sends; any goroutine adds.
type delayLine struct {
	w interceptor.RTPWriter

	mu      sync.Mutex
	queue   delayQueue
	order   uint64
	lastDue time.Time // jittered packets keep their order
	wake    chan struct{}
	done    chan struct{}
	once    sync.Once
}

type delayed struct {
	due     time.Time
	order   uint64
	hdr     rtp.Header
	payload []byte
}

func newDelayLine(w interceptor.RTPWriter) *delayLine {
	return &delayLine{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (l *delayLine) add(h *rtp.Header, payload []byte, delay, reorderBy time.Duration) {
	now := time.Now()
	l.mu.Lock()
	due := now.Add(delay)
	if due.Before(l.lastDue) {
		due = l.lastDue
	}
	if reorderBy > 0 {
		due = due.Add(reorderBy) // overtaken by the packets after it
	} else {
		l.lastDue = due
	}
	l.order++
	heap.Push(&l.queue, &delayed{due: due, order: l.order, hdr: h.Clone(), payload: append([]byte(nil), payload...)})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *delayLine) stop() { l.once.Do(func() { close(l.done) }) }

func (l *delayLine) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		var next *delayed
		wait := time.Hour
		if len(l.queue) > 0 {
			if wait = time.Until(l.queue[0].due); wait <= 0 {
				next = heap.Pop(&l.queue).(*delayed)
			}
		}
		l.mu.Unlock()
		if next != nil {
			_, _ = l.w.Write(&next.hdr, next.payload, nil) // a closed transport: nothing to do
			continue
		}
		timer.Reset(wait)
		select {
		case <-l.done:
			return
		case <-l.wake:
		case <-timer.C:
		}
	}
}

// delayQueue orders delayed packets by due time, then by when they were added.
type delayQueue []*delayed

func (q delayQueue) Len() int { return len(q) }
func (q delayQueue) Less(i, j int) bool {
	if q[i].due.Equal(q[j].due) {
		return q[i].order < q[j].order
	}
	return q[i].due.Before(q[j].due)
}
func (q delayQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *delayQueue) Push(x any)   { *q = append(*q, x.(*delayed)) }
func (q *delayQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
