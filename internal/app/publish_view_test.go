package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
)

// Three publishers with different video codecs; a WHEP viewer of each gets a keyframe first and
// decodable video within 2 s; ending the publishers takes the streams (and their viewers) away.
func TestPublishAndView(t *testing.T) {
	s := startServer(t, nil)
	codecs := []media.Codec{media.H264, media.VP8, media.VP9}
	sessions := map[media.Codec]*viewer{}
	publishers := map[media.Codec]func(){}
	for _, c := range codecs {
		name := "cam-" + string(c)
		pub := s.publish(name, c)
		publishers[c] = func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, pub.Close(ctx))
		}
		s.waitFor(name+" publishing", 15*time.Second, func() bool { return s.publishing(name) })
	}
	for _, c := range codecs {
		sessions[c] = s.view("cam-" + string(c))
	}
	for _, c := range codecs {
		t.Run(string(c), func(t *testing.T) {
			v := sessions[c]
			s.waitFor("2 s of video at the viewer of "+string(c), 20*time.Second, func() bool {
				_, pkts, _ := v.videoWithin(time.Hour)
				return len(pkts) > 0 && time.Duration(pkts[len(pkts)-1].Timestamp-pkts[0].Timestamp)*time.Second/90000 >= 2*time.Second
			})
			got, pkts, firstAt := v.videoWithin(2 * time.Second)
			require.Equal(t, c, got)
			require.True(t, media.IsKeyframeStart(c, pkts[0].Payload), "first video packet is not a keyframe start")
			require.Less(t, firstAt.Sub(v.joined), 2*time.Second, "first keyframe took too long")
			frames, errs := decode(t, writeVideo(t, c, pkts))
			require.Empty(t, errs, "ffmpeg reported decode errors")
			require.GreaterOrEqual(t, frames, 45, "expected about 60 frames in 2 s at 30 fps")
			_, audio := v.counts()
			require.Positive(t, audio, "no audio reached the viewer")
		})
	}
	status, body, _ := s.request(http.MethodGet, "/api/v1/stats", "", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `"viewers":3`)

	for _, c := range codecs {
		publishers[c]()
		name := "cam-" + string(c)
		s.waitFor(name+" gone from the API", 10*time.Second, func() bool { _, ok := s.stream(name); return !ok })
	}
	s.waitFor("viewers closed with their streams", 10*time.Second, func() bool {
		_, body, _ := s.request(http.MethodGet, "/api/v1/stats", "", "")
		return strings.Contains(body, `"viewers":0`) && strings.Contains(body, `"streams":0`)
	})
	status, body, _ = s.request(http.MethodGet, "/api/v1/streams", "", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"streams":[]}`, body, fmt.Sprintf("streams left: %s", body))
}
