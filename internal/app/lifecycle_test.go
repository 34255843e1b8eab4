package app

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
)

// A subscriber that stops reading loses its own packets and nothing else: the publisher loses
// nothing and a viewer of the same stream receives every packet, in order, decodable.
func TestStalledSubscriberHarmsNoOne(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.Hub.QueuePackets = 128 })
	s.publish("shared", media.H264)
	s.waitFor("shared publishing", 15*time.Second, func() bool { return s.publishing("shared") })
	stream, err := s.app.Hub().Get("shared")
	require.NoError(t, err)
	stalled, err := stream.Subscribe(hub.SubscribeOptions{})
	require.NoError(t, err)
	defer stalled.Close()
	v := s.view("shared")

	s.waitFor("the stalled subscriber to overflow", 20*time.Second, func() bool { return stalled.Dropped() > 100 })
	// Then three more seconds of video at the viewer.
	_, before, _ := v.videoWithin(time.Hour)
	s.waitFor("3 s of video after the overflow", 20*time.Second, func() bool {
		_, pkts, _ := v.videoWithin(time.Hour)
		return len(pkts) > len(before) && time.Duration(pkts[len(pkts)-1].Timestamp-before[len(before)-1].Timestamp)*time.Second/90000 >= 3*time.Second
	})
	_, pkts, _ := v.videoWithin(time.Hour)
	for i := 1; i < len(pkts); i++ {
		require.Equal(t, pkts[i-1].SequenceNumber+1, pkts[i].SequenceNumber, "viewer saw a gap at packet %d", i)
	}
	// What matters here is that the viewer got every frame in time; the decoder's remarks are
	// checked by TestPublishAndView.
	frames, errs := decode(t, writeVideo(t, media.H264, pkts))
	if errs != "" {
		t.Logf("decoder remarks: %s", errs)
	}
	span := time.Duration(pkts[len(pkts)-1].Timestamp-pkts[0].Timestamp) * time.Second / 90000
	require.GreaterOrEqual(t, float64(frames), 0.9*30*span.Seconds(), "viewer got %d frames over %s", frames, span)

	st, ok := s.stream("shared")
	require.True(t, ok)
	require.EqualValues(t, 0, st["video"].(map[string]any)["lost"], "the publisher lost packets")
	require.Greater(t, st["subscriberDrops"].(float64), 100.0, "the drops are counted in the API")
	require.Equal(t, 2.0, st["subscribers"])
}

// After every session ends, the server is back to the goroutines it had before any arrived.
func TestGoroutinesReturnToBaseline(t *testing.T) {
	s := startServer(t, nil)
	settle := func() int {
		s.http.CloseIdleConnections()
		return runtime.NumGoroutine()
	}
	baseline := settle()
	var pubs []interface{ Close(context.Context) error }
	var viewers []*viewer
	for _, c := range []media.Codec{media.H264, media.VP8} {
		name := "g-" + string(c)
		pubs = append(pubs, s.publish(name, c))
		s.waitFor(name+" publishing", 15*time.Second, func() bool { return s.publishing(name) })
		viewers = append(viewers, s.view(name))
	}
	for _, v := range viewers {
		s.waitFor("video at viewer", 15*time.Second, func() bool { n, _ := v.counts(); return n > 30 })
	}
	require.Greater(t, runtime.NumGoroutine(), baseline)
	for _, v := range viewers {
		v.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range pubs {
		require.NoError(t, p.Close(ctx))
	}
	deadline := time.Now().Add(20 * time.Second)
	for settle() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d now, %d at baseline; stacks:\n%s", runtime.NumGoroutine(), baseline,
				strings.TrimSpace(string(buf[:n])))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
