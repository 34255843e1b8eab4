package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/publish"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/testutil"
	"github.com/vigilrec/vigil/internal/whip"
)

// testServer is a real vigil server on loopback ports chosen by the kernel.
type testServer struct {
	t    *testing.T
	app  *App
	base string // http://127.0.0.1:PORT
	api  *webrtc.API
	// http has its own transport so a test can close its idle connections (and their goroutines).
	http *http.Client
}

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startServer runs a server until the test ends; mutate adjusts the default configuration.
func startServer(t *testing.T, mutate func(*config.Config)) *testServer {
	t.Helper()
	return startServerLogging(t, mutate, testLogger(t))
}

// startServerLogging is startServer with the server's log going to log.
func startServerLogging(t *testing.T, mutate func(*config.Config), log *slog.Logger) *testServer {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP = "127.0.0.1:0"
	cfg.UDP = "127.0.0.1:0"
	cfg.Dir = t.TempDir()
	if mutate != nil {
		mutate(&cfg)
	}
	require.NoError(t, cfg.Validate())
	a, err := New(cfg, log)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30 s")
		}
	})
	api, err := rtc.NewClientAPI(testLogger(t))
	require.NoError(t, err)
	scheme, transport := "http://", &http.Transport{}
	if cfg.TLS.Cert != "" {
		pem, err := os.ReadFile(cfg.TLS.Cert)
		require.NoError(t, err)
		roots := x509.NewCertPool()
		require.True(t, roots.AppendCertsFromPEM(pem))
		scheme, transport.TLSClientConfig = "https://", &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	s := &testServer{t: t, app: a, base: scheme + a.HTTPAddr().String(), api: api,
		http: &http.Client{Transport: transport}}
	t.Cleanup(s.http.CloseIdleConnections)
	s.waitFor("server ready", 10*time.Second, func() bool {
		resp, err := s.http.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

// waitFor polls cond every 50 ms until it holds or the deadline passes.
func (s *testServer) waitFor(what string, timeout time.Duration, cond func() bool) {
	s.t.Helper()
	timeout = testutil.Scaled(timeout)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			// What the server saw, so that a failure on a slow machine can be explained.
			_, streams, _ := s.request(http.MethodGet, "/api/v1/streams", "", "")
			_, recordings, _ := s.request(http.MethodGet, "/api/v1/recordings?limit=50", "", "")
			s.t.Fatalf("timed out after %s waiting for %s\nstreams: %s\nrecordings: %s", timeout, what, streams, recordings)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publish starts vigil's own WHIP client on stream name with the built-in 240p clip of codec.
func (s *testServer) publish(name string, codec media.Codec) *publish.Session {
	s.t.Helper()
	return s.publishWith(name, codec, "240p", nil)
}

// publishWith publishes the built-in clip of codec at profile; mutate adjusts the options.
func (s *testServer) publishWith(name string, codec media.Codec, profile string, mutate func(*publish.Options)) *publish.Session {
	s.t.Helper()
	video, err := publish.BuiltinVideo(codec, profile)
	require.NoError(s.t, err)
	audio, err := publish.BuiltinAudio()
	require.NoError(s.t, err)
	opts := publish.Options{
		Endpoint: s.base + "/whip/" + name, Video: video, Audio: audio, API: s.api, Log: testLogger(s.t),
		Client: &whip.Client{HTTP: s.http},
	}
	if mutate != nil {
		mutate(&opts)
	}
	// A connection that fails to establish on a starved machine (ICE checks time out) is tried
	// again: the failed attempt ended its session on the server. A bug fails all three.
	var sess *publish.Session
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		sess, err = publish.Start(ctx, opts)
		cancel()
		if err == nil || attempt == 3 || !strings.Contains(err.Error(), "connection failed") {
			break
		}
		s.t.Logf("publish %s: attempt %d: %v; trying again", name, attempt, err)
	}
	require.NoError(s.t, err, "publish %s", name)
	s.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = sess.Close(ctx)
	})
	return sess
}

// request sends a request and returns the status and body.
func (s *testServer) request(method, path, contentType, body string) (int, string, http.Header) {
	s.t.Helper()
	return s.originRequest(method, path, "", contentType, body)
}

// originRequest sends a request as a page of origin would (empty: as a script would).
func (s *testServer) originRequest(method, path, origin, contentType, body string) (int, string, http.Header) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	require.NoError(s.t, err)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.http.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, string(b), resp.Header
}

// streamJSON fetches GET /api/v1/streams/{name}; ok is false on 404.
func (s *testServer) stream(name string) (map[string]any, bool) {
	s.t.Helper()
	status, body, _ := s.request(http.MethodGet, "/api/v1/streams/"+name, "", "")
	if status == http.StatusNotFound {
		return nil, false
	}
	require.Equal(s.t, http.StatusOK, status, body)
	var out map[string]any
	require.NoError(s.t, json.Unmarshal([]byte(body), &out))
	return out, true
}

// publishing reports whether the stream is listed with media flowing.
func (s *testServer) publishing(name string) bool {
	st, ok := s.stream(name)
	return ok && st["status"] == "publishing"
}

func (s *testServer) String() string { return fmt.Sprintf("vigil at %s", s.base) }
