package app

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
)

// lockedBuffer is a log destination written by many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A pull is no way to read internal pages: a remote answering with a secret page, and one that
// redirects to it, leave no trace of the secret in any API answer or log line; the redirect is
// not followed; the credentials in a source URL are shown redacted; pull.allowed_sources and
// pull.max_pulls refuse with clear errors.
func TestPullNeverEchoesNorFollows(t *testing.T) {
	const secret = "TOP-SECRET-7f3a9c"
	var viaRedirect atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/redirected") {
			viaRedirect.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"message":%q}`+"\n%s\n", secret, secret)
	}))
	defer internal.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/redirected/whep", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()

	logs := &lockedBuffer{}
	s := startServerLogging(t, func(c *config.Config) { c.Pull.MaxPulls = 3 },
		slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	withCredentials := strings.Replace(internal.URL, "http://", "http://admin:hunter2@", 1) + "/cam/whep"
	status, body := s.startPull(withCredentials, "", "Secret", 0)
	require.Equal(t, http.StatusCreated, status, body)
	status, body = s.startPull(redirector.URL+"/cam/whep", "", "Redirected", 0)
	require.Equal(t, http.StatusCreated, status, body)
	s.waitFor("both pulls failing twice", 20*time.Second, func() bool {
		p := s.pulls()
		return p["Secret"].Attempts >= 2 && p["Redirected"].Attempts >= 2
	})
	p := s.pulls()
	t.Logf("secret page: %s", p["Secret"].LastError)
	t.Logf("redirect: %s", p["Redirected"].LastError)
	require.Contains(t, p["Secret"].LastError, "500")
	require.Contains(t, p["Redirected"].LastError, "307")
	require.Zero(t, viaRedirect.Load(), "the redirect was followed")
	require.Contains(t, p["Secret"].Source, "***@")

	status, body = s.startPull(internal.URL+"/a/whep", "", "Third", 0)
	require.Equal(t, http.StatusCreated, status, body)
	status, body = s.startPull(internal.URL+"/b/whep", "", "Fourth", 0)
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	require.Contains(t, body, "pull.max_pulls")

	var answers []string
	for _, path := range []string{"/api/v1/pulls", "/api/v1/pulls/Secret", "/api/v1/pulls/Redirected", "/rest-api/pull/find_all"} {
		status, body, _ := s.request(http.MethodGet, path, "", "")
		require.Equal(t, http.StatusOK, status, "%s: %s", path, body)
		answers = append(answers, body)
	}
	for _, text := range append(answers, logs.String()) {
		require.NotContains(t, text, secret)
		require.NotContains(t, text, "hunter2")
	}
}

// With pull.allowed_sources, a source outside the list is refused at once (400), and a host
// name that resolves outside the listed networks is refused when connecting.
func TestPullAllowedSources(t *testing.T) {
	origin := startServer(t, nil)
	s := startServer(t, func(c *config.Config) { c.Pull.AllowedSources = []string{"10.0.0.0/8", "origin.example"} })
	status, body := s.startPull(origin.base, "cam", "Local", 0)
	require.Equal(t, http.StatusBadRequest, status, body)
	require.Contains(t, body, "pull.allowed_sources")
	port := origin.base[strings.LastIndex(origin.base, ":")+1:]
	status, body = s.startPull("http://localhost:"+port, "cam", "ByName", 0)
	require.Equal(t, http.StatusCreated, status, body)
	s.waitFor("the connection refused", 15*time.Second, func() bool { return s.pulls()["ByName"].Attempts >= 1 })
	require.Contains(t, s.pulls()["ByName"].LastError, "pull.allowed_sources")
}
