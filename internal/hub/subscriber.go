package hub

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilrec/vigil/internal/media"
)

// Subscriber receives a stream's packets through a bounded queue. The publisher's goroutines push;
// one goroutine owned by the subscriber's user reads. When the queue is full the newest packets
// are dropped and counted, and video is then skipped up to the next keyframe (which is requested)
// so that what the subscriber does get is always decodable.
type Subscriber struct {
	stream *Stream

	mu       sync.Mutex
	ring     []*media.Packet
	head, n  int
	needKey  bool // skip video until a keyframe starts
	lostSync bool // needKey because of an overflow: skipped video counts as dropped
	ended    bool
	notify   chan struct{}
	dropped  atomic.Uint64
	closedBy sync.Once
	// prerolled: started from the GOP cache (guarded by the stream's lock).
	prerolled bool

	// Read's own state: one reader goroutine, no lock needed.
	linger   time.Duration
	lastRead time.Time // when the last Read that did not fill its dst returned; zero: no wait
	timer    *time.Timer
}

func newSubscriber(s *Stream, size int, startAtKey bool) *Subscriber {
	return &Subscriber{
		stream:  s,
		ring:    make([]*media.Packet, size),
		needKey: startAtKey,
		notify:  make(chan struct{}, 1),
	}
}

func (sub *Subscriber) push(p *media.Packet) {
	askKey := false
	sub.mu.Lock()
	switch {
	case sub.ended:
	case p.Kind == media.KindVideo && sub.needKey && !p.KeyframeStart:
		if sub.lostSync {
			sub.dropped.Add(1)
			sub.stream.noteDrop(p)
		}
		// Still waiting: ask again (the stream sends at most one request per keyframe
		// interval). The first request may have been merged into another subscriber's whose
		// keyframe came before this one joined, and a browser sends keyframes only when asked.
		askKey = true
	case sub.n == len(sub.ring):
		sub.dropped.Add(1)
		sub.stream.noteDrop(p)
		if !sub.needKey {
			sub.needKey, sub.lostSync = true, true
			askKey = true
		}
	default:
		if p.Kind == media.KindVideo {
			sub.needKey, sub.lostSync = false, false
		}
		sub.ring[(sub.head+sub.n)%len(sub.ring)] = p
		sub.n++
	}
	sub.mu.Unlock()
	select {
	case sub.notify <- struct{}{}:
	default:
	}
	if askKey {
		sub.stream.RequestKeyframe()
	}
}

// Read blocks until packets are queued and moves up to len(dst) of them into dst. After the stream
// ends it returns what is left, then ErrClosed. It returns ctx.Err() when ctx ends first.
func (sub *Subscriber) Read(ctx context.Context, dst []*media.Packet) (int, error) {
	sub.lingerWait(ctx)
	for {
		sub.mu.Lock()
		if sub.n > 0 {
			k := 0
			for k < len(dst) && sub.n > 0 {
				dst[k] = sub.ring[sub.head]
				sub.ring[sub.head] = nil
				sub.head = (sub.head + 1) % len(sub.ring)
				sub.n--
				k++
			}
			sub.mu.Unlock()
			switch {
			case sub.linger <= 0:
			case k == len(dst):
				sub.lastRead = time.Time{} // more may be queued: no wait before the next Read
			default:
				sub.lastRead = time.Now()
			}
			return k, nil
		}
		ended := sub.ended
		sub.mu.Unlock()
		if ended {
			return 0, ErrClosed
		}
		select {
		case <-sub.notify:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// lingerWait waits until the linger period in which the last Read returned packets is over, or
// until ctx ends.
func (sub *Subscriber) lingerWait(ctx context.Context) {
	if sub.linger <= 0 || sub.lastRead.IsZero() {
		return
	}
	// The wait ends on the next multiple of linger (wall clock), not linger after the last Read:
	// every lingering subscriber of the process then wakes at the same instant and they run
	// back to back, instead of 2,000 wake-ups a second at 100 recordings spread out so that
	// each one finds the processor idle and pays for waking it.
	wait := time.Until(sub.lastRead.Truncate(sub.linger).Add(sub.linger))
	if wait <= 0 {
		return
	}
	if sub.timer == nil {
		sub.timer = time.NewTimer(wait)
	} else {
		sub.timer.Reset(wait)
	}
	select {
	case <-sub.timer.C:
	case <-ctx.Done():
		// Whatever is queued is still handed out: a recording that stops keeps its last packets.
		sub.timer.Stop()
	}
}

// Dropped is the number of packets this subscriber lost because its queue was full.
func (sub *Subscriber) Dropped() uint64 { return sub.dropped.Load() }

// Queued is the number of packets waiting to be read.
func (sub *Subscriber) Queued() int {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.n
}

// Stream is the stream this subscriber reads.
func (sub *Subscriber) Stream() *Stream { return sub.stream }

// Close detaches the subscriber from its stream. Idempotent; safe from any goroutine.
func (sub *Subscriber) Close() {
	sub.closedBy.Do(func() {
		sub.stream.unsubscribe(sub)
		sub.end()
	})
}

func (sub *Subscriber) end() {
	sub.mu.Lock()
	sub.ended = true
	sub.mu.Unlock()
	select {
	case sub.notify <- struct{}{}:
	default:
	}
}
