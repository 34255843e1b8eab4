package app

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/publish"
)

// A publisher whose audio starts 1 s after its video: in the file, audio begins where it began in
// wall-clock time relative to the first recorded video frame (within 100 ms). The recording starts
// automatically with the stream, so its first video frame is the publisher's very first frame.
func TestAudioVideoSyncWithLateAudio(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.Record.Auto = "all" })
	pub := s.publishWith("late-audio", media.H264, "240p", func(o *publish.Options) {
		o.AudioDelay = time.Second
		o.IgnoreKeyframeRequests = true // keyframes only at 0 s, 2 s, … of the clip
	})
	s.waitFor("recording with audio", 15*time.Second, func() bool {
		st, ok := s.stream("late-audio")
		return ok && st["audio"] != nil && st["audio"].(map[string]any)["packets"].(float64) > 50
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stats := pub.Stats()
	status, body, _ := s.request(http.MethodDelete, "/api/v1/streams/late-audio/recording", "", "")
	require.Equal(t, http.StatusOK, status, body)
	require.NoError(t, pub.Close(ctx))

	segs := s.segments("stream=late-audio")
	require.Len(t, segs, 1)
	p := probeFile(t, filepath.Join(s.app.store.Dir(), segs[0].Path))
	truth := stats.FirstAudioAt.Sub(stats.FirstVideoAt).Seconds()
	got := p.Stream("opus").StartTime - p.Stream("h264").StartTime
	t.Logf("audio starts %.3f s after video in the file; %.3f s in wall-clock time", got, truth)
	require.InDelta(t, truth, got, 0.1)
}

// Recording a stream whose audio and video both flow: the tracks start together (sender reports
// align them) and stay aligned to the end.
func TestAudioVideoAlignedMidStream(t *testing.T) {
	s := startServer(t, nil)
	s.publish("both", media.VP8)
	s.waitFor("sender reports for both tracks", 15*time.Second, func() bool {
		st, err := s.app.Hub().Get("both")
		if err != nil {
			return false
		}
		_, v := st.SenderReport(0)
		_, a := st.SenderReport(1)
		return v && a
	})
	status, body, _ := s.request(http.MethodPost, "/api/v1/streams/both/recording", "application/json", "{}")
	require.Equal(t, http.StatusCreated, status, body)
	s.waitFor("3 s recorded", 15*time.Second, func() bool {
		_, body, _ := s.request(http.MethodGet, "/api/v1/streams/both/recording", "", "")
		return recordedSeconds(t, body) >= 3
	})
	status, body, _ = s.request(http.MethodDelete, "/api/v1/streams/both/recording", "", "")
	require.Equal(t, http.StatusOK, status, body)
	segs := s.segments("stream=both")
	require.Len(t, segs, 1)
	p := probeFile(t, filepath.Join(s.app.store.Dir(), segs[0].Path))
	require.InDelta(t, p.Stream("vp8").StartTime, p.Stream("opus").StartTime, 0.1)
}
