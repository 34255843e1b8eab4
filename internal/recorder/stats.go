package recorder

import (
	"sync/atomic"
	"time"

	"github.com/vigilrec/vigil/internal/segment"
)

// WriteObserver hears of every write call on a segment file (metrics implement it; the recorder
// never imports them). It is called from recording goroutines, concurrently for different
// recordings, and must not block. It keeps nothing it is given.
type WriteObserver interface {
	// ObserveWrite reports one write call that took d and wrote n bytes; err is its error.
	ObserveWrite(d time.Duration, n int, err error)
}

// Stats count what every recording of the manager has written since it started.
type Stats struct {
	// Writes and BytesWritten count the write calls on segment files and the bytes they wrote.
	Writes, BytesWritten uint64
	// SegmentsClosed counts segment files made final (renamed to their name).
	SegmentsClosed uint64
	// WriteErrors counts write, seek and commit calls on segment files that failed.
	WriteErrors uint64
	// Loss adds up what every recording did about lost, late and reordered packets.
	Loss Loss
}

// Health tells whether a recording keeps up with its stream.
type Health struct {
	// Dropped counts the packets the recording's hub queue dropped because the recording fell
	// behind (in its current publishing session).
	Dropped uint64
	// LastDrop is when the queue last dropped a packet; zero if never.
	LastDrop time.Time
	// LastSlowWrite is when a write call last took longer than the fragment duration (the media
	// time it carried, so writing fell behind); zero if never.
	LastSlowWrite time.Time
}

// managerStats are the manager's counters, updated by the recording goroutines.
type managerStats struct {
	writes, bytes, segments, errors atomic.Uint64
	observer                        atomic.Pointer[WriteObserver]
}

// recordingHealth is a recording's Health, updated by its goroutine.
type recordingHealth struct {
	dropped       atomic.Uint64
	lastDrop      atomic.Int64 // unix nanos
	lastSlowWrite atomic.Int64
}

// Stats returns the write counters.
func (m *Manager) Stats() Stats {
	return Stats{Writes: m.stats.writes.Load(), BytesWritten: m.stats.bytes.Load(),
		SegmentsClosed: m.stats.segments.Load(), WriteErrors: m.stats.errors.Load(), Loss: m.Loss()}
}

// SetWriteObserver installs o to hear of every segment write. Safe at any time.
func (m *Manager) SetWriteObserver(o WriteObserver) {
	if o == nil {
		m.stats.observer.Store(nil)
		return
	}
	m.stats.observer.Store(&o)
}

// Health returns the health of the active recording of every stream, by stream name.
func (m *Manager) Health() map[string]Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Health, len(m.active))
	for name, r := range m.active {
		out[name] = r.health.snapshot()
	}
	return out
}

func (h *recordingHealth) snapshot() Health {
	return Health{Dropped: h.dropped.Load(), LastDrop: unixNanos(h.lastDrop.Load()),
		LastSlowWrite: unixNanos(h.lastSlowWrite.Load())}
}

func unixNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// noteDrops is called by the recording goroutine after each read with its subscriber's
// running drop count.
func (r *Recording) noteDrops(dropped uint64) {
	switch seen := r.health.dropped.Load(); {
	case dropped > seen:
		r.health.dropped.Store(dropped)
		r.health.lastDrop.Store(time.Now().UnixNano())
	case dropped < seen: // a new publishing session, with a new subscriber
		r.health.dropped.Store(dropped)
	}
}

// timed wraps a segment file so its write calls are timed and counted. A file that takes
// vectored writes (segment.BuffersWriter) still does through the wrapper.
func (r *Recording) timed(f File) File {
	t := &timedFile{File: f, rec: r}
	if bw, ok := f.(segment.BuffersWriter); ok {
		return &timedBuffersFile{timedFile: t, bw: bw}
	}
	return t
}

// timedFile times and counts the calls on a segment file. One goroutine uses it.
type timedFile struct {
	File
	rec *Recording
}

// timedBuffersFile is a timedFile whose file takes vectored writes.
type timedBuffersFile struct {
	*timedFile
	bw segment.BuffersWriter
}

func (f *timedBuffersFile) WriteBuffers(bufs [][]byte) (int64, error) {
	start := time.Now()
	n, err := f.bw.WriteBuffers(bufs)
	f.observe(start, int(n), err)
	return n, err
}

func (f *timedFile) Write(p []byte) (int, error) {
	start := time.Now()
	n, err := f.File.Write(p)
	f.observe(start, n, err)
	return n, err
}

// observe counts one write call that started at start and wrote n bytes.
func (f *timedFile) observe(start time.Time, n int, err error) {
	d := time.Since(start)
	st := &f.rec.mgr.stats
	st.writes.Add(1)
	st.bytes.Add(uint64(max(n, 0)))
	if err != nil {
		st.errors.Add(1)
	}
	slow := f.rec.mgr.cfg.FragmentDuration
	if slow <= 0 {
		slow = time.Second
	}
	if d > slow {
		f.rec.health.lastSlowWrite.Store(time.Now().UnixNano())
	}
	if o := st.observer.Load(); o != nil {
		(*o).ObserveWrite(d, n, err)
	}
}

func (f *timedFile) Seek(offset int64, whence int) (int64, error) {
	pos, err := f.File.Seek(offset, whence)
	if err != nil {
		f.rec.mgr.stats.errors.Add(1)
	}
	return pos, err
}

func (f *timedFile) Commit(name string) (string, error) {
	path, err := f.File.Commit(name)
	if err != nil {
		f.rec.mgr.stats.errors.Add(1)
	} else {
		f.rec.mgr.stats.segments.Add(1)
	}
	return path, err
}

// StreamHealth returns the health of the active recording of stream name.
func (m *Manager) StreamHealth(name string) (Health, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.active[name]
	if !ok || r == nil {
		return Health{}, false
	}
	return r.health.snapshot(), true
}
