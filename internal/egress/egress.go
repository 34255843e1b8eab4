// Package egress runs WHEP viewing sessions: each viewer subscribes to a stream in the hub and gets
// its RTP forwarded untouched (pion rewrites only SSRC and payload type), starting at a keyframe.
// A viewer's keyframe requests travel to the publisher through the hub. It never imports
// recorder, storage, api or metrics.
package egress

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

// Errors of viewing sessions.
var (
	// ErrSessionNotFound means no viewing session has that id under that stream name.
	ErrSessionNotFound = errors.New("viewing session not found")
	// ErrNotPublishing means the stream exists but has not negotiated its tracks yet.
	ErrNotPublishing = errors.New("stream is not publishing yet")
	// ErrShuttingDown means the server is stopping and takes no new sessions.
	ErrShuttingDown = errors.New("server is shutting down")
)

// Config tunes viewing sessions.
type Config struct {
	// ConnectTimeout ends a session whose viewer has not connected by then. Default 30 s.
	ConnectTimeout time.Duration
}

// Manager owns every viewing session and its goroutines.
type Manager struct {
	cfg Config
	api *webrtc.API
	hub *hub.Hub
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup
}

// NewManager returns a manager serving viewers of h's streams with api.
func NewManager(cfg Config, api *webrtc.API, h *hub.Hub, log *slog.Logger) *Manager {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	return &Manager{cfg: cfg, api: api, hub: h, log: log, sessions: map[string]*session{}}
}

// Play answers a WHEP offer for stream name and returns the SDP answer and the session id.
// Errors: hub.ErrStreamNotFound, ErrNotPublishing, rtc.ErrMalformedSDP, rtc.ErrNoSupportedCodec,
// ErrShuttingDown.
func (m *Manager) Play(ctx context.Context, name, offer string) (answer, sessionID string, err error) {
	info, err := rtc.InspectOffer(offer)
	if err != nil {
		return "", "", err
	}
	stream, err := m.hub.Get(name)
	if err != nil {
		return "", "", err
	}
	tracks := stream.Tracks()
	if len(tracks) == 0 {
		return "", "", fmt.Errorf("%w: %s", ErrNotPublishing, name)
	}
	for _, t := range tracks {
		if !info.Supports(t.Kind, t.Codec) {
			return "", "", fmt.Errorf("%w: stream %s sends %s %s, which the viewer does not offer",
				rtc.ErrNoSupportedCodec, name, t.Kind, t.Codec.WCSName())
		}
	}
	s := &session{
		id: uuid.NewString(), mgr: m, stream: stream, tracks: tracks,
		ending: make(chan struct{}), done: make(chan struct{}), connected: make(chan struct{}),
		log: m.log.With("stream", name),
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return "", "", ErrShuttingDown
	}
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

// Stop ends viewing session id of stream name and waits for it.
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

// Count returns the number of viewing sessions.
func (m *Manager) Count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// CountFor returns the number of viewing sessions of stream name.
func (m *Manager) CountFor(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.sessions {
		if s.stream.Name() == name {
			n++
		}
	}
	return n
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
