package app

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
)

// A page of another site cannot drive the API: its state-changing requests are refused and change
// nothing, whatever their content type; a body must be JSON; a listed origin gets CORS headers and
// an unlisted one none; the native API names unknown fields.
func TestCrossSiteRequestsRefused(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.CORS.APIOrigins = []string{"https://console.example"} })
	pull := `{"source":"http://127.0.0.1:1","remote":"cam","local":"Injected"}`

	// A cross-site form or fetch without preflight: text/plain from evil.example.
	status, body, hdr := s.originRequest(http.MethodPost, "/api/v1/pulls", "https://evil.example", "text/plain", pull)
	require.Equal(t, http.StatusForbidden, status, body)
	requireJSONMessage(t, body)
	require.Contains(t, body, "cors.api_origins")
	require.Empty(t, hdr.Get("Access-Control-Allow-Origin"))
	status, body, _ = s.originRequest(http.MethodPost, "/rest-api/pull/pull", "https://evil.example", "",
		`{"uri":"http://127.0.0.1:1","localStreamName":"Injected2","remoteStreamName":"cam"}`)
	require.Equal(t, http.StatusForbidden, status, body)
	// Without an Origin (a script), a body that is not JSON is refused all the same.
	status, body, _ = s.originRequest(http.MethodPost, "/api/v1/pulls", "", "text/plain", pull)
	require.Equal(t, http.StatusUnsupportedMediaType, status, body)
	requireJSONMessage(t, body)
	status, body, _ = s.originRequest(http.MethodPost, "/rest-api/stream/startRecording", "", "application/x-www-form-urlencoded",
		`{"name":"cam"}`)
	require.Equal(t, http.StatusUnsupportedMediaType, status, body)
	require.Empty(t, s.pulls(), "a refused request changed something")

	// The listed origin: preflight and answers carry CORS headers; its POST goes through.
	status, _, hdr = s.originRequest(http.MethodOptions, "/api/v1/pulls", "https://console.example", "", "")
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, "https://console.example", hdr.Get("Access-Control-Allow-Origin"))
	require.Contains(t, hdr.Get("Access-Control-Allow-Methods"), "POST")
	status, body, hdr = s.originRequest(http.MethodPost, "/api/v1/pulls", "https://console.example", "application/json", pull)
	require.Equal(t, http.StatusCreated, status, body)
	require.Equal(t, "https://console.example", hdr.Get("Access-Control-Allow-Origin"))
	// An unlisted origin: no CORS headers on a preflight or a read.
	for _, method := range []string{http.MethodOptions, http.MethodGet} {
		_, _, hdr = s.originRequest(method, "/api/v1/pulls", "https://evil.example", "", "")
		require.Empty(t, hdr.Get("Access-Control-Allow-Origin"), method)
	}
	// vigil's own pages (same origin) are always allowed.
	status, body, _ = s.originRequest(http.MethodDelete, "/api/v1/pulls/Injected", s.base, "", "")
	require.Equal(t, http.StatusOK, status, body)
	// WHIP and WHEP accept any origin by default (players embedded elsewhere).
	_, _, hdr = s.originRequest(http.MethodOptions, "/whip/cam", "https://evil.example", "", "")
	require.Equal(t, "https://evil.example", hdr.Get("Access-Control-Allow-Origin"))

	// The native API names a field it does not know instead of ignoring it.
	status, body, _ = s.request(http.MethodPost, "/api/v1/streams/cam/recording", "application/json", `{"rotaton":"10s"}`)
	require.Equal(t, http.StatusBadRequest, status, body)
	require.Contains(t, body, "rotaton")
	status, body, _ = s.request(http.MethodPost, "/api/v1/pulls", "application/json", `{"source":"http://a:1","remote":"x","quantity":3}`)
	require.Equal(t, http.StatusBadRequest, status, body)
	require.Contains(t, body, "quantity")
}
