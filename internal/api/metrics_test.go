package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
)

type degradedTestSource struct{}

func (degradedTestSource) RequestKeyframe() {}
func (degradedTestSource) Disconnect()      {}

// healthByName judges streams by name.
type healthByName map[string][]string

func (h healthByName) Reasons(snap hub.Snapshot) []string { return h[snap.Name] }

func publishTestStream(t *testing.T, h *hub.Hub, name string) {
	t.Helper()
	st, err := h.Create(name, degradedTestSource{})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	st.SetTracks([]hub.TrackInfo{{Kind: media.KindVideo, Codec: media.VP8, ClockRate: 90000}})
	st.Write(&media.Packet{RTP: &rtp.Packet{Payload: []byte{1}}, Kind: media.KindVideo})
}

func serveGet(t *testing.T, s *Server, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func TestStreamsShowDegradedAndMetricsRoute(t *testing.T) {
	h := hub.New(hub.Config{})
	publishTestStream(t, h, "bad")
	publishTestStream(t, h, "good")
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte("streams_stats{param=\"streams_webrtc_in\"} 2\n"))
	})
	s := New(Deps{Streams: h, Log: slog.New(slog.DiscardHandler), Metrics: metrics,
		Health: healthByName{"bad": {"loss", "fps_drop"}}})

	rec := serveGet(t, s, "/api/v1/streams")
	require.Equal(t, http.StatusOK, rec.Code)
	var list struct {
		Streams []struct {
			Name     string
			Degraded bool
			Reasons  []string
		}
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
	require.Len(t, list.Streams, 2)
	require.True(t, list.Streams[0].Degraded)
	require.Equal(t, []string{"loss", "fps_drop"}, list.Streams[0].Reasons)
	require.False(t, list.Streams[1].Degraded)
	require.NotNil(t, list.Streams[1].Reasons)
	require.Contains(t, serveGet(t, s, "/api/v1/streams/good").Body.String(), `"degraded":false,"reasons":[]`)

	rec = serveGet(t, s, "/metrics")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `streams_stats{param="streams_webrtc_in"} 2`)

	// Without metrics: no route, and streams are never degraded.
	s = New(Deps{Streams: h, Log: slog.New(slog.DiscardHandler)})
	require.Equal(t, http.StatusNotFound, serveGet(t, s, "/metrics").Code)
	require.Contains(t, serveGet(t, s, "/api/v1/streams/bad").Body.String(), `"degraded":false,"reasons":[]`)
}
