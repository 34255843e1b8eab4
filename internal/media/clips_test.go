package media

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/vp9"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/stretchr/testify/require"
)

// The clips of `vigil publish`: 4 s at 30 fps, 320x240, a key frame every 60th frame
// (internal/publish/clips/make.sh).
const (
	clipFrames = 120
	clipWidth  = 320
	clipHeight = 240
	clipMTU    = 1200
)

type clipFrame struct {
	data []byte
	key  bool
}

// splitAnnexB returns the NAL units of an H.264 Annex B stream, without start codes.
func splitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	start := -1
	for i := 0; i+2 < len(b); i++ {
		if b[i] != 0 || b[i+1] != 0 || b[i+2] != 1 {
			continue
		}
		if start >= 0 {
			nalus = append(nalus, bytes.TrimRight(b[start:i], "\x00"))
		}
		start = i + 3
		i += 2
	}
	if start >= 0 {
		nalus = append(nalus, b[start:])
	}
	return nalus
}

// h264AccessUnits groups NAL units into access units (Annex B again, which is what pion's
// payloader takes): a new one starts at an AUD, SEI, parameter set or slice that follows a slice.
// The clips have one slice per picture.
func h264AccessUnits(t *testing.T, data []byte) []clipFrame {
	t.Helper()
	var (
		out      []clipFrame
		cur      clipFrame
		hasSlice bool
	)
	for _, n := range splitAnnexB(data) {
		if len(n) == 0 {
			continue
		}
		typ := n[0] & 0x1f
		slice := typ == 1 || typ == 5
		if hasSlice && (slice || typ == 6 || typ == 7 || typ == 8 || typ == 9) {
			out = append(out, cur)
			cur, hasSlice = clipFrame{}, false
		}
		cur.data = append(append(cur.data, 0, 0, 0, 1), n...)
		cur.key = cur.key || typ == 5
		hasSlice = hasSlice || slice
	}
	require.True(t, hasSlice, "no H.264 picture found")
	return append(out, cur)
}

func ivfFrames(t *testing.T, codec Codec, data []byte) []clipFrame {
	t.Helper()
	r, _, err := ivfreader.NewWith(bytes.NewReader(data))
	require.NoError(t, err)
	var out []clipFrame
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		f := clipFrame{data: frame}
		switch codec {
		case VP8:
			f.key = frame[0]&0x01 == 0 // frame tag P bit, RFC 6386 §9.1
		case VP9:
			var h vp9.Header
			require.NoError(t, h.Unmarshal(frame))
			f.key = !h.NonKeyFrame
		}
		out = append(out, f)
	}
}

func loadClip(t *testing.T, codec Codec, file string) []clipFrame {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "publish", "clips", file))
	require.NoError(t, err)
	if codec == H264 {
		return h264AccessUnits(t, data)
	}
	return ivfFrames(t, codec, data)
}

func zeroPictureID() uint16 { return 0 }

// TestRealClips packetizes the built-in clips with pion's payloaders, as a pion-based publisher
// would, and checks keyframe detection and the picture size on every packet.
func TestRealClips(t *testing.T) {
	for _, tc := range []struct {
		name      string
		codec     Codec
		file      string
		payloader rtp.Payloader
		// keyStarts is how many packets of a key frame are keyframe starts: for H.264 the
		// parameter sets and the first fragment of the IDR picture.
		keyStarts int
		// interMarked is whether the payloader marks inter frames; pion's VP9 flexible mode never
		// sets the P bit, so every frame start looks like a key frame start there.
		interMarked bool
	}{
		{"h264 STAP-A", H264, "240p-h264.h264", &codecs.H264Payloader{}, 2, true},
		{"h264 single NAL units", H264, "240p-h264.h264", &codecs.H264Payloader{DisableStapA: true}, 2, true},
		{"vp8", VP8, "240p-vp8.ivf", &codecs.VP8Payloader{}, 1, true},
		{"vp8 with picture id", VP8, "240p-vp8.ivf", &codecs.VP8Payloader{EnablePictureID: true}, 1, true},
		{"vp9 non-flexible", VP9, "240p-vp9.ivf", &codecs.VP9Payloader{InitialPictureIDFn: zeroPictureID}, 1, true},
		{"vp9 flexible", VP9, "240p-vp9.ivf",
			&codecs.VP9Payloader{FlexibleMode: true, InitialPictureIDFn: zeroPictureID}, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frames := loadClip(t, tc.codec, tc.file)
			require.Len(t, frames, clipFrames)
			var keys []int
			for i, f := range frames {
				if f.key {
					keys = append(keys, i)
				}
			}
			require.Equal(t, []int{0, 60}, keys, "the clip's key frames")

			for i, f := range frames {
				pkts := tc.payloader.Payload(clipMTU, f.data)
				require.NotEmpty(t, pkts, "frame %d", i)
				var starts, sized []int
				for j, p := range pkts {
					require.LessOrEqual(t, len(p), clipMTU)
					if IsKeyframeStart(tc.codec, p) {
						starts = append(starts, j)
					}
					if w, h, ok := PictureSize(tc.codec, p); ok {
						require.Equal(t, [2]int{clipWidth, clipHeight}, [2]int{w, h}, "frame %d packet %d", i, j)
						sized = append(sized, j)
					}
				}
				switch {
				case f.key:
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
