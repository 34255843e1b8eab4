package media_test

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/testutil"
)

// clipMTU is the payload size the clips are packetized to, as a pion publisher does.
const clipMTU = 1200

// loadClip returns the frames of a built-in clip in the form pion's payloaders take.
func loadClip(t *testing.T, codec media.Codec, file string) []testutil.Frame {
	t.Helper()
	if codec == media.H264 {
		return testutil.H264AnnexBFrames(t, file)
	}
	return testutil.IVFFrames(t, file)
}

func zeroPictureID() uint16 { return 0 }

// TestRealClips packetizes the built-in clips with pion's payloaders, as a pion-based publisher
// would, and checks keyframe detection and the picture size on every packet.
func TestRealClips(t *testing.T) {
	for _, tc := range []struct {
		name      string
		codec     media.Codec
		file      string
		payloader rtp.Payloader
		// keyStarts is how many packets of a key frame are keyframe starts: for H.264 the
		// parameter sets and the first fragment of the IDR picture.
		keyStarts int
		// interMarked is whether the payloader marks inter frames; pion's VP9 flexible mode never
		// sets the P bit, so every frame start looks like a key frame start there.
		interMarked bool
	}{
		{"h264 STAP-A", media.H264, "240p-h264.h264", &codecs.H264Payloader{}, 2, true},
		{"h264 single NAL units", media.H264, "240p-h264.h264", &codecs.H264Payloader{DisableStapA: true}, 2, true},
		{"vp8", media.VP8, "240p-vp8.ivf", &codecs.VP8Payloader{}, 1, true},
		{"vp8 with picture id", media.VP8, "240p-vp8.ivf", &codecs.VP8Payloader{EnablePictureID: true}, 1, true},
		{"vp9 non-flexible", media.VP9, "240p-vp9.ivf", &codecs.VP9Payloader{InitialPictureIDFn: zeroPictureID}, 1, true},
		{"vp9 flexible", media.VP9, "240p-vp9.ivf",
			&codecs.VP9Payloader{FlexibleMode: true, InitialPictureIDFn: zeroPictureID}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames := loadClip(t, tc.codec, tc.file)
			require.Len(t, frames, testutil.ClipFrames)
			var keys []int
			for i, f := range frames {
				if f.Key {
					keys = append(keys, i)
				}
			}
			require.Equal(t, []int{0, testutil.ClipKeyEvery}, keys, "the clip's key frames")

			for i, f := range frames {
				pkts := tc.payloader.Payload(clipMTU, f.Data)
				require.NotEmpty(t, pkts, "frame %d", i)
				var starts, sized []int
				for j, p := range pkts {
					require.LessOrEqual(t, len(p), clipMTU)
					if media.IsKeyframeStart(tc.codec, p) {
						starts = append(starts, j)
					}
					if w, h, ok := media.PictureSize(tc.codec, p); ok {
						require.Equal(t, [2]int{testutil.ClipWidth, testutil.ClipHeight}, [2]int{w, h}, "frame %d packet %d", i, j)
						sized = append(sized, j)
					}
				}
				switch {
				case f.Key:
					require.Len(t, starts, tc.keyStarts, "key frame %d", i)
					require.Equal(t, 0, starts[0], "key frame %d starts with a keyframe start", i)
					require.Len(t, sized, 1, "key frame %d carries its size once", i)
					require.Contains(t, starts, sized[0], "the size is on a keyframe start")
				case tc.interMarked:
					require.Empty(t, starts, "frame %d is not a key frame", i)
					require.Empty(t, sized, "frame %d", i)
				default:
					require.Empty(t, sized, "frame %d", i)
				}
			}
		})
	}
}
