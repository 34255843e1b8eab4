package api

import (
	"errors"
	"net/http"

	"github.com/vigilrec/vigil/internal/hub"
)

// StreamHealth judges whether a live stream is degraded (metrics.Detector implements it).
type StreamHealth interface {
	// Reasons returns why the stream of snap is degraded, empty when it is not. Called from
	// request goroutines, concurrently; the slice belongs to the caller.
	Reasons(snap hub.Snapshot) []string
}

// metricsRoutes serves GET /metrics when the server was given a metrics handler.
func (s *Server) metricsRoutes() {
	if s.deps.Metrics == nil {
		return
	}
	s.patterns = append(s.patterns, "GET /metrics")
	s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.deps.Auth != nil && !s.deps.Auth.MetricsAllowed(r) {
			s.unauthorized(w, r, errors.New("/metrics needs the metrics token or a token with scope admin"))
			return
		}
		s.deps.Metrics.ServeHTTP(w, r)
	})
}

// degraded tells whether the stream is degraded and why (never nil, for JSON).
func (s *Server) degraded(snap hub.Snapshot) (bool, []string) {
	if s.deps.Health == nil {
		return false, []string{}
	}
	reasons := s.deps.Health.Reasons(snap)
	if reasons == nil {
		reasons = []string{}
	}
	return len(reasons) > 0, reasons
}

// streamJSONOf is a stream in the native API, with its degraded state.
func (s *Server) streamJSONOf(snap hub.Snapshot) streamJSON {
	out := toStreamJSON(snap)
	out.Degraded, out.Reasons = s.degraded(snap)
	if s.deps.Recorder == nil {
		return out
	}
	if rec, err := s.deps.Recorder.ByStream(snap.Name); err == nil {
		out.Recording = &streamRecordingJSON{ID: rec.ID, State: string(rec.State), StartedAt: rec.Started.UTC(),
			Duration: rec.Duration.Seconds(), Rotation: rec.Rotation}
	}
	return out
}

// wcsStreamOf is a stream in the WCS API; with metrics, the map also carries DEGRADED (bool)
// and DEGRADED_REASONS (array of reason names).
func (s *Server) wcsStreamOf(snap hub.Snapshot, withMetrics bool) wcsStream {
	out := toWCSStream(snap, s.deps.Recorder.Recording(snap.Name), withMetrics)
	if withMetrics {
		out.Metrics["DEGRADED"], out.Metrics["DEGRADED_REASONS"] = s.degraded(snap)
	}
	return out
}

var _ http.Handler = (*Server)(nil)
