package app

import (
	"context"
	"encoding/json"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/probe"
)

func requireFFmpeg(t *testing.T) {
	t.Helper()
	if err := probe.Available(); err != nil {
		t.Skipf("%v (bash .ci/run installs them)", err)
	}
}

// probeFile runs ffprobe on path.
func probeFile(t *testing.T, path string) probe.Result {
	t.Helper()
	requireFFmpeg(t)
	r, err := probe.File(context.Background(), path)
	require.NoError(t, err)
	return r
}

// decodeErrors decodes the whole file and returns what ffmpeg printed at level error.
func decodeErrors(t *testing.T, path string) string {
	t.Helper()
	requireFFmpeg(t)
	out, err := probe.Decode(context.Background(), path)
	require.NoError(t, err)
	return out
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
