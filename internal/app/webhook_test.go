package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/webhook"
)

// A recording's life reaches a webhook receiver as signed events.
func TestWebhooksForARecording(t *testing.T) {
	var mu sync.Mutex
	var types []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(webhook.SignatureHeader) != "sha256="+webhook.Sign("k", body) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev webhook.Event
		if json.Unmarshal(body, &ev) != nil || ev.ID == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		types = append(types, ev.Type)
		mu.Unlock()
	}))
	defer recv.Close()
	s := startServer(t, func(c *config.Config) {
		c.Webhooks.URLs, c.Webhooks.Secret = []string{recv.URL}, "k"
	})
	s.publish("hooked", media.H264)
	s.waitFor("publishing", 15*time.Second, func() bool { return s.publishing("hooked") })
	status, body, _ := s.request(http.MethodPost, "/api/v1/streams/hooked/recording", "application/json", `{}`)
	require.Equal(t, http.StatusCreated, status, body)
	s.waitFor("a second recorded", 15*time.Second, func() bool {
		_, body, _ := s.request(http.MethodGet, "/api/v1/streams/hooked/recording", "", "")
		return recordedSeconds(t, body) >= 1
	})
	status, body, _ = s.request(http.MethodDelete, "/api/v1/streams/hooked/recording", "", "")
	require.Equal(t, http.StatusOK, status, body)
	seg := s.segments("stream=hooked")[0]
	status, body, _ = s.request(http.MethodDelete, "/api/v1/recordings/"+seg.ID, "", "")
	require.Equal(t, http.StatusNoContent, status, body)
	want := []string{"recording.started", "segment.closed", "recording.stopped", "segment.deleted"}
	s.waitFor("the events", 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(types) >= len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	require.ElementsMatch(t, want, types)
}
