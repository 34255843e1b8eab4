package cli

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
)

func TestHealthcheckAnswers(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/healthz", r.URL.Path)
		w.WriteHeader(status)
	}))
	defer srv.Close()

	code, out, errOut := run("healthcheck", "--url", srv.URL+"/healthz")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "200 OK")

	status = http.StatusServiceUnavailable
	code, _, errOut = run("healthcheck", "--url", srv.URL+"/healthz")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "503 Service Unavailable")
}

func TestHealthURLFollowsTheConfiguredAddress(t *testing.T) {
	for _, tc := range []struct {
		http, cert, want string
	}{
		{":8081", "", "http://127.0.0.1:8081/healthz"},
		{"0.0.0.0:9000", "", "http://127.0.0.1:9000/healthz"},
		{"[::]:9000", "", "http://[::1]:9000/healthz"},
		{"10.1.2.3:8443", "/etc/vigil/cert.pem", "https://10.1.2.3:8443/healthz"},
	} {
		cfg := config.Default()
		cfg.HTTP, cfg.TLS.Cert = tc.http, tc.cert
		require.Equal(t, tc.want, healthURL(cfg), tc.http)
	}
}

func TestHealthcheckReadsTheEnvironment(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	t.Setenv("VIGIL_HTTP", srv.Listener.Addr().String())
	code, out, errOut := run("healthcheck")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "http://"+srv.Listener.Addr().String()+"/healthz")
}
