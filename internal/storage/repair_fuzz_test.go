package storage_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/storage"
)

// FuzzRepair leaves arbitrary bytes as unfinished fMP4 and WebM segments. Recover must not
// panic, must leave no part file of a known container behind, and must never make a file longer
// than it was: what it reports is what is on disk. Repair syncs every file, so fuzz with TMPDIR
// on a tmpfs (TMPDIR=/dev/shm).
func FuzzRepair(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newStore(t, storage.FsyncNever)
		for _, ext := range []string{".mp4", ".webm"} {
			require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), "x"+ext+storage.PartSuffix), data, 0o644))
		}
		rec, _ := s.Recover()
		for _, r := range rec {
			st, err := os.Stat(r.Path)
			require.NoError(t, err)
			require.LessOrEqual(t, st.Size(), int64(len(data)), "%s grew", r.Path)
			require.Equal(t, st.Size(), r.Bytes, r.Path)
			require.Equal(t, int64(len(data)), r.Bytes+r.Cut, r.Path)
			require.Positive(t, r.Bytes)
			require.GreaterOrEqual(t, r.Duration, 0*r.Duration)
		}
		for _, name := range names(t, s.Dir()) {
			require.False(t, strings.HasSuffix(name, storage.PartSuffix), "%s left behind", name)
		}
	})
}
