// Package ingest runs WHIP publishing sessions (RFC 9725): it answers a publisher's offer, reads
// the RTP of each incoming track once, marks keyframe starts, and writes the packets into the
// stream's hub entry. It never imports recorder, storage, api or metrics.
package ingest

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/session"
)

// ErrSessionNotFound means no publishing session has that id under that stream name.
var ErrSessionNotFound = errors.New("publishing session not found")

// Engine is the part of rtc.Engine a manager needs.
type Engine interface {
	NewPublisherConnection(log *slog.Logger) (*rtc.PublisherConn, error)
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

	sessions *session.Manager
}

// NewManager returns a manager that publishes into h.
func NewManager(cfg Config, engine Engine, h *hub.Hub, log *slog.Logger) *Manager {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	return &Manager{cfg: cfg, engine: engine, hub: h, log: log, sessions: session.NewManager()}
}

// Publish answers a WHIP offer for stream name. It returns the SDP answer and the new session id.
// Errors: rtc.ErrMalformedSDP, rtc.ErrNoSupportedCodec, hub.ErrInvalidName, hub.ErrStreamExists,
// session.ErrShuttingDown.
func (m *Manager) Publish(ctx context.Context, name, offer string) (answer, sessionID string, err error) {
	info, err := rtc.InspectOffer(offer)
	if err != nil {
		return "", "", err
	}
	s := &publisher{Life: session.NewLife(name), mgr: m, offer: info, log: m.log.With("stream", name)}
	answer, err = m.sessions.Start(s.Life, func() error {
		stream, err := m.hub.Create(name, s)
		if err != nil {
			return err
		}
		s.stream = stream
		s.log = s.log.With("media_session", stream.ID())
		return nil
	}, s.run, func() (string, error) { return s.negotiate(ctx, offer) })
	if err != nil {
		return "", "", err
	}
	return answer, s.ID(), nil
}

// Stop ends the session id of stream name and waits until it has left the hub.
func (m *Manager) Stop(ctx context.Context, name, id string) error {
	return m.sessions.Stop(ctx, name, id, ErrSessionNotFound)
}

// Run blocks until ctx ends, then ends every session and waits for their goroutines.
func (m *Manager) Run(ctx context.Context) error { return m.sessions.Run(ctx) }
