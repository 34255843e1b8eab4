package storage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestInspect(t *testing.T) {
	// small.mp4: 1 s of 64x48 H.264 and Opus, fragmented by ffmpeg (ending with an mfra box).
	src := filepath.Join("testdata", "small.mp4")
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		data  []byte
		whole bool
	}{
		{"whole", data, true},
		{"torn in the last box", data[:len(data)-10], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".mp4")
			require.NoError(t, os.WriteFile(path, tc.data, 0o644))
			in, err := Inspect(path)
			require.NoError(t, err)
			require.Equal(t, tc.whole, in.Whole)
			require.Equal(t, []string{"h264", "opus"}, in.Codecs)
			require.InDelta(t, 1.0, in.Duration.Seconds(), 0.05)
		})
	}
	_, err = Inspect(filepath.Join(dir, "missing.mp4"))
	require.Error(t, err)
}
