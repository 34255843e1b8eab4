package api

import (
	"net/http"
	"net/url"
	"strings"
)

// CORS lists the origins other than the server's own whose pages may call it: Media for the
// WHIP and WHEP endpoints (players and publishing pages embedded in other sites), API for
// everything else. "*" allows any origin.
type CORS struct {
	API, Media []string
}

// origins returns the list that applies to r's path.
func (c CORS) origins(r *http.Request) (list []string, key string) {
	if strings.HasPrefix(r.URL.Path, "/whip/") || strings.HasPrefix(r.URL.Path, "/whep/") {
		return c.Media, "cors.media_origins"
	}
	return c.API, "cors.api_origins"
}

// allowed reports whether a page of origin may call r: its own origin always may.
func (c CORS) allowed(r *http.Request, origin string) bool {
	if u, err := url.Parse(origin); err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return true
	}
	list, _ := c.origins(r)
	for _, o := range list {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// stateChanging reports whether a method changes something (the requests a cross-site page must
// not be able to send on a visitor's behalf).
func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// applyCORS sets the CORS answer headers for an allowed origin, answers preflights, and refuses a
// state-changing request from a page of an origin not allowed (browsers send Origin with every
// cross-origin POST, PATCH and DELETE, including those no preflight guards). It reports whether
// the request is done.
func (s *Server) applyCORS(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	ok := origin != "" && s.deps.CORS.allowed(r, origin)
	if ok {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Post, Accept-Patch")
	}
	if r.Method == http.MethodOptions {
		if ok {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, If-Match")
			h.Set("Access-Control-Max-Age", "86400")
		}
		// RFC 9725 §4.1: OPTIONS on a WHIP endpoint tells the accepted offer type.
		h.Set("Accept-Post", "application/sdp")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	if origin != "" && !ok && stateChanging(r.Method) {
		_, key := s.deps.CORS.origins(r)
		writeError(w, r, s.deps.Log, &httpError{status: http.StatusForbidden,
			msg: "cross-origin request from " + origin + " refused: add the origin to " + key})
		return true
	}
	return false
}
