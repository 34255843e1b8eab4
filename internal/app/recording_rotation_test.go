package app

import (
	"net/http"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
)

// Rotation by time (5 s over a 32 s recording) and by size (2M at 1080p): segments start with a
// keyframe, follow each other without gap or overlap beyond one frame, add up to the whole, and
// size-rotated ones stay under the limit plus one GOP.
func TestRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("records for 32 s")
	}
	s := startServer(t, nil)
	s.publish("by-time", media.H264)
	s.publishWith("by-size", media.H264, "1080p", nil)
	for _, name := range []string{"by-time", "by-size"} {
		s.waitFor(name+" publishing", 15*time.Second, func() bool { return s.publishing(name) })
	}
	status, body, _ := s.request(http.MethodPost, "/api/v1/streams/by-time/recording", "application/json", `{"rotation":"5s"}`)
	require.Equal(t, http.StatusCreated, status, body)
	status, body, _ = s.request(http.MethodPost, "/rest-api/stream/startRecording", "application/json",
		`{"mediaSessionId":"`+s.streamID("by-size")+`","config":{"rotation":"2M"}}`)
	require.Equal(t, http.StatusOK, status, body)

	s.waitFor("32 s recorded", 60*time.Second, func() bool {
		_, body, _ := s.request(http.MethodGet, "/api/v1/streams/by-time/recording", "", "")
		return recordedSeconds(t, body) >= 32
	})
	for _, name := range []string{"by-time", "by-size"} {
		status, body, _ := s.request(http.MethodDelete, "/api/v1/streams/"+name+"/recording", "", "")
		require.Equal(t, http.StatusOK, status, body)
	}

	t.Run("5s", func(t *testing.T) {
		segs := s.segments("stream=by-time")
		sort.Slice(segs, func(i, j int) bool { return segs[i].Segment < segs[j].Segment })
		require.GreaterOrEqual(t, len(segs), 6)
		var sum float64
		for i, seg := range segs {
			path := filepath.Join(s.app.store.Dir(), seg.Path)
			p := probeFile(t, path)
			t.Logf("segment %d: %.3f s from %s", seg.Segment, p.Duration, seg.Start.Format("15:04:05.000"))
			require.True(t, firstFrameIsKey(t, path), "segment %d does not start with a keyframe", seg.Segment)
			require.Empty(t, decodeErrors(t, path))
			// The catalog's times are the file's: what the index says is what a player gets.
			require.InDelta(t, seg.Duration, p.Duration, 0.040, "segment %d: catalog and file durations", seg.Segment)
			sum += p.Stream("h264").Duration
			if i > 0 {
				gap := seg.Start.Sub(segs[i-1].End)
				require.LessOrEqual(t, gap.Abs(), 40*time.Millisecond, "gap or overlap between segments %d and %d", i, i+1)
			}
		}
		whole := segs[len(segs)-1].End.Sub(segs[0].Start).Seconds()
		require.InDelta(t, whole, sum, 0.040*float64(len(segs)), "segments add up to %.3f s of %.3f s", sum, whole)
	})
	t.Run("2M", func(t *testing.T) {
		segs := s.segments("stream=by-size")
		require.GreaterOrEqual(t, len(segs), 3)
		const gop = 2 * 2_700_000 / 8 // 2 s at the clip's 2.7 Mbps
		for _, seg := range segs {
			t.Logf("segment %d: %d bytes", seg.Segment, seg.Bytes)
			require.LessOrEqual(t, seg.Bytes, int64(2_000_000+gop))
			path := filepath.Join(s.app.store.Dir(), seg.Path)
			require.True(t, firstFrameIsKey(t, path))
			require.Empty(t, decodeErrors(t, path))
		}
	})
}

// streamID returns the media session id of a live stream.
func (s *testServer) streamID(name string) string {
	s.t.Helper()
	st, ok := s.stream(name)
	require.True(s.t, ok, "stream %s not found", name)
	return st["id"].(string)
}
