package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/pull"
)

// Pulls starts, lists and stops pulls of remote streams (see docs/pull.md).
type Pulls interface {
	// Start starts pulls, all or none, and returns their statuses.
	Start(ctx context.Context, specs []pull.Spec) ([]pull.Status, error)
	List() []pull.Status
	Get(local string) (pull.Status, error)
	// Stop ends a pull; it returns once its local stream and that stream's recording are closed.
	Stop(ctx context.Context, local string) (pull.Status, error)
}

// pullRequest is the body of POST /api/v1/pulls.
type pullRequest struct {
	Source string `json:"source"`
	Remote string `json:"remote"`
	Local  string `json:"local"`
	Qty    int    `json:"qty"`
}

// pullJSON is a pull in the native API.
type pullJSON struct {
	Local          string     `json:"local"`
	Source         string     `json:"source"`
	Remote         string     `json:"remote,omitempty"`
	Endpoint       string     `json:"endpoint"`
	State          string     `json:"state"`
	Since          time.Time  `json:"since"`
	CreatedAt      time.Time  `json:"createdAt"`
	Attempts       int        `json:"attempts"`
	LastError      string     `json:"lastError,omitempty"`
	NextAttemptAt  *time.Time `json:"nextAttemptAt,omitempty"`
	ConnectedAt    *time.Time `json:"connectedAt,omitempty"`
	Sessions       int        `json:"sessions"`
	MediaSessionID string     `json:"mediaSessionId,omitempty"`
	Resource       string     `json:"resource,omitempty"`
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func toPullJSON(s pull.Status) pullJSON {
	return pullJSON{Local: s.Local, Source: s.Source, Remote: s.Remote, Endpoint: s.Endpoint, State: string(s.State),
		Since: s.Since.UTC(), CreatedAt: s.Created.UTC(), Attempts: s.Attempts, LastError: s.LastError,
		NextAttemptAt: optionalTime(s.NextAttempt), ConnectedAt: optionalTime(s.Connected), Sessions: s.Sessions,
		MediaSessionID: s.MediaSessionID, Resource: s.Resource}
}

func toPullsJSON(list []pull.Status) []pullJSON {
	out := make([]pullJSON, len(list))
	for i, s := range list {
		out[i] = toPullJSON(s)
	}
	return out
}

func (s *Server) pullRoutes() {
	admin := everyStream(auth.Admin)
	s.handle("POST /api/v1/pulls", admin, s.withPulls(s.handleStartPulls))
	s.handle("GET /api/v1/pulls", admin, s.withPulls(s.handleListPulls))
	s.handle("GET /api/v1/pulls/{local}", admin, s.withPulls(s.handleGetPull))
	s.handle("DELETE /api/v1/pulls/{local}", admin, s.withPulls(s.handleStopPull))
	s.wcsPullRoutes()
}

// withPulls answers 404 when the server was built without pulls.
func (s *Server) withPulls(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.deps.Pulls == nil {
			writeError(w, r, s.deps.Log, &httpError{status: http.StatusNotFound, msg: "pulls are not available"})
			return
		}
		h(w, r)
	}
}

func (s *Server) handleStartPulls(w http.ResponseWriter, r *http.Request) {
	var req pullRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	specs, err := pull.Expand(req.Source, req.Remote, req.Local, req.Qty)
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	list, err := s.deps.Pulls.Start(r.Context(), specs)
	if errors.Is(err, pull.ErrLimit) {
		s.deps.Refusals.add("pulls")
	}
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"pulls": toPullsJSON(list)})
}

func (s *Server) handleListPulls(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"pulls": toPullsJSON(s.deps.Pulls.List())})
}

func (s *Server) handleGetPull(w http.ResponseWriter, r *http.Request) {
	st, err := s.deps.Pulls.Get(r.PathValue("local"))
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	writeJSON(w, http.StatusOK, toPullJSON(st))
}

func (s *Server) handleStopPull(w http.ResponseWriter, r *http.Request) {
	st, err := s.deps.Pulls.Stop(r.Context(), r.PathValue("local"))
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	writeJSON(w, http.StatusOK, toPullJSON(st))
}
