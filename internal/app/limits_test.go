package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
)

// fakeOffer is an SDP body with sections m-lines and candidates candidates: the limits judge an
// offer before it is negotiated.
func fakeOffer(sections, candidates, pad int) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	for range sections {
		b.WriteString("m=video 9 UDP/TLS/RTP/SAVPF 96\r\n")
	}
	for i := range candidates {
		fmt.Fprintf(&b, "a=candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host\r\n", i, 5000+i)
	}
	b.WriteString(strings.Repeat("a=x\r\n", pad))
	return b.String()
}

func (s *testServer) offer(path, body, token string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.http.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var e struct{ Message string }
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Message
}

func (s *testServer) goroutines() int {
	s.t.Helper()
	_, body, _ := s.request(http.MethodGet, "/api/v1/stats", "", "")
	var st struct{ Goroutines int }
	require.NoError(s.t, json.Unmarshal([]byte(body), &st))
	return st.Goroutines
}

// Each limit trips with its status and a message naming it, counts in /metrics, and leaves the
// server healthy: the streams already live keep flowing and goroutines come back to where they
// were.
func TestLimitsTrip(t *testing.T) {
	s := startServer(t, func(c *config.Config) {
		c.Limits.Publishers, c.Limits.Viewers, c.Limits.ViewersPerStream = 2, 0, 1
		c.Limits.SDPBytes, c.Limits.MediaSections, c.Limits.Candidates = 4<<10, 3, 4
	})
	s.publish("cam-1", media.H264)
	s.publish("cam-2", media.H264)
	s.waitFor("both publishing", 20*time.Second, func() bool { return s.publishing("cam-1") && s.publishing("cam-2") })
	s.view("cam-1")
	// The baseline once the viewer's session has settled (its goroutines start as media flows).
	baseline, last := 0, -1
	s.waitFor("a steady goroutine count", 20*time.Second, func() bool {
		time.Sleep(500 * time.Millisecond)
		baseline, last = s.goroutines(), baseline
		return baseline == last
	})

	for _, tc := range []struct {
		path, body string
		status     int
		key        string
	}{
		{"/whip/cam-3", fakeOffer(2, 1, 0), http.StatusServiceUnavailable, "limits.publishers"},
		{"/whip/cam-3", fakeOffer(2, 1, 1000), http.StatusRequestEntityTooLarge, "limits.sdp_bytes"},
		{"/whip/cam-3", fakeOffer(4, 1, 0), http.StatusBadRequest, "limits.media_sections"},
		{"/whip/cam-3", fakeOffer(2, 5, 0), http.StatusBadRequest, "limits.candidates"},
		{"/whep/cam-1", fakeOffer(2, 1, 0), http.StatusServiceUnavailable, "limits.viewers_per_stream"},
	} {
		for range 20 {
			status, msg := s.offer(tc.path, tc.body, "")
			require.Equal(t, tc.status, status, "%s: %s", tc.key, msg)
			require.Contains(t, msg, tc.key)
		}
	}
	m := s.scrapeMetrics()
	for limit, want := range map[string]float64{"publishers": 20, "sdp_bytes": 20, "media_sections": 20, "candidates": 20,
		"viewers_per_stream": 20, "viewers": 0} {
		v, ok := m.get("vigil_limit_refusals_total", "limit", limit)
		require.True(t, ok, limit)
		require.Equal(t, want, v, limit)
	}

	frames := func(name string) float64 {
		st, ok := s.stream(name)
		require.True(t, ok, name)
		return st["video"].(map[string]any)["frames"].(float64)
	}
	before := frames("cam-1") + frames("cam-2")
	s.waitFor("the live streams still flowing", 10*time.Second, func() bool { return frames("cam-1")+frames("cam-2") > before+30 })
	s.waitFor("goroutines back to where they were", 20*time.Second, func() bool {
		return s.goroutines() <= baseline+5
	})
	status, _, _ := s.request(http.MethodGet, "/healthz", "", "")
	require.Equal(t, http.StatusOK, status)

	// The total of viewers, on a server allowing one.
	one := startServer(t, func(c *config.Config) { c.Limits.Viewers = 1 })
	one.publish("cam", media.H264)
	one.waitFor("publishing", 20*time.Second, func() bool { return one.publishing("cam") })
	one.view("cam")
	status, msg := one.offer("/whep/cam", fakeOffer(2, 1, 0), "")
	require.Equal(t, http.StatusServiceUnavailable, status, msg)
	require.Contains(t, msg, "limits.viewers")
	v, ok := one.scrapeMetrics().get("vigil_limit_refusals_total", "limit", "viewers")
	require.True(t, ok)
	require.Equal(t, 1.0, v)
}

// Offers from one address beyond the rate get 429 (the trusted networks are exempt, so the test
// trusts none and calls with a token).
func TestOfferRateLimit(t *testing.T) {
	s := startServer(t, func(c *config.Config) {
		c.Auth.TrustedNetworks = nil
		c.Auth.Tokens = config.Tokens{{Name: "ops", SHA256: auth.HashToken("ops"), Scopes: []string{"admin"}}}
		c.Limits.OffersPerSecond, c.Limits.OfferBurst = 1, 3
	})
	var statuses []int
	for range 6 {
		status, _ := s.offer("/whip/x", fakeOffer(2, 1, 0), "ops")
		statuses = append(statuses, status)
	}
	require.NotEqual(t, http.StatusTooManyRequests, statuses[0])
	require.Contains(t, statuses, http.StatusTooManyRequests, "%v", statuses)
	status, msg := s.offer("/whip/x", fakeOffer(2, 1, 0), "ops")
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Contains(t, msg, "too many offers")
}
