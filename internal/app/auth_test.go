package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/publish"
)

// authRoute is one endpoint and what it needs: scope over stream (a path's stream), over every
// stream (every), or over some stream (the handler filters or checks the streams itself).
type authRoute struct {
	method, path, body string
	scope              auth.Scope
	stream             string
	every              bool
}

// Every route of the API with the access it needs (public ones: /healthz, /readyz and the
// console's pages and files).
var authRoutes = []authRoute{
	{"POST", "/whip/cam-1", "v=0", auth.Publish, "cam-1", false},
	{"DELETE", "/whip/cam-1/s1", "", auth.Publish, "cam-1", false},
	{"PATCH", "/whip/cam-1/s1", "", auth.Publish, "cam-1", false},
	{"POST", "/whep/cam-1", "v=0", auth.Read, "cam-1", false},
	{"DELETE", "/whep/cam-1/s1", "", auth.Read, "cam-1", false},
	{"PATCH", "/whep/cam-1/s1", "", auth.Read, "cam-1", false},
	{"GET", "/api/v1/streams", "", auth.Read, "", false},
	{"GET", "/api/v1/streams/cam-1", "", auth.Read, "cam-1", false},
	{"DELETE", "/api/v1/streams/cam-1", "", auth.Admin, "cam-1", false},
	{"GET", "/api/v1/stats", "", auth.Admin, "", true},
	{"POST", "/api/v1/streams/cam-1/recording", "{}", auth.Record, "cam-1", false},
	{"GET", "/api/v1/streams/cam-1/recording", "", auth.Record, "cam-1", false},
	{"DELETE", "/api/v1/streams/cam-1/recording", "", auth.Record, "cam-1", false},
	{"GET", "/api/v1/recordings?stream=cam-1", "", auth.Record, "cam-1", false},
	{"GET", "/api/v1/recordings/nosuch", "", auth.Record, "", false},
	{"DELETE", "/api/v1/recordings/nosuch", "", auth.Admin, "", false},
	{"GET", "/api/v1/storage", "", auth.Admin, "", true},
	{"GET", "/api/v1/storage/history", "", auth.Admin, "", true},
	{"POST", "/api/v1/pulls", "{}", auth.Admin, "", true},
	{"GET", "/api/v1/pulls", "", auth.Admin, "", true},
	{"GET", "/api/v1/pulls/x", "", auth.Admin, "", true},
	{"DELETE", "/api/v1/pulls/x", "", auth.Admin, "", true},
	{"POST", "/rest-api/stream/find", `{"name":"cam-1"}`, auth.Read, "", false},
	{"POST", "/rest-api/stream/find_all", "{}", auth.Read, "", false},
	{"GET", "/rest-api/stream/find_all", "", auth.Read, "", false},
	{"POST", "/rest-api/stream/terminate", `{"name":"cam-1"}`, auth.Admin, "", false},
	{"POST", "/rest-api/stream/startRecording", `{"name":"cam-1"}`, auth.Record, "", false},
	{"POST", "/rest-api/recorder/startup", `{"name":"cam-1"}`, auth.Record, "", false},
	{"POST", "/rest-api/stream/stopRecording", `{"name":"cam-1"}`, auth.Record, "", false},
	{"POST", "/rest-api/recorder/terminate", `{"name":"cam-1"}`, auth.Record, "", false},
	{"POST", "/rest-api/recorder/find_all", "{}", auth.Record, "", false},
	{"GET", "/rest-api/recorder/find_all", "", auth.Record, "", false},
	{"POST", "/rest-api/pull/pull", "{}", auth.Admin, "", true},
	{"POST", "/rest-api/pull/find_all", "{}", auth.Admin, "", true},
	{"GET", "/rest-api/pull/find_all", "", auth.Admin, "", true},
	{"POST", "/rest-api/pull/terminate", `{"localStreamName":"x"}`, auth.Admin, "", true},
	{"GET", "/metrics", "", auth.Admin, "", true},
}

// credential is a way to call: a token granting scope over streams, or one that must be refused.
type credential struct {
	name, token string
	scope       auth.Scope
	streams     []string
	refused     bool // 401 whatever the route
}

func (c credential) allows(r authRoute) bool {
	if c.refused || (c.scope != r.scope && c.scope != auth.Admin) {
		return false
	}
	covers := func(s string) bool {
		g := auth.NewGrant(c.name, []auth.Scope{c.scope}, c.streams)
		return g.Covers(s)
	}
	switch {
	case r.stream != "":
		return covers(r.stream)
	case r.every:
		return len(c.streams) == 0
	}
	return true
}

func signedJWT(t *testing.T, secret string, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(secret)}, nil)
	require.NoError(t, err)
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return raw
}

// With tokens configured and no trusted network, each scope reaches exactly its routes: a
// table of every route × every scope (over every stream, over cam-*, over other-*) × no token,
// an unknown token and an expired JWT. A publisher's token cannot touch another's stream; a
// viewer's cannot record or delete.
func TestEveryRouteEveryScope(t *testing.T) {
	const secret = "a-shared-secret-long-enough-for-hs256"
	var creds []credential
	var tokens config.Tokens
	for _, scope := range auth.Scopes {
		for _, streams := range [][]string{nil, {"cam-*"}, {"other-*"}} {
			name := fmt.Sprintf("%s-%s", scope, strings.Join(streams, ","))
			token := "tok-" + name
			creds = append(creds, credential{name: name, token: token, scope: scope, streams: streams})
			tokens = append(tokens, config.Token{Name: name, SHA256: auth.HashToken(token), Scopes: []string{string(scope)}, Streams: streams})
		}
	}
	creds = append(creds,
		credential{name: "jwt record cam-*", scope: auth.Record, streams: []string{"cam-*"}, token: signedJWT(t, secret,
			map[string]any{"sub": "rec", "scope": "record", "streams": []string{"cam-*"}, "exp": time.Now().Add(time.Hour).Unix()})},
		credential{name: "no token", refused: true},
		credential{name: "unknown token", token: "not-a-token", refused: true},
		credential{name: "expired jwt", refused: true, token: signedJWT(t, secret,
			map[string]any{"sub": "old", "scope": "admin", "exp": time.Now().Add(-time.Hour).Unix()})},
	)
	s := startServer(t, func(c *config.Config) {
		c.Auth.TrustedNetworks = nil // the test calls from loopback: trust nothing
		c.Auth.Tokens = tokens
		c.Auth.JWTHS256Secret = secret
	})
	for _, r := range authRoutes {
		for _, c := range creds {
			req, err := http.NewRequest(r.method, s.base+r.path, strings.NewReader(r.body))
			require.NoError(t, err)
			if r.body != "" {
				req.Header.Set("Content-Type", "application/json")
				if r.body == "v=0" {
					req.Header.Set("Content-Type", "application/sdp")
				}
			}
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := s.http.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			what := fmt.Sprintf("%s %s with %s", r.method, r.path, c.name)
			switch {
			case c.refused:
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode, what)
				require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Bearer", what)
			case c.allows(r):
				require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, resp.StatusCode, what)
			case r.path == "/metrics":
				require.Equal(t, http.StatusUnauthorized, resp.StatusCode, what)
			default:
				require.Equal(t, http.StatusForbidden, resp.StatusCode, what)
			}
		}
	}
	for _, path := range []string{"/healthz", "/readyz", "/", "/publish", "/watch/cam-1", "/console/console.js"} {
		status, _, _ := s.request(http.MethodGet, path, "", "")
		require.Equal(t, http.StatusOK, status, path)
	}
	status, body, _ := s.request(http.MethodGet, "/api/v1/recordings", "", "")
	require.Equal(t, http.StatusUnauthorized, status, body)
	requireJSONMessage(t, body)
}

// A token limited to some streams sees only those in lists, and lists recordings one stream at
// a time; a token's stream listing never shows another's.
func TestScopedTokenListsItsStreams(t *testing.T) {
	s := startServer(t, func(c *config.Config) {
		c.Auth.TrustedNetworks = nil
		c.Auth.Tokens = config.Tokens{
			{Name: "pub", SHA256: auth.HashToken("pub"), Scopes: []string{"publish"}},
			{Name: "cams", SHA256: auth.HashToken("cams"), Scopes: []string{"read", "record"}, Streams: []string{"cam-*"}},
			{Name: "ops", SHA256: auth.HashToken("ops"), Scopes: []string{"admin"}},
		}
	})
	for _, name := range []string{"cam-1", "lobby"} {
		s.publishWith(name, media.H264, "240p", withToken("pub"))
	}
	s.waitFor("both receiving", 20*time.Second, func() bool {
		return s.receivingWithToken("cam-1", "ops") && s.receivingWithToken("lobby", "ops")
	})
	_, body := s.authGet("/api/v1/streams", "cams")
	require.NotContains(t, body, "lobby")
	_, body = s.authGet("/rest-api/stream/find_all", "cams")
	require.NotContains(t, body, "lobby")
	status, body := s.authGet("/api/v1/recordings", "cams")
	require.Equal(t, http.StatusForbidden, status, body)
	require.Contains(t, body, "?stream=")
	status, _ = s.authGet("/api/v1/recordings?stream=cam-1", "cams")
	require.Equal(t, http.StatusOK, status)
	status, _ = s.authGet("/api/v1/recordings?stream=lobby", "cams")
	require.Equal(t, http.StatusForbidden, status)
	status, _ = s.authGet("/api/v1/streams/lobby", "cams")
	require.Equal(t, http.StatusForbidden, status)
}

func (s *testServer) authGet(path, token string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.base+path, nil)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.http.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, string(b)
}

// receivingWithToken is receiving for a server that wants a token: video and audio frames have
// arrived (so the test's publisher does not end while its first packets are on the way).
func (s *testServer) receivingWithToken(name, token string) bool {
	status, body := s.authGet("/api/v1/streams/"+name, token)
	if status != http.StatusOK {
		return false
	}
	var st struct {
		Video, Audio *struct{ Frames, Packets int }
	}
	require.NoError(s.t, json.Unmarshal([]byte(body), &st))
	return st.Video != nil && st.Audio != nil && st.Video.Frames > 0 && st.Audio.Packets > 0
}

// withToken makes a publisher send a bearer token.
func withToken(token string) func(*publish.Options) {
	return func(o *publish.Options) { o.Client.BearerToken = token }
}

// The brief's start script runs unchanged from a trusted network (every Web Call Server script
// test runs it from loopback, trusted by default); from an address that is not trusted, the same
// calls get 401 and start nothing.
func TestStartScriptFromAnUntrustedAddress(t *testing.T) {
	s := startServer(t, func(c *config.Config) {
		c.Auth.TrustedNetworks = []string{"10.0.0.0/8"} // not the test's loopback
		c.Auth.Tokens = config.Tokens{{Name: "ops", SHA256: auth.HashToken("ops"), Scopes: []string{"admin"}}}
	})
	s.publishWith("Stream-1", media.H264, "240p", withToken("ops"))
	s.waitFor("receiving", 15*time.Second, func() bool { return s.receivingWithToken("Stream-1", "ops") })
	runScript(t, s, startScript, 1)
	status, body := s.authGet("/rest-api/recorder/find_all", "ops")
	require.Equal(t, http.StatusNotFound, status, "a recording was started: %s", body)
	status, body, _ = s.request(http.MethodPost, "/rest-api/stream/startRecording", "application/json", `{"name":"Stream-1"}`)
	require.Equal(t, http.StatusUnauthorized, status, body)
}
