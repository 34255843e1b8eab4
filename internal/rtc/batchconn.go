package rtc

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// batchSlot is the largest datagram the batch reader keeps; WebRTC packets stay under the path
// MTU (pion sends at most 1200 bytes of SRTP), so anything longer is not media and is dropped.
const batchSlot = 2048

// batchRing is how many datagrams wait between the socket reader and the mux: 4 MiB, a few
// read intervals of 100 × 2.5 Mbps.
const batchRing = 2048

// batchConn is the media socket as the ICE UDP mux reads it. One goroutine drains the kernel
// queue with as few system calls and wake-ups as it can: it waits for the socket to become
// readable, takes every queued datagram at once (recvmmsg on Linux), then pauses for the read
// interval so the next wake-up finds a batch again. Every stage downstream (the mux, ICE, DTLS,
// SRTP, the track readers) then wakes once per batch instead of once per packet, which is where
// the CPU of many streams goes. The cost is up to one interval of added latency, and the kernel
// buffer must hold one interval of traffic (8 MiB holds about 250 ms at 100 × 2.5 Mbps).
//
// Reads are served from a ring of slots shared with the draining goroutine; writes go straight
// to the socket. Read deadlines are not supported (the mux never sets them).
type batchConn struct {
	conn     *net.UDPConn
	interval time.Duration
	// divert, when set, is offered every datagram first; those it takes never reach the mux.
	divert func(b []byte, from netip.AddrPort) bool

	mu       sync.Mutex
	slots    []batchDatagram
	head, n  int
	err      error         // the reader's terminal error, returned once the ring is empty
	readable chan struct{} // a token when datagrams were added
	space    chan struct{} // a token when slots were freed

	truncated atomic.Uint64
	batches   atomic.Uint64
	datagrams atomic.Uint64

	closing   chan struct{}
	closeOnce sync.Once
	done      chan struct{}
}

type batchDatagram struct {
	buf  [batchSlot]byte
	n    int
	addr netip.AddrPort
}

// newBatchConn starts draining conn into a ring of ringSize datagrams, pausing interval between
// batches. The returned conn owns conn: Close closes both.
func newBatchConn(conn *net.UDPConn, interval time.Duration, ringSize int,
	divert func([]byte, netip.AddrPort) bool,
) *batchConn {
	c := &batchConn{
		conn: conn, interval: interval, divert: divert, slots: make([]batchDatagram, ringSize),
		readable: make(chan struct{}, 1), space: make(chan struct{}, 1),
		closing: make(chan struct{}), done: make(chan struct{}),
	}
	go c.drain()
	return c
}

// drain is the only goroutine that reads the socket; it ends when the socket fails or closes.
func (c *batchConn) drain() {
	defer close(c.done)
	r := newBatchReader(c.conn, &c.truncated)
	for {
		start, free, ok := c.reserve()
		if !ok {
			return
		}
		k, err := r.read(c.slots, start, free)
		if err == nil {
			// Counted before the datagrams are handed over, so a reader that has them sees them
			// counted.
			c.batches.Add(1)
			c.datagrams.Add(uint64(k))
		}
		read := k
		if c.divert != nil {
			k = c.keepUndiverted(start, k)
		}
		c.commit(k, err)
		if err != nil {
			return
		}
		if read < free && !c.pause() {
			return
		}
	}
}

// keepUndiverted offers the k datagrams read at start to divert and moves those it leaves to the
// front, returning how many are left for the mux. Only the draining goroutine touches these
// slots before commit.
func (c *batchConn) keepUndiverted(start, k int) int {
	kept := 0
	for i := start; i < start+k; i++ {
		d := &c.slots[i]
		if d.n > 0 && c.divert(d.buf[:d.n], d.addr) {
			continue
		}
		if i != start+kept {
			dst := &c.slots[start+kept]
			dst.n, dst.addr = d.n, d.addr
			copy(dst.buf[:d.n], d.buf[:d.n])
		}
		kept++
	}
	return kept
}

// reserve waits for free slots and returns the first one and how many follow it contiguously.
func (c *batchConn) reserve() (start, free int, ok bool) {
	for {
		c.mu.Lock()
		if c.n < len(c.slots) {
			start = (c.head + c.n) % len(c.slots)
			free = min(len(c.slots)-c.n, len(c.slots)-start, maxBatch)
			c.mu.Unlock()
			return start, free, true
		}
		c.mu.Unlock()
		// The ring is full: the kernel buffer holds what arrives until the mux catches up.
		select {
		case <-c.space:
		case <-c.closing:
			return 0, 0, false
		}
	}
}

func (c *batchConn) commit(k int, err error) {
	c.mu.Lock()
	c.n += k
	if err != nil && c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	if k > 0 || err != nil {
		signal(c.readable)
	}
}

// pause waits one read interval; false when the conn is closing.
func (c *batchConn) pause() bool {
	if c.interval <= 0 {
		return true
	}
	// Up to the next multiple of the interval (wall clock), as the recorders' reads are: the
	// process's periodic work then wakes together.
	t := time.NewTimer(untilNextMultiple(time.Now(), c.interval))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.closing:
		return false
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// ReadFromAddrPort returns the oldest datagram not yet read (ice.AddrPortReaderWriter).
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		c.mu.Lock()
		if c.n > 0 {
			d := &c.slots[c.head]
			n, addr, valid := copy(b, d.buf[:d.n]), d.addr, d.n > 0
			c.head = (c.head + 1) % len(c.slots)
			c.n--
			wasFull := c.n == len(c.slots)-1
			c.mu.Unlock()
			if wasFull {
				signal(c.space)
			}
			if !valid {
				continue // truncated: not media
			}
			return n, addr, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return 0, netip.AddrPort{}, err
		}
		select {
		case <-c.readable:
		case <-c.closing:
			return 0, netip.AddrPort{}, net.ErrClosed
		}
	}
}

// ReadFrom implements net.PacketConn.
func (c *batchConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// WriteToAddrPort implements ice.AddrPortReaderWriter.
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.conn.WriteToUDPAddrPort(b, addr) //nolint:wrapcheck // the socket's own error, as net.PacketConn
}

// WriteTo implements net.PacketConn.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	return c.conn.WriteTo(b, addr) //nolint:wrapcheck // the socket's own error, as net.PacketConn
}

// Close stops the reader and closes the socket. Idempotent.
func (c *batchConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closing)
		err = c.conn.Close()
		<-c.done
	})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err //nolint:wrapcheck // the socket's own error, as net.PacketConn
}

// LocalAddr implements net.PacketConn.
func (c *batchConn) LocalAddr() net.Addr { return c.conn.LocalAddr() }

// SetDeadline sets the write deadline only: reads come from the ring, which has none.
func (c *batchConn) SetDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// SetReadDeadline is not supported and does nothing: the mux never sets one.
func (c *batchConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline implements net.PacketConn.
func (c *batchConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }

// batchStats is what the batch reader has seen.
type batchStats struct {
	Batches, Datagrams, Truncated uint64
}

func (c *batchConn) stats() batchStats {
	return batchStats{Batches: c.batches.Load(), Datagrams: c.datagrams.Load(), Truncated: c.truncated.Load()}
}
