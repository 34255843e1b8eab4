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
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/session"
)

// Errors of viewing sessions.
var (
	// ErrSessionNotFound means no viewing session has that id under that stream name.
	ErrSessionNotFound = errors.New("viewing session not found")
	// ErrNotPublishing means the stream exists but has not negotiated its tracks yet.
	ErrNotPublishing = errors.New("stream is not publishing yet")
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

	sessions *session.Manager
}

// NewManager returns a manager serving viewers of h's streams with api.
func NewManager(cfg Config, api *webrtc.API, h *hub.Hub, log *slog.Logger) *Manager {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 30 * time.Second
	}
	return &Manager{cfg: cfg, api: api, hub: h, log: log, sessions: session.NewManager()}
}

// Play answers a WHEP offer for stream name and returns the SDP answer and the session id.
// Errors: hub.ErrStreamNotFound, ErrNotPublishing, rtc.ErrMalformedSDP, rtc.ErrNoSupportedCodec,
// session.ErrShuttingDown.
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
	s := &viewer{Life: session.NewLife(name), mgr: m, stream: stream, tracks: tracks, log: m.log.With("stream", name)}
	answer, err = m.sessions.Start(s.Life, nil, s.run, func() (string, error) { return s.negotiate(ctx, offer) })
	if err != nil {
		return "", "", err
	}
	return answer, s.ID(), nil
}

// Stop ends viewing session id of stream name and waits for it.
func (m *Manager) Stop(ctx context.Context, name, id string) error {
	return m.sessions.Stop(ctx, name, id, ErrSessionNotFound)
}

// Count returns the number of viewing sessions.
func (m *Manager) Count() int { return m.sessions.Count() }

// CountFor returns the number of viewing sessions of stream name.
func (m *Manager) CountFor(name string) int { return m.sessions.CountFor(name) }

// Run blocks until ctx ends, then ends every session and waits for their goroutines.
func (m *Manager) Run(ctx context.Context) error { return m.sessions.Run(ctx) }
