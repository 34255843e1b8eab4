package recorder

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/testutil"
)

// osFile is a segment File on disk.
type osFile struct{ *os.File }

func (f osFile) Commit(string) (string, error) { return f.Name(), f.Close() }
func (f osFile) Abort() error                  { return f.Close() }

// encode has ffmpeg encode 2 s of test pattern (320x240, 30 fps, a key frame every 30 frames)
// with the given output arguments and returns the file.
func encode(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	cmd := append([]string{"-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "2",
		"-pix_fmt", "yuv420p", "-g", "30"}, args...)
	out, err := exec.Command("ffmpeg", append(cmd, path)...).CombinedOutput()
	if err != nil {
		t.Skipf("ffmpeg cannot encode %s here: %v: %s", name, err, out)
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

// h265AccessUnits groups an H.265 Annex B stream into access units (Annex B, what pion's
// payloader takes): a new one starts at a VPS, SPS, PPS, AUD or prefix SEI after a picture, or at
// a picture's first slice after a picture.
func h265AccessUnits(data []byte) [][]byte {
	var out [][]byte
	var cur []byte
	picture := false
	for _, nal := range bytes.Split(data, []byte{0, 0, 1}) {
		nal = bytes.TrimRight(nal, "\x00")
		if len(nal) < 3 {
			continue
		}
		typ := (nal[0] >> 1) & 0x3f
		vcl := typ < 32
		firstSlice := vcl && nal[2]&0x80 != 0
		if picture && (firstSlice || typ >= 32 && typ <= 35 || typ == 39) {
			out = append(out, cur)
			cur, picture = nil, false
		}
		cur = append(append(cur, 0, 0, 0, 1), nal...)
		picture = picture || vcl
	}
	if picture {
		out = append(out, cur)
	}
	return out
}

// TestMediaPathPlayable sends every video codec as a pion publisher would, at MTU 1200, through
// the track reader and into the segment writer its container takes, and has ffprobe and ffmpeg
// read the file back: every frame, the last one included (complete at its marker bit), is there,
// and decodes without error.
func TestMediaPathPlayable(t *testing.T) {
	testutil.NeedFFmpeg(t)
	if testing.Short() {
		t.Skip("encodes with ffmpeg")
	}
	for _, tc := range []struct {
		name      string
		codec     media.Codec
		container Container
		frames    func(t *testing.T) [][]byte
		payloader func() rtp.Payloader
		probed    string
	}{
		{"h264-mp4", media.H264, MP4, func(t *testing.T) [][]byte { return testutil.FrameData(testutil.H264AnnexBFrames(t, "240p-h264.h264")) },
			func() rtp.Payloader { return &codecs.H264Payloader{} }, "h264"},
		{"vp8-webm", media.VP8, WebM, func(t *testing.T) [][]byte { return testutil.FrameData(testutil.IVFFrames(t, "240p-vp8.ivf")) },
			func() rtp.Payloader { return &codecs.VP8Payloader{EnablePictureID: true} }, "vp8"},
		{"vp9-mp4", media.VP9, MP4, func(t *testing.T) [][]byte { return testutil.FrameData(testutil.IVFFrames(t, "240p-vp9.ivf")) },
			vp9Payloader, "vp9"},
		{"vp9-webm", media.VP9, WebM, func(t *testing.T) [][]byte { return testutil.FrameData(testutil.IVFFrames(t, "240p-vp9.ivf")) },
			vp9Payloader, "vp9"},
		{"h265-mp4", media.H265, MP4, func(t *testing.T) [][]byte {
			return h265AccessUnits(encode(t, "clip.h265", "-c:v", "libx265", "-preset", "ultrafast",
				"-x265-params", "log-level=error:bframes=0:scenecut=0:repeat-headers=1", "-f", "hevc"))
		}, func() rtp.Payloader { return &codecs.H265Payloader{} }, "hevc"},
		{"av1-mp4", media.AV1, MP4, av1Frames, func() rtp.Payloader { return &codecs.AV1Payloader{} }, "av1"},
		{"av1-webm", media.AV1, WebM, av1Frames, func() rtp.Payloader { return &codecs.AV1Payloader{} }, "av1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			frames := tc.frames(t)
			require.NotEmpty(t, frames)
			clip := packetize(tc.codec, frames, tc.payloader())
			f, err := os.Create(filepath.Join(t.TempDir(), "out."+string(tc.container)))
			require.NoError(t, err)
			p := feed(t, clip, tc.container, osFile{f}, len(clip.packets))
			require.Equal(t, len(frames), p.samples, "every frame is written")
			_, err = osFile{f}.Commit("")
			require.NoError(t, err)

			out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-show_entries",
				"format=duration:stream=codec_name,nb_read_frames", "-of", "json", f.Name()).CombinedOutput()
			require.NoError(t, err, "ffprobe: %s", out)
			var probe struct {
				Streams []struct {
					CodecName string `json:"codec_name"`
					Frames    string `json:"nb_read_frames"`
				} `json:"streams"`
				Format struct {
					Duration string `json:"duration"`
				} `json:"format"`
			}
			require.NoError(t, json.Unmarshal(out, &probe))
			require.Len(t, probe.Streams, 1)
			require.Equal(t, tc.probed, probe.Streams[0].CodecName)
			require.Equal(t, strconv.Itoa(len(frames)), probe.Streams[0].Frames)
			d, err := strconv.ParseFloat(probe.Format.Duration, 64)
			require.NoError(t, err)
			require.InDelta(t, (time.Duration(len(frames)) * time.Second / 30).Seconds(), d, 0.2)

			out, err = exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", f.Name(), "-f", "null", "-").CombinedOutput()
			require.NoError(t, err, "ffmpeg: %s", out)
			require.Empty(t, string(out), "ffmpeg reported decoding errors")
		})
	}
}

func vp9Payloader() rtp.Payloader {
	return &codecs.VP9Payloader{InitialPictureIDFn: func() uint16 { return 0 }}
}

// av1Frames encodes AV1 temporal units (one per IVF frame, low overhead OBUs).
func av1Frames(t *testing.T) [][]byte {
	t.Helper()
	return testutil.FrameData(testutil.IVFFramesOf(t, encode(t, "clip.ivf", "-c:v", "libaom-av1", "-usage", "realtime", "-cpu-used", "10",
		"-lag-in-frames", "0", "-b:v", "300k", "-f", "ivf")))
}
