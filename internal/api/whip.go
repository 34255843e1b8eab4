package api

import (
	"io"
	"mime"
	"net/http"
	"strconv"
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
