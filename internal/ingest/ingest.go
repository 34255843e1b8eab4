// Package ingest runs WHIP publishing sessions (RFC 9725): it answers a publisher's offer, reads
// the RTP of each incoming track once, marks keyframe starts, and writes the packets into the
// stream's hub entry. It never imports recorder, storage, api or metrics.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/pion/webrtc/v4"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/rtc"
)

// ErrSessionNotFound means no publishing session has that id under that stream name.
var ErrSessionNotFound = errors.New("publishing session not found")

// Engine is the part of rtc.Engine a manager needs.
type Engine interface {
	API() *webrtc.API
	Feedback() *rtc.FeedbackCounter
}

// Config tunes publishing sessions.
type Config struct {
	// ConnectTimeout ends a session whose peer has not connected by then. Default 30 s.
	ConnectTimeout time.Duration
}

// Manager owns every publishing session and the goroutines that serve them.
type Manager struct {
	cfg    Config
	engine Engine
	hub    *hub.Hub
	log    *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup
}

// NewManager returns a manager that publishes into h.
func NewManager(cfg Config, engine Engine, h *hub.Hub, log *slog.Logger) *Manager {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	return &Manager{cfg: cfg, engine: engine, hub: h, log: log, sessions: map[string]*session{}}
}

// ErrShuttingDown means the server is stopping and takes no new sessions.
var ErrShuttingDown = errors.New("server is shutting down")

// Publish answers a WHIP offer for stream name. It returns the SDP answer and the new session id.
// Errors: rtc.ErrMalformedSDP, rtc.ErrNoSupportedCodec, hub.ErrInvalidName, hub.ErrStreamExists,
// ErrShuttingDown.
func (m *Manager) Publish(ctx context.Context, name, offer string) (answer, sessionID string, err error) {
	info, err := rtc.InspectOffer(offer)
	if err != nil {
		return "", "", err
	}
	s := &session{
		id: uuid.NewString(), mgr: m, offer: info,
		ending: make(chan struct{}), done: make(chan struct{}), connected: make(chan struct{}),
		log: m.log.With("stream", name),
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", "", ErrShuttingDown
	}
	stream, err := m.hub.Create(name, s)
	if err != nil {
		m.mu.Unlock()
		return "", "", err
	}
	s.stream = stream
	s.log = s.log.With("media_session", stream.ID())
	m.sessions[s.id] = s
	m.wg.Add(1)
	m.mu.Unlock()

	go s.run()
	answer, err = s.negotiate(ctx, offer)
	if err != nil {
		s.end()
		<-s.done
		return "", "", err
	}
	return answer, s.id, nil
}

// Stop ends the session id of stream name and waits until it has left the hub.
func (m *Manager) Stop(ctx context.Context, name, id string) error {
	m.mu.Lock()
	s, ok := m.sessions[id]
	m.mu.Unlock()
	if !ok || s.stream.Name() != name {
		return fmt.Errorf("%w: %s/%s", ErrSessionNotFound, name, id)
	}
	s.end()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run blocks until ctx ends, then ends every session and waits for their goroutines.
func (m *Manager) Run(ctx context.Context) error {
	<-ctx.Done()
	m.mu.Lock()
	m.closed = true
	for _, s := range m.sessions {
		s.end()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

func (m *Manager) forget(s *session) {
	m.mu.Lock()
	delete(m.sessions, s.id)
	m.mu.Unlock()
}
