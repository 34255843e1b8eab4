package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/vigilrec/vigil/internal/auth"
)

// access is what a route needs: a scope over the stream named by a path parameter, over the
// streams a handler lists (filtered by the grant) or resolves from the body (checked by the
// handler), or over every stream.
type access struct {
	scope auth.Scope
	// pathStream names the path parameter holding the stream name.
	pathStream string
	// perStream: the handler filters or checks streams itself (lists, Web Call Server bodies,
	// recordings by id); the grant needs the scope for some stream.
	perStream bool
	public    bool
}

var (
	public = access{public: true}
	// everyStream needs scope over every stream (process-wide things: pulls, storage, stats).
	everyStream = func(scope auth.Scope) access { return access{scope: scope} }
	onPath      = func(scope auth.Scope, param string) access { return access{scope: scope, pathStream: param} }
	perStream   = func(scope auth.Scope) access { return access{scope: scope, perStream: true} }
)

type grantKey struct{}

// grantOf is the grant the request was let in with (everything when authentication is off or
// not configured, as in the package's own tests).
func grantOf(r *http.Request) auth.Grant {
	if g, ok := r.Context().Value(grantKey{}).(auth.Grant); ok {
		return g
	}
	return auth.Full("no authenticator")
}

// handle registers h behind the access check of acc.
func (s *Server) handle(pattern string, acc access, h http.HandlerFunc) {
	s.patterns = append(s.patterns, pattern)
	if acc.public || s.deps.Auth == nil {
		s.mux.HandleFunc(pattern, h)
		return
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		g, err := s.deps.Auth.Authenticate(r)
		if err != nil {
			s.unauthorized(w, r, err)
			return
		}
		stream := ""
		if acc.pathStream != "" {
			stream = r.PathValue(acc.pathStream)
		}
		ok := g.Allows(acc.scope, stream)
		if acc.perStream {
			ok = g.Has(acc.scope)
		}
		if !ok {
			s.forbidden(w, r, g, acc.scope, stream)
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), grantKey{}, g)))
	})
}

// allowStream is the check of handlers that find the stream themselves: it answers 403 and
// reports false when the request's grant does not cover stream for scope.
func (s *Server) allowStream(w http.ResponseWriter, r *http.Request, scope auth.Scope, stream string) bool {
	g := grantOf(r)
	if g.Allows(scope, stream) {
		return true
	}
	s.forbidden(w, r, g, scope, stream)
	return false
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
	msg := err.Error()
	if errors.Is(err, auth.ErrNoCredentials) {
		msg = "a bearer token is required (Authorization: Bearer …, or ?token= for browser pages)"
	}
	writeError(w, r, s.deps.Log, &httpError{status: http.StatusUnauthorized, msg: msg})
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, g auth.Grant, scope auth.Scope, stream string) {
	msg := "the token of " + g.Who + " lacks scope " + string(scope)
	switch {
	case stream != "":
		msg += " for stream " + stream
	case g.Has(scope):
		msg += " over every stream"
	}
	writeError(w, r, s.deps.Log, &httpError{status: http.StatusForbidden, msg: msg})
}
