package pull

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/session"
	"github.com/vigilrec/vigil/internal/whip"
)

// Manager owns every pull and the goroutines that run them.
type Manager struct {
	cfg       Config
	hub       *hub.Hub
	api       *webrtc.API
	feedback  *rtc.FeedbackCounter
	transport *http.Transport
	allow     allowList
	client    *whip.Client
	log       *slog.Logger
	// play runs one upstream session of a pull; tests replace it.
	play func(ctx context.Context, s *source) error

	mu     sync.Mutex
	pulls  map[string]*source
	seq    int
	closed bool
	wg     sync.WaitGroup
}

// NewManager returns a manager publishing pulls into h. Its peer connections are client-side
// (rtc.NewClientAPIWithFeedback): an ephemeral UDP port per session, the feedback they send
// counted in the stream's stats.
func NewManager(cfg Config, h *hub.Hub, log *slog.Logger) (*Manager, error) {
	cfg = cfg.withDefaults()
	feedback := rtc.NewFeedbackCounter()
	api, err := rtc.NewClientAPIWithFeedback(log.With("component", "pull-rtc"), feedback)
	if err != nil {
		return nil, err
	}
	allow, err := parseAllowList(cfg.AllowedSources)
	if err != nil {
		return nil, err
	}
	transport := &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 16,
		IdleConnTimeout: 30 * time.Second,
		DialContext:     allow.dial(&net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second})}
	if !allow.empty() {
		transport.Proxy = nil // the address checked must be the address dialled
	}
	// A remote must not steer the request elsewhere (a redirect to an internal address) nor have
	// its answer echoed (a pull is no way to read internal pages): no redirects, and errors carry
	// the status only.
	client := &http.Client{Transport: transport, Timeout: cfg.ConnectTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	m := &Manager{cfg: cfg, hub: h, api: api, feedback: feedback, transport: transport, allow: allow,
		client: &whip.Client{HTTP: client, StatusOnly: true},
		log:    log, pulls: map[string]*source{}}
	m.play = func(ctx context.Context, s *source) error { return s.play(ctx) }
	return m, nil
}

// Start starts pulls, all or none: when one local name is invalid or in use (by a pull or a live
// stream) nothing is started and the error wraps ErrExists. It then waits, at most
// Config.StartWait or until ctx ends, for each new pull's first attempt to play or fail, and
// returns their statuses. Errors: ErrExists, ErrBadSpec, session.ErrShuttingDown.
func (m *Manager) Start(ctx context.Context, specs []Spec) ([]Status, error) {
	started, err := m.start(specs)
	if err != nil {
		return nil, err
	}
	wait, cancel := context.WithTimeout(ctx, m.cfg.StartWait)
	defer cancel()
	out := make([]Status, len(started))
	for i, s := range started {
		select {
		case <-s.settled:
		case <-wait.Done():
		}
		out[i] = s.Status()
	}
	return out, nil
}

func (m *Manager) start(specs []Spec) ([]*source, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("%w: nothing to pull", ErrBadSpec)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, session.ErrShuttingDown
	}
	if len(m.pulls)+len(specs) > m.cfg.MaxPulls {
		return nil, fmt.Errorf("%w: %d running, %d asked for, at most %d (pull.max_pulls)", ErrLimit,
			len(m.pulls), len(specs), m.cfg.MaxPulls)
	}
	seen := map[string]bool{}
	for _, sp := range specs {
		if err := m.allow.check(sp.Endpoint); err != nil {
			return nil, err
		}
		if seen[sp.Local] {
			return nil, fmt.Errorf("%w: %s is given twice", ErrExists, sp.Local)
		}
		seen[sp.Local] = true
		if _, ok := m.pulls[sp.Local]; ok {
			return nil, fmt.Errorf("%w: %s is already pulled", ErrExists, sp.Local)
		}
		if _, err := m.hub.Get(sp.Local); err == nil {
			return nil, fmt.Errorf("%w: a stream named %s is already published", ErrExists, sp.Local)
		}
	}
	out := make([]*source, len(specs))
	now := time.Now()
	for i, sp := range specs {
		ctx, cancel := context.WithCancel(context.Background())
		m.seq++
		s := &source{mgr: m, spec: sp, seq: m.seq, cancel: cancel, done: make(chan struct{}),
			settled: make(chan struct{}), log: m.log.With("stream", sp.Local, "pull", whip.RedactURL(sp.Endpoint)),
			status: Status{Spec: sp, State: StateConnecting, Since: now, Created: now}}
		m.pulls[sp.Local] = s
		m.wg.Add(1)
		go s.run(ctx)
		out[i] = s
	}
	return out, nil
}

// List returns every pull in the order they were started.
func (m *Manager) List() []Status {
	m.mu.Lock()
	list := make([]*source, 0, len(m.pulls))
	for _, s := range m.pulls {
		list = append(list, s)
	}
	m.mu.Unlock()
	slices.SortFunc(list, func(a, b *source) int { return a.seq - b.seq })
	out := make([]Status, len(list))
	for i, s := range list {
		out[i] = s.Status()
	}
	return out
}

// Get returns the pull of local stream name local.
func (m *Manager) Get(local string) (Status, error) {
	m.mu.Lock()
	s, ok := m.pulls[local]
	m.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrNotFound, local)
	}
	return s.Status(), nil
}

// Stop ends the pull of local stream name local and returns once its local stream has closed.
func (m *Manager) Stop(ctx context.Context, local string) (Status, error) {
	m.mu.Lock()
	s, ok := m.pulls[local]
	m.mu.Unlock()
	if !ok {
		return Status{}, fmt.Errorf("%w: %s", ErrNotFound, local)
	}
	s.cancel()
	select {
	case <-s.done:
		return s.Status(), nil
	case <-ctx.Done():
		return s.Status(), ctx.Err()
	}
}

// Run starts the static pulls of the configuration, blocks until ctx ends, then stops every pull
// and waits for their goroutines.
func (m *Manager) Run(ctx context.Context) error {
	if len(m.cfg.Static) > 0 {
		if _, err := m.start(m.cfg.Static); err != nil {
			m.log.Error("configured pulls not started", "err", err)
		}
	}
	<-ctx.Done()
	m.mu.Lock()
	m.closed = true
	for _, s := range m.pulls {
		s.cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
	m.transport.CloseIdleConnections()
	return nil
}

func (m *Manager) forget(s *source) {
	m.mu.Lock()
	if m.pulls[s.spec.Local] == s {
		delete(m.pulls, s.spec.Local)
	}
	m.mu.Unlock()
}
