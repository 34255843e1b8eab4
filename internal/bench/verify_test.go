package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/probe"
)

// small.mp4 is 1 s of H.264 and Opus; its torn copy lacks the last bytes.
func TestVerifySmallFile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "storage", "testdata", "small.mp4"))
	require.NoError(t, err)
	dir := t.TempDir()
	good, torn := filepath.Join(dir, "Stream-1.mp4"), filepath.Join(dir, "Stream-2.mp4")
	require.NoError(t, os.WriteFile(good, data, 0o644))
	require.NoError(t, os.WriteFile(torn, data[:len(data)*2/3], 0o644))

	verifiers := []struct {
		name string
		v    verifier
	}{{"vigil parser", verifier{codec: "h264"}}}
	if probe.Available() == nil {
		verifiers = append(verifiers, struct {
			name string
			v    verifier
		}{"ffmpeg", verifier{ffmpeg: true, full: true, codec: "h264"}})
	} else {
		t.Log("ffmpeg is not installed: only vigil's parser is checked")
	}
	for _, tc := range verifiers {
		t.Run(tc.name, func(t *testing.T) {
			files := []*File{{Path: good}, {Path: torn}, {Path: filepath.Join(dir, "missing.mp4")}, {Path: good, State: "deleted"}}
			tc.v.verifyAll(context.Background(), files)
			require.True(t, files[0].Valid, files[0].Problem)
			require.InDelta(t, 1.0, files[0].Duration, 0.05)
			require.Equal(t, []string{"h264", "opus"}, files[0].Codecs)
			require.False(t, files[1].Valid)
			require.NotEmpty(t, files[1].Problem)
			require.False(t, files[2].Valid)
			require.Contains(t, files[2].Problem, "missing")
			require.Empty(t, files[3].Checked, "deleted files are not checked")

			wrong := tc.v
			wrong.codec = "vp8"
			f := &File{Path: good}
			wrong.verify(context.Background(), f)
			require.False(t, f.Valid)
			require.Contains(t, f.Problem, "want vp8")
		})
	}
}

func TestFilesIn(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"Stream-1/a.mp4", "Stream-10/b.mp4", "Stream-1_x.webm", "Stream-1_y.mp4.part", "Stream-1.txt"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
	}
	var got []string
	for _, f := range filesIn(dir, "Stream-1") {
		rel, _ := filepath.Rel(dir, f.Path)
		got = append(got, rel+" "+f.State)
	}
	require.ElementsMatch(t, []string{"Stream-1/a.mp4 found", "Stream-1_x.webm found", "Stream-1_y.mp4.part part"}, got)
	require.Equal(t, []string{"Stream-1_y.mp4.part"}, partFiles(dir))
}

// A file whose audio starts 2 s late and runs 2 s past the video (as seen in recordings started
// two seconds into a pulled stream) is 2 s out of step.
func TestAVTimes(t *testing.T) {
	r := probe.Result{Duration: 13.96, Streams: []probe.Stream{{Codec: "h264", Duration: 10}, {Codec: "opus", StartTime: 1.98, Duration: 11.98}}}
	dur, off := avTimes(r, "h264")
	require.Equal(t, 10.0, dur)
	require.InDelta(t, 3.96, off, 1e-9)
	dur, off = avTimes(probe.Result{Streams: []probe.Stream{{Codec: "h264", Duration: 10}, {Codec: "opus", StartTime: 0.013, Duration: 10.01}}}, "h264")
	require.Equal(t, 10.0, dur)
	require.InDelta(t, 0.023, off, 1e-9)
	dur, off = avTimes(probe.Result{Streams: []probe.Stream{{Codec: "opus", Duration: 10}}}, "h264")
	require.Zero(t, dur)
	require.Zero(t, off)
}
