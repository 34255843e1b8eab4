package publish

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
)

// The built-in clips are what the brief promises: 4 s at 30 fps, a keyframe every 2 s, and the
// advertised bitrates.
func TestBuiltinClips(t *testing.T) {
	for _, tc := range []struct {
		codec   media.Codec
		profile string
		minBps  float64
		maxBps  float64
	}{
		{media.H264, "240p", 0.4e6, 0.7e6},
		{media.H264, "1080p", 2.2e6, 3.0e6},
		{media.VP8, "240p", 0.3e6, 0.7e6},
		{media.VP8, "1080p", 1.8e6, 3.0e6},
		{media.VP9, "240p", 0.3e6, 0.7e6},
	} {
		t.Run(string(tc.codec)+"-"+tc.profile, func(t *testing.T) {
			clip, err := BuiltinVideo(tc.codec, tc.profile)
			require.NoError(t, err)
			require.Equal(t, tc.codec, clip.Codec)
			require.Len(t, clip.Frames, 120)
			require.Equal(t, 4*time.Second, clip.Duration().Round(time.Millisecond))
			var keys []int
			var bytes int
			for i, f := range clip.Frames {
				if f.Key {
					keys = append(keys, i)
				}
				bytes += len(f.Data)
			}
			require.Equal(t, []int{0, 60}, keys)
			bps := float64(bytes*8) / clip.Duration().Seconds()
			require.True(t, bps >= tc.minBps && bps <= tc.maxBps, "bitrate %.0f", bps)
		})
	}
	_, err := BuiltinVideo(media.VP9, "1080p")
	require.ErrorIs(t, err, ErrNoClip)
}

func TestBuiltinAudio(t *testing.T) {
	clip, err := BuiltinAudio()
	require.NoError(t, err)
	require.Equal(t, media.Opus, clip.Codec)
	require.InDelta(t, 4.0, clip.Duration().Seconds(), 0.05)
	for _, f := range clip.Frames {
		require.Equal(t, 20*time.Millisecond, f.Duration)
	}
}
