package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/vigilrec/vigil/internal/cluster"
)

// handleOffer serves POST /whip/{stream} and POST /whep/{stream} (RFC 9725 §4.2): an SDP offer in,
// 201 Created with the answer and the session's Location out.
func (s *Server) handleOffer(prefix string, svc SessionService) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("stream")
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/sdp" {
			writeError(w, r, s.deps.Log, &httpError{status: http.StatusUnsupportedMediaType,
				msg: "the offer must be sent with Content-Type: application/sdp"})
			return
		}
		offer, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, r, s.deps.Log, err)
			return
		}
		if refused := s.checkOffer(r, prefix, name, offer); refused != nil {
			writeError(w, r, s.deps.Log, refused)
			return
		}
		if prefix == "/whip/" && s.placeElsewhere(w, r, name) {
			return
		}
		if prefix == "/whep/" && s.relayFailed(w, r, name) {
			return
		}
		answer, id, err := svc.Negotiate(r.Context(), name, string(offer))
		if err != nil {
			writeError(w, r, s.deps.Log, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/sdp")
		h.Set("Location", prefix+name+"/"+id)
		h.Set("ETag", strconv.Quote(id))
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answer)
	}
}

// handleEndSession serves DELETE on a session's Location.
func (s *Server) handleEndSession(svc SessionService) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := svc.Stop(r.Context(), r.PathValue("stream"), r.PathValue("session")); err != nil {
			writeError(w, r, s.deps.Log, err)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// handleNoTrickle answers PATCH: vigil gathers all candidates before answering and takes the
// client's from its offer, so trickle ICE and ICE restarts are not offered (RFC 9725 §4.3.1).
func handleNoTrickle(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Allow", "DELETE")
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{Status: http.StatusMethodNotAllowed,
		Message: "trickle ICE is not supported: send every candidate in the offer"})
}

// placeElsewhere asks the cluster where a new publisher of name belongs and, when that is
// another node, answers 307 to the same path there (RFC 9725 §4.5 lets WHIP endpoints redirect;
// the client posts the offer again). It reports whether it answered. Without Redis the node takes
// the publisher itself: it keeps serving its own streams while the cluster state is unknown.
func (s *Server) placeElsewhere(w http.ResponseWriter, r *http.Request, name string) bool {
	c := s.deps.Cluster
	if c == nil {
		return false
	}
	node, err := c.Place(r.Context(), name)
	switch {
	case errors.Is(err, cluster.ErrUnavailable):
		s.deps.Log.Warn("publisher taken here: the cluster state is unreachable", "stream", name, "err", err)
		return false
	case err != nil:
		writeError(w, r, s.deps.Log, err)
		return true
	case node.ID == c.Self().ID:
		return false
	}
	target := strings.TrimSuffix(node.URL, "/") + r.URL.RequestURI()
	s.deps.Log.Info("publisher redirected", "stream", name, "node", node.ID, "url", target)
	w.Header().Set("Location", target)
	writeJSON(w, http.StatusTemporaryRedirect, map[string]string{"node": node.ID, "location": target})
	return true
}

// relayFailed makes a stream another node of the cluster holds playable here before a viewer's
// offer is answered (one relay per stream, shared by this node's viewers). It reports whether
// it answered with an error. A stream no node holds is left to the local 404.
func (s *Server) relayFailed(w http.ResponseWriter, r *http.Request, name string) bool {
	c := s.deps.Cluster
	if c == nil || s.deps.Relay == nil || r.Header.Get(forwardedHeader) != "" {
		return false
	}
	if _, err := s.deps.Streams.Get(name); err == nil {
		return false
	}
	node, _, err := c.Locate(r.Context(), name)
	switch {
	case errors.Is(err, cluster.ErrNotFound), err == nil && node.ID == c.Self().ID:
		return false
	case err == nil:
		err = s.deps.Relay.Ensure(r.Context(), name, node)
	}
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return true
	}
	return false
}
