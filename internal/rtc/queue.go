package rtc

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// queueSlot is the room each queued packet gets: an Ethernet MTU, more than WebRTC peers put in
// one RTP packet (they stay near 1,200 bytes). A larger packet still fits: its slot grows.
const queueSlot = 1500

const (
	// queueMinSlots is what a queue keeps however quiet its track: about 40 ms of 1080p video.
	queueMinSlots = 16
	// queueMaxSlots bounds one track's backlog (4 MiB): a keyframe burst of 4K video fits, a reader
	// stalled for seconds does not hold the server's memory.
	queueMaxSlots = 2048
	// queueShrinkEvery is how often a queue gives back the slots its recent bursts did not use.
	queueShrinkEvery = 10 * time.Second
)

// packetQueue holds the decrypted RTP packets of one incoming track between the goroutine that
// receives them (the socket reader on the direct path, pion's track reader otherwise) and the one
// that reads them through the feedback interceptors. It grows with bursts up to queueMaxSlots and
// gives the room back once the bursts are over, so one keyframe storm does not pin memory for
// the life of the session.
type packetQueue struct {
	mu     sync.Mutex
	slots  [][]byte // ring; a nil entry has not been allocated yet
	head   int
	n      int
	closed bool
	notify chan struct{}

	highWater  int // the most slots in use since lastShrink
	lastShrink time.Time

	dropped atomic.Uint64
}

func newPacketQueue() *packetQueue {
	return &packetQueue{slots: make([][]byte, queueMinSlots), notify: make(chan struct{}, 1),
		lastShrink: time.Now()}
}

// fill appends one packet that fn writes into dst (empty, with queueSlot bytes of room) and
// returns. fn returns what it wrote, or false to keep nothing. A full queue drops the packet,
// counted, and reports true: the packet was taken care of.
func (q *packetQueue) fill(fn func(dst []byte) ([]byte, bool)) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return true
	}
	if q.n == len(q.slots) && !q.grow() {
		q.mu.Unlock()
		q.dropped.Add(1)
		return true
	}
	i := (q.head + q.n) % len(q.slots)
	if q.slots[i] == nil {
		q.slots[i] = make([]byte, 0, queueSlot)
	}
	out, ok := fn(q.slots[i][:0])
	if !ok {
		q.mu.Unlock()
		return false
	}
	q.slots[i] = out // written in place, or a larger buffer fn had to take: the slot keeps it
	q.n++
	q.highWater = max(q.highWater, q.n)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// Write queues a copy of b (an io.Writer for pion's track reader).
func (q *packetQueue) Write(b []byte) (int, error) {
	q.fill(func(dst []byte) ([]byte, bool) { return append(dst, b...), true })
	return len(b), nil
}

// grow doubles the ring, keeping the queued packets in order. q.mu is held.
func (q *packetQueue) grow() bool {
	if len(q.slots) >= queueMaxSlots {
		return false
	}
	q.resize(min(2*len(q.slots), queueMaxSlots))
	return true
}

// resize moves the ring to size slots (at least q.n), keeping allocated packet buffers for the
// new ring's free slots only as far as they fit. q.mu is held.
func (q *packetQueue) resize(size int) {
	slots := make([][]byte, size)
	for i := range q.n {
		slots[i] = q.slots[(q.head+i)%len(q.slots)]
	}
	// Reuse the buffers of free slots too, up to the new size: growing must not reallocate them.
	j := q.n
	for i := q.n; i < len(q.slots) && j < size; i++ {
		if b := q.slots[(q.head+i)%len(q.slots)]; b != nil {
			slots[j] = b
			j++
		}
	}
	q.slots, q.head = slots, 0
}

// Read blocks until a packet is queued, copies it into b and returns its length; io.EOF once
// the queue is closed and empty. A packet longer than b is dropped, counted.
func (q *packetQueue) Read(b []byte) (int, error) {
	for {
		q.mu.Lock()
		if q.n > 0 {
			p := q.slots[q.head]
			n := copy(b, p)
			q.head = (q.head + 1) % len(q.slots)
			q.n--
			if q.n == 0 {
				q.maybeShrink()
			}
			q.mu.Unlock()
			if n < len(p) {
				q.dropped.Add(1) // larger than any reader expects: not media of ours
				continue
			}
			return n, nil
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return 0, io.EOF
		}
		<-q.notify
	}
}

// maybeShrink gives back the slots the last queueShrinkEvery did not need. q.mu is held and the
// queue is empty.
func (q *packetQueue) maybeShrink() {
	if time.Since(q.lastShrink) < queueShrinkEvery {
		return
	}
	want := queueMinSlots
	for want < q.highWater {
		want *= 2
	}
	if want < len(q.slots) {
		q.resize(want)
	}
	q.highWater, q.lastShrink = 0, time.Now()
}

// Close wakes the reader, which gets what is still queued and then io.EOF. Idempotent.
func (q *packetQueue) Close() error {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return nil
}
