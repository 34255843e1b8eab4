package api

import (
	"errors"
	"net/http"
	"path"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/pull"
)

// The Web Call Server compatible pull API: /rest-api/pull/pull, /pull/find_all, /pull/terminate.
// The uri is a vigil base URL or a full WHEP endpoint (see docs/pull.md).

// wcsPullRequest is the body of pull/pull and pull/terminate.
type wcsPullRequest struct {
	URI              string `json:"uri"`
	LocalStreamName  string `json:"localStreamName"`
	RemoteStreamName string `json:"remoteStreamName"`
}

// wcsPull is an element of pull/find_all.
type wcsPull struct {
	LocalMediaSessionID  string `json:"localMediaSessionId"`
	RemoteMediaSessionID string `json:"remoteMediaSessionId"`
	LocalStreamName      string `json:"localStreamName"`
	RemoteStreamName     string `json:"remoteStreamName"`
	URI                  string `json:"uri"`
	Status               string `json:"status"`
}

func (s *Server) wcsPullRoutes() {
	admin := everyStream(auth.Admin)
	s.handle("POST /rest-api/pull/pull", admin, s.withPulls(s.handleWCSPull))
	s.handle("POST /rest-api/pull/find_all", admin, s.withPulls(s.handleWCSPullFindAll))
	s.handle("GET /rest-api/pull/find_all", admin, s.withPulls(s.handleWCSPullFindAll))
	s.handle("POST /rest-api/pull/terminate", admin, s.withPulls(s.handleWCSPullTerminate))
}

// wcsPullStatus maps a pull's state to Web Call Server's status words.
func wcsPullStatus(st pull.State) string {
	switch st {
	case pull.StatePlaying:
		return "PLAYING"
	case pull.StateRetrying:
		return "FAILED"
	case pull.StateStopped:
		return "STOPPED"
	}
	return "PENDING"
}

func toWCSPull(st pull.Status) wcsPull {
	remoteID := ""
	if st.Resource != "" {
		remoteID = path.Base(st.Resource) // the WHEP session's id on the remote server
	}
	return wcsPull{LocalMediaSessionID: st.MediaSessionID, RemoteMediaSessionID: remoteID,
		LocalStreamName: st.Local, RemoteStreamName: st.Remote, URI: st.Source, Status: wcsPullStatus(st.State)}
}

func (s *Server) handleWCSPull(w http.ResponseWriter, r *http.Request) {
	var req wcsPullRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	specs, err := pull.Expand(req.URI, req.RemoteStreamName, req.LocalStreamName, 0)
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
	writeCompactJSON(w, toWCSPull(list[0]))
}

func (s *Server) handleWCSPullFindAll(w http.ResponseWriter, r *http.Request) {
	list := s.deps.Pulls.List()
	if len(list) == 0 {
		writeError(w, r, s.deps.Log, &httpError{status: http.StatusNotFound, msg: "no pulls"})
		return
	}
	out := make([]wcsPull, len(list))
	for i, st := range list {
		out[i] = toWCSPull(st)
	}
	writeCompactJSON(w, out)
}

func (s *Server) handleWCSPullTerminate(w http.ResponseWriter, r *http.Request) {
	var req wcsPullRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	if req.LocalStreamName == "" {
		writeError(w, r, s.deps.Log, &httpError{status: http.StatusBadRequest, msg: "give localStreamName"})
		return
	}
	st, err := s.deps.Pulls.Get(req.LocalStreamName)
	if err == nil && (req.URI != "" && req.URI != st.Source || req.RemoteStreamName != "" && req.RemoteStreamName != st.Remote) {
		err = &httpError{status: http.StatusNotFound,
			msg: "no pull of " + req.RemoteStreamName + " from " + req.URI + " as " + req.LocalStreamName}
	}
	if err == nil {
		_, err = s.deps.Pulls.Stop(r.Context(), req.LocalStreamName)
	}
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
