// Package api is vigil's HTTP surface: WHIP and WHEP endpoints, the native REST API under
// /api/v1, the Web Call Server compatible API under /rest-api, and health checks. It is a thin
// translation layer: the work is done by the services it is given through small interfaces, and
// the one place that turns their errors into HTTP statuses is statusOf.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/catalog"
	"github.com/vigilrec/vigil/internal/cluster"
	"github.com/vigilrec/vigil/internal/console"
	"github.com/vigilrec/vigil/internal/egress"
	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/ingest"
	"github.com/vigilrec/vigil/internal/playback"
	"github.com/vigilrec/vigil/internal/pull"
	"github.com/vigilrec/vigil/internal/recorder"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/session"
)

// MaxBodyBytes bounds every request body (SDP offers and JSON alike).
const MaxBodyBytes = 1 << 20

// SessionService starts and stops WebRTC sessions: ingest (WHIP) and egress (WHEP) both fit.
type SessionService interface {
	// Negotiate answers offer for stream name and returns the answer and the session id.
	Negotiate(ctx context.Context, name, offer string) (answer, id string, err error)
	// Stop ends session id of stream name.
	Stop(ctx context.Context, name, id string) error
}

// Streams is the read and control view of the live streams.
type Streams interface {
	List() []*hub.Stream
	Get(name string) (*hub.Stream, error)
	GetByID(id string) (*hub.Stream, error)
}

// ServerStats reports process-wide figures for /api/v1/stats.
type ServerStats interface {
	Viewers() int
	UDPStats() (rtc.UDPStats, error)
}

// Deps are the services the API serves.
type Deps struct {
	Publish SessionService
	Play    SessionService
	Streams Streams
	Stats   ServerStats
	Log     *slog.Logger
	// Recorder and Recordings serve the recording endpoints.
	Recorder   Recorder
	Recordings Recordings
	Storage    Storage
	// Pulls serves /api/v1/pulls and /rest-api/pull/*; nil: those answer 404.
	Pulls Pulls
	// PlaybackMaxRange bounds the range of one export (0: no bound).
	PlaybackMaxRange time.Duration

	// Metrics serves GET /metrics and Health judges streams degraded; either may be nil.
	Metrics http.Handler
	Health  StreamHealth
	// CORS lists the other origins whose pages may call the server.
	CORS CORS
	// Auth checks every request but the health checks and static pages; nil lets all through.
	Auth *auth.Authenticator
	// AuthState is "on" or "off", shown in /api/v1/stats.
	AuthState string
	// Limits bound offers and sessions; Occupancy counts viewers for them and Refusals counts
	// what they refused (both may be nil).
	Limits    Limits
	Occupancy Occupancy
	Refusals  *Refusals
	// Cluster places publishers and finds streams on the other nodes; nil for a single node.
	Cluster Cluster
	// Relay makes a stream another node holds playable here (with Cluster).
	Relay Relay
}

// Relay brings a stream of another node of the cluster here for this node's WHEP viewers.
type Relay interface {
	Ensure(ctx context.Context, name string, node cluster.Node) error
}

// Cluster is this node's view of the cluster (docs/cluster.md).
type Cluster interface {
	Self() cluster.Node
	// Place chooses the node of a new publisher.
	Place(ctx context.Context, name string) (cluster.Node, error)
	// Locate finds the node holding a stream; LocateSession by its media session id.
	Locate(ctx context.Context, name string) (cluster.Node, cluster.Entry, error)
	LocateSession(ctx context.Context, id string) (cluster.Node, string, error)
	// Nodes lists the live nodes.
	Nodes(ctx context.Context) ([]cluster.Node, error)
}

// Server is the HTTP handler of the whole API.
type Server struct {
	deps  Deps
	mux   *http.ServeMux
	ready atomic.Bool
	rates *offerRates
	// patterns are the routes registered, in order (the tests check every one that takes a body).
	patterns []string
}

// New builds the handler. SetReady(true) once the server accepts media.
func New(deps Deps) *Server {
	s := &Server{deps: deps, mux: http.NewServeMux(),
		rates: &offerRates{perSec: deps.Limits.OffersPerSecond, burst: deps.Limits.OfferBurst, clients: map[string]*clientRate{}}}
	s.routes()
	return s
}

// SetReady switches /readyz between 200 and 503.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

func (s *Server) routes() {
	for _, ep := range []struct {
		prefix string
		svc    SessionService
		scope  auth.Scope
	}{{"/whip/", s.deps.Publish, auth.Publish}, {"/whep/", s.deps.Play, auth.Read}} {
		s.handle("POST "+ep.prefix+"{stream}", onPath(ep.scope, "stream"), s.handleOffer(ep.prefix, ep.svc))
		s.handle("DELETE "+ep.prefix+"{stream}/{session}", onPath(ep.scope, "stream"), s.onStreamNode(byPath("stream"), s.handleEndSession(ep.svc)))
		s.handle("PATCH "+ep.prefix+"{stream}/{session}", onPath(ep.scope, "stream"), handleNoTrickle)
	}
	s.handle("GET /healthz", public, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.handle("GET /readyz", public, s.handleReady)
	s.handle("GET /api/v1/streams", perStream(auth.Read), s.handleListStreams)
	s.handle("GET /api/v1/streams/{name}", onPath(auth.Read, "name"), s.onStreamNode(byPath("name"), s.handleGetStream))
	s.handle("DELETE /api/v1/streams/{name}", onPath(auth.Admin, "name"), s.onStreamNode(byPath("name"), s.handleKickStream))
	s.handle("GET /api/v1/stats", everyStream(auth.Admin), s.handleStats)
	console.Routes(func(pattern string, h http.HandlerFunc) { s.handle(pattern, public, h) })
	s.wcsRoutes()
	s.metricsRoutes()
	s.recordingRoutes()
	s.wcsRecordingRoutes()
	s.pullRoutes()
	s.playbackRoutes()
	s.clusterRoutes()
}

// ServeHTTP applies the CORS policy (answering preflights and refusing cross-site requests that
// change something), bounds the body, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.applyCORS(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	// The mux's own 404 and 405 answers are plain text; they go out as JSON errors instead.
	s.mux.ServeHTTP(&muxErrorsAsJSON{ResponseWriter: w, r: r, log: s.deps.Log}, r)
}

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// httpError is an error raised by the API layer itself (bad JSON, wrong content type).
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// statusOf is the one mapping from service errors to HTTP statuses.
func statusOf(err error) int {
	var he *httpError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		return he.status
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, playback.ErrBadRange), errors.Is(err, playback.ErrFormat):
		return http.StatusBadRequest
	case errors.Is(err, playback.ErrNoData):
		return http.StatusNotFound
	case errors.Is(err, playback.ErrMixed):
		return http.StatusConflict
	case errors.Is(err, cluster.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, cluster.ErrNotFound):
		return http.StatusNotFound
	case errors.As(err, new(*cluster.TakenError)):
		return http.StatusConflict
	case errors.Is(err, pull.ErrBadSpec):
		return http.StatusBadRequest
	case errors.Is(err, pull.ErrExists):
		return http.StatusConflict
	case errors.Is(err, pull.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, session.ErrShuttingDown), errors.Is(err, pull.ErrLimit):
		return http.StatusServiceUnavailable
	case errors.Is(err, hub.ErrInvalidName), errors.Is(err, rtc.ErrMalformedSDP),
		errors.Is(err, recorder.ErrBadTemplate), errors.Is(err, recorder.ErrBadOptions):
		return http.StatusBadRequest
	case errors.Is(err, recorder.ErrRefused):
		return http.StatusInsufficientStorage
	case errors.Is(err, recorder.ErrAlreadyRecording), errors.Is(err, catalog.ErrBusy):
		return http.StatusConflict
	case errors.Is(err, recorder.ErrNotRecording), errors.Is(err, catalog.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, rtc.ErrNoSupportedCodec):
		return http.StatusNotAcceptable
	case errors.Is(err, hub.ErrStreamExists), errors.Is(err, egress.ErrNotPublishing):
		return http.StatusConflict
	case errors.Is(err, hub.ErrStreamNotFound), errors.Is(err, ingest.ErrSessionNotFound),
		errors.Is(err, egress.ErrSessionNotFound):
		return http.StatusNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status := statusOf(err)
	if status >= 500 {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	msg := err.Error()
	if status == http.StatusInternalServerError {
		// The cause (often with a path of this machine) goes to the log, not to the client.
		msg = "internal server error: the server's log has the details"
	}
	writeJSON(w, status, errorBody{Status: status, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON reads an optional JSON body into v: an empty body leaves v as it is. A body must
// come as application/json (a cross-site form or text/plain post cannot pass for one). Unknown
// fields and anything after the object are ignored (the Web Call Server endpoints, which scripts
// fill with extra fields).
func decodeJSON(r *http.Request, v any) error { return decodeBody(r, v, false) }

// decodeStrictJSON is decodeJSON for the native API: the body must be one JSON object whose keys
// are all fields of v, spelled exactly, with values of the fields' types, and nothing may follow
// it. A typo ("rotaton") is then an error and not a setting silently left out.
func decodeStrictJSON(r *http.Request, v any) error { return decodeBody(r, v, true) }

func decodeBody(r *http.Request, v any, strict bool) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return &httpError{status: http.StatusBadRequest, msg: "read body: " + err.Error()}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		return &httpError{status: http.StatusUnsupportedMediaType,
			msg: fmt.Sprintf("the body must be JSON sent with Content-Type: application/json (got %q)", ct)}
	}
	if !strict {
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(v); err != nil {
			return badJSON(err)
		}
		return nil
	}
	return decodeObject(body, v)
}

// decodeObject decodes body, one JSON object, into the struct v points to, refusing keys that
// are not v's fields (every one of them is named, with the fields there are), values of the
// wrong type, and trailing data.
func decodeObject(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return &httpError{status: http.StatusBadRequest, msg: "invalid JSON body: the body must be a JSON object, not " + typeErr.Value}
		}
		return badJSON(err)
	}
	if fields == nil {
		return &httpError{status: http.StatusBadRequest, msg: "invalid JSON body: the body must be a JSON object, not null"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &httpError{status: http.StatusBadRequest, msg: "invalid JSON body: trailing data after the JSON object"}
	}
	known := jsonFields(v)
	var unknown []string
	for k := range fields {
		if !slices.Contains(known, k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		word := "field"
		if len(unknown) > 1 {
			word = "fields"
		}
		return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("invalid JSON body: unknown %s %s (the fields are %s)",
			word, strings.Join(unknown, ", "), strings.Join(known, ", "))}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return badJSON(err)
	}
	return nil
}

// badJSON is the 400 of a body that does not decode, naming the field of a value of the wrong
// type (and not the Go type that holds it).
func badJSON(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("invalid JSON body: field %q: %s is not %s",
			typeErr.Field, typeErr.Value, jsonKind(typeErr.Type))}
	}
	return &httpError{status: http.StatusBadRequest, msg: "invalid JSON body: " + strings.TrimPrefix(err.Error(), "json: ")}
}

// jsonKind names a Go type as JSON calls its values.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "of the right type"
}

// jsonFields lists the JSON names of the fields of the struct v points to, in order.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v).Elem()
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// muxErrorsAsJSON rewrites the plain-text 404 and 405 answers of http.ServeMux into JSON errors.
// Handlers' own answers (JSON already) pass through untouched.
type muxErrorsAsJSON struct {
	http.ResponseWriter
	r       *http.Request
	log     *slog.Logger
	rewrote bool
}

func (m *muxErrorsAsJSON) WriteHeader(status int) {
	plain := strings.HasPrefix(m.Header().Get("Content-Type"), "text/plain")
	if plain && !m.rewrote && (status == http.StatusNotFound || status == http.StatusMethodNotAllowed) {
		m.rewrote = true
		m.Header().Del("X-Content-Type-Options")
		msg := "no such endpoint: " + m.r.Method + " " + m.r.URL.Path
		if status == http.StatusMethodNotAllowed {
			msg = "method " + m.r.Method + " is not allowed on " + m.r.URL.Path
		}
		writeError(m.ResponseWriter, m.r, m.log, &httpError{status: status, msg: msg})
		return
	}
	m.ResponseWriter.WriteHeader(status)
}

func (m *muxErrorsAsJSON) Write(b []byte) (int, error) {
	if m.rewrote {
		return len(b), nil // the mux's own text body is dropped
	}
	return m.ResponseWriter.Write(b)
}
