package app

import (
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// probed is what ffprobe says of a file.
type probed struct {
	Duration float64
	Streams  []probedStream
}

type probedStream struct {
	Codec     string
	StartTime float64
	Duration  float64
}

func (p probed) codecs() []string {
	var out []string
	for _, s := range p.Streams {
		out = append(out, s.Codec)
	}
	return out
}

func (p probed) stream(codec string) probedStream {
	for _, s := range p.Streams {
		if s.Codec == codec {
			return s
		}
	}
	return probedStream{}
}

func requireFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (bash .ci/run installs it)", tool)
		}
	}
}

// probe runs ffprobe on path.
func probe(t *testing.T, path string) probed {
	t.Helper()
	requireFFmpeg(t)
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries",
		"format=duration:stream=codec_name,start_time,duration", "-of", "json", path).CombinedOutput()
	require.NoError(t, err, "ffprobe %s: %s", path, out)
	var raw struct {
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
		Streams []struct {
			CodecName string `json:"codec_name"`
			StartTime string `json:"start_time"`
			Duration  string `json:"duration"`
		} `json:"streams"`
	}
	require.NoError(t, json.Unmarshal(out, &raw), string(out))
	p := probed{}
	p.Duration, _ = strconv.ParseFloat(raw.Format.Duration, 64)
	for _, s := range raw.Streams {
		st := probedStream{Codec: s.CodecName}
		st.StartTime, _ = strconv.ParseFloat(s.StartTime, 64)
		st.Duration, _ = strconv.ParseFloat(s.Duration, 64)
		p.Streams = append(p.Streams, st)
	}
	return p
}

// decodeErrors decodes the whole file and returns what ffmpeg printed at level error.
func decodeErrors(t *testing.T, path string) string {
	t.Helper()
	requireFFmpeg(t)
	out, err := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, string(out))
	return string(out)
}

// firstFrameIsKey reports whether the first video frame of path is a key frame.
func firstFrameIsKey(t *testing.T, path string) bool {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
		"-show_entries", "frame=key_frame", "-of", "csv=p=0", path).CombinedOutput()
	require.NoError(t, err, string(out))
	return len(out) > 0 && out[0] == '1'
}

// recordedSeconds reads "duration" from a recording's JSON.
func recordedSeconds(t *testing.T, body string) float64 {
	t.Helper()
	var r struct{ Duration float64 }
	require.NoError(t, json.Unmarshal([]byte(body), &r), body)
	return r.Duration
}
