package recorder

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/segment"
)

// AutoMode says which streams are recorded without being asked.
type AutoMode string

// Record policies.
const (
	AutoNone  AutoMode = "none"
	AutoAll   AutoMode = "all"
	AutoMatch AutoMode = "match"
)

// Config of the recorder.
type Config struct {
	Formats          Formats
	Rotation         Rotation
	Template         string
	Preroll          bool
	Grace            time.Duration
	FragmentDuration time.Duration
	Auto             AutoMode
	// Patterns are path.Match globs of stream names recorded when Auto is "match".
	Patterns []string
	// WriteRetry is how long a recording whose writes failed (a full disk, an I/O error) waits
	// before it tries a new segment at the next keyframe. Default 5 s.
	WriteRetry time.Duration
	// Guard, when set, may refuse a new recording (wrapping ErrRefused).
	Guard func(stream string) error
	// Skip, when set, names streams the record policy does not record by itself.
	Skip func(stream string) bool
}

// Manager owns every recording.
type Manager struct {
	cfg    Config
	hub    *hub.Hub
	sink   Sink
	events Events
	log    *slog.Logger
	// buffers lends every segment writer the buffer it formats a fragment in.
	buffers segment.BufferPool

	mu       sync.Mutex
	active   map[string]*Recording // by stream name: recording or waiting
	byID     map[string]*Recording
	order    []string // ids, oldest first, to bound the history
	autoSeen map[string]bool
	closed   bool
	wg       sync.WaitGroup
	stats    managerStats // write counters (stats.go)

	finishedLoss Loss // of the recordings that ended (loss.go)

	paused      bool
	pauseReason string
	written     int64
	perStream   map[string]int64

	// segmentLimit bounds every segment beside the recording's own rotation (the disk guard
	// sets it; read at every access unit, hence atomic).
	segmentLimit atomic.Pointer[Rotation]
}

// maxHistory bounds the finished recordings kept for status queries.
const maxHistory = 1000

// NewManager returns a manager recording h's streams into sink.
func NewManager(cfg Config, h *hub.Hub, sink Sink, events Events, log *slog.Logger) *Manager {
	if cfg.Formats == nil {
		cfg.Formats = Formats{}
	}
	if cfg.WriteRetry <= 0 {
		cfg.WriteRetry = 5 * time.Second
	}
	return &Manager{cfg: cfg, hub: h, sink: sink, events: events, log: log,
		active: map[string]*Recording{}, byID: map[string]*Recording{}, autoSeen: map[string]bool{},
		perStream: map[string]int64{}}
}

// Defaults returns the options a recording gets when a request leaves them out.
func (m *Manager) Defaults() Options {
	return Options{Rotation: m.cfg.Rotation, Template: m.cfg.Template, Formats: m.cfg.Formats, Preroll: m.cfg.Preroll}
}

// Start records stream name with opts. Errors: hub.ErrStreamNotFound, ErrAlreadyRecording,
// ErrBadTemplate, ErrRefused.
func (m *Manager) Start(name string, opts Options) (Status, error) {
	stream, err := m.hub.Get(name)
	if err != nil {
		return Status{}, err
	}
	return m.start(stream, opts)
}

func (m *Manager) start(stream *hub.Stream, opts Options) (Status, error) {
	if opts.Template == "" {
		opts.Template = DefaultTemplate
	}
	if err := ValidateTemplate(opts.Template); err != nil {
		return Status{}, err
	}
	if opts.Formats == nil {
		opts.Formats = m.cfg.Formats
	}
	m.mu.Lock()
	guard := m.cfg.Guard
	m.mu.Unlock()
	if guard != nil {
		if err := guard(stream.Name()); err != nil {
			return Status{}, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Status{}, fmt.Errorf("%w: the server is shutting down", ErrRefused)
	}
	if r, ok := m.active[stream.Name()]; ok {
		return r.Status(), fmt.Errorf("%w: %s (recording %s)", ErrAlreadyRecording, stream.Name(), r.id)
	}
	// Each recording has its own context: Stop cancels one, shutdown cancels them all.
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recording{id: uuid.NewString(), mgr: m, opts: opts, cancel: cancel,
		done: make(chan struct{}), resume: make(chan *hub.Stream, 1)}
	r.log = m.log.With("stream", stream.Name(), "recording", r.id)
	r.status = Status{ID: r.id, Stream: stream.Name(), MediaSessionID: stream.ID(), State: StateRecording,
		Automatic: opts.Automatic, Started: time.Now(), Rotation: opts.Rotation.String(), Template: opts.Template}
	m.active[stream.Name()] = r
	m.byID[r.id] = r
	m.order = append(m.order, r.id)
	m.wg.Add(1)
	go r.run(ctx, stream)
	r.log.Info("recording started", "rotation", opts.Rotation.String(), "automatic", opts.Automatic)
	st := r.Status()
	if ev, ok := m.events.(RecordingEvents); ok {
		ev.RecordingStarted(st)
	}
	return st, nil
}

// finished is called by a recording's goroutine when it ends.
func (m *Manager) finished(r *Recording) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active[r.status.Stream] == r {
		delete(m.active, r.status.Stream)
	}
	m.finishedLoss = m.finishedLoss.add(r.loss.snapshot())
	for len(m.order) > maxHistory {
		delete(m.byID, m.order[0])
		m.order = m.order[1:]
	}
}

// Stop ends recording id and returns once its files are final.
func (m *Manager) Stop(ctx context.Context, id string) (Status, error) {
	m.mu.Lock()
	r, ok := m.byID[id]
	m.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrNotRecording, id)
	}
	return m.stop(ctx, r)
}

// StopStream ends the recording of stream name.
func (m *Manager) StopStream(ctx context.Context, name string) (Status, error) {
	m.mu.Lock()
	r, ok := m.active[name]
	m.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("%w: stream %s is not being recorded", ErrNotRecording, name)
	}
	return m.stop(ctx, r)
}

func (m *Manager) stop(ctx context.Context, r *Recording) (Status, error) {
	r.cancel()
	select {
	case <-r.done:
		return r.Status(), nil
	case <-ctx.Done():
		return r.Status(), ctx.Err()
	}
}

// Get returns recording id.
func (m *Manager) Get(id string) (Status, error) {
	m.mu.Lock()
	r, ok := m.byID[id]
	m.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrNotRecording, id)
	}
	return r.Status(), nil
}

// ByStream returns the active recording of stream name.
func (m *Manager) ByStream(name string) (Status, error) {
	m.mu.Lock()
	r, ok := m.active[name]
	m.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("%w: stream %s is not being recorded", ErrNotRecording, name)
	}
	return r.Status(), nil
}

// Active lists the running (or waiting) recordings, by stream name.
func (m *Manager) Active() []Status {
	m.mu.Lock()
	list := make([]*Recording, 0, len(m.active))
	for _, r := range m.active {
		list = append(list, r)
	}
	m.mu.Unlock()
	out := make([]Status, 0, len(list))
	for _, r := range list {
		out = append(out, r.Status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream < out[j].Stream })
	return out
}

// Recording reports whether stream name is being recorded.
func (m *Manager) Recording(name string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.active[name]
	return ok && r != nil
}

// Run applies the record policy (starting automatic recordings, resuming them when their stream
// returns) until ctx ends; then it stops every recording and waits until all files are final.
func (m *Manager) Run(ctx context.Context) error {
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.closed = true
			for _, r := range m.active {
				r.cancel()
			}
			m.mu.Unlock()
			m.wg.Wait()
			return nil
		case <-ticker.C:
			m.applyPolicy()
		}
	}
}

func (m *Manager) wants(name string) bool {
	m.mu.Lock()
	skip := m.cfg.Skip
	m.mu.Unlock()
	if skip != nil && skip(name) {
		return false
	}
	switch m.cfg.Auto {
	case AutoAll:
		return true
	case AutoMatch:
		for _, p := range m.cfg.Patterns {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
		}
	}
	return false
}

func (m *Manager) applyPolicy() {
	for _, st := range m.hub.List() {
		if len(st.Tracks()) == 0 {
			continue
		}
		m.mu.Lock()
		r, active := m.active[st.Name()]
		seen := m.autoSeen[st.ID()]
		m.mu.Unlock()
		switch {
		case active && r.opts.Automatic && r.Status().State == StateWaiting && r.Status().MediaSessionID != st.ID():
			select {
			case r.resume <- st:
				m.mu.Lock()
				m.autoSeen[st.ID()] = true
				m.mu.Unlock()
			default:
			}
		case !active && !seen && m.wants(st.Name()):
			m.mu.Lock()
			m.autoSeen[st.ID()] = true
			m.mu.Unlock()
			opts := m.Defaults()
			opts.Automatic = true
			if _, err := m.start(st, opts); err != nil {
				m.log.Warn("automatic recording not started", "stream", st.Name(), "err", err)
			}
		}
	}
	m.pruneSeen()
}

// pruneSeen forgets publishing sessions that have ended.
func (m *Manager) pruneSeen() {
	live := map[string]bool{}
	for _, st := range m.hub.List() {
		live[st.ID()] = true
	}
	m.mu.Lock()
	for id := range m.autoSeen {
		if !live[id] {
			delete(m.autoSeen, id)
		}
	}
	m.mu.Unlock()
}

// Pause stops all writing: every open segment is closed cleanly at its next access unit, and no
// new one opens until Resume. Recordings keep their subscriptions (state "paused").
func (m *Manager) Pause(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.paused, m.pauseReason = true, reason
}

// Resume lets recordings write again; each opens a new segment at its next keyframe.
func (m *Manager) Resume() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.paused, m.pauseReason = false, ""
}

func (m *Manager) pausedReason() (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pauseReason, m.paused
}

func (m *Manager) countWritten(stream string, n int64) {
	m.mu.Lock()
	m.written += n
	m.perStream[stream] += n
	m.mu.Unlock()
}

// BytesWritten is what every recording has written since start, in total and per stream.
func (m *Manager) BytesWritten() (int64, map[string]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	per := make(map[string]int64, len(m.perStream))
	for k, v := range m.perStream {
		per[k] = v
	}
	return m.written, per
}

// LimitSegments bounds every recording's segments, whatever rotation it asked for: a segment
// longer than maxDuration or larger than maxBytes (0: no bound) is cut at the next keyframe, as
// rotation would cut it. The disk guard uses it so a recording always has finished segments to
// delete.
func (m *Manager) LimitSegments(maxDuration time.Duration, maxBytes int64) {
	m.segmentLimit.Store(&Rotation{Duration: maxDuration, Bytes: maxBytes})
}

// rotationWithLimit is r tightened by the segment limit.
func (m *Manager) rotationWithLimit(r Rotation) Rotation {
	l := m.segmentLimit.Load()
	if l == nil {
		return r
	}
	tighter := func(a, b int64) int64 {
		if a <= 0 || (b > 0 && b < a) {
			return b
		}
		return a
	}
	return Rotation{Duration: time.Duration(tighter(int64(r.Duration), int64(l.Duration))), Bytes: tighter(r.Bytes, l.Bytes)}
}

// SetSkip names the streams the record policy leaves alone (copies of streams recorded where they
// are held); they may still be recorded on request.
func (m *Manager) SetSkip(skip func(stream string) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg.Skip = skip
}

// SetGuard installs the check consulted before each new recording (the disk guard, built after
// the manager because it controls it). Call before Run.
func (m *Manager) SetGuard(guard func(stream string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cfg.Guard = guard
}
