package storage_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/storage"
)

func newStore(t *testing.T, policy storage.FsyncPolicy) *storage.Store {
	t.Helper()
	s, err := storage.New(storage.Config{Dir: t.TempDir(), Fsync: policy}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return s
}

// names lists the plain files in dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func TestNewCreatesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := storage.New(storage.Config{Dir: dir}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.DirExists(t, dir)
	require.True(t, filepath.IsAbs(s.Dir()))
}

func TestPathRefusesNamesOutsideTheDirectory(t *testing.T) {
	s := newStore(t, storage.FsyncNever)
	for _, name := range []string{"", ".", "..", "../x.mp4", "a/b.mp4", `a\b.mp4`, "/etc/passwd", ".hidden.mp4", "x/../y.mp4"} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Path(name)
			require.ErrorIs(t, err, storage.ErrBadName)
			_, err = s.Create(name)
			require.ErrorIs(t, err, storage.ErrBadName)
		})
	}
	p, err := s.Path("cam_1.mp4")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(s.Dir(), "cam_1.mp4"), p)
	require.Empty(t, names(t, s.Dir()))
}

// TestCreateNeverOverwrites checks that neither a finished file nor one still being written is
// ever reused: the new file gets a numeric suffix.
func TestCreateNeverOverwrites(t *testing.T) {
	s := newStore(t, storage.FsyncNever)
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), "seg.mp4"), []byte("old"), 0o644))

	f2, err := s.Create("seg.mp4")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(s.Dir(), "seg_2.mp4.part"), f2.PartPath())

	f3, err := s.Create("seg.mp4") // seg_2.mp4.part is open
	require.NoError(t, err)
	require.Equal(t, filepath.Join(s.Dir(), "seg_3.mp4.part"), f3.PartPath())

	_, err = f3.Write([]byte("new"))
	require.NoError(t, err)
	p, err := f3.Commit("")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(s.Dir(), "seg_3.mp4"), p)
	require.NoError(t, f2.Abort())

	old, err := os.ReadFile(filepath.Join(s.Dir(), "seg.mp4"))
	require.NoError(t, err)
	require.Equal(t, "old", string(old))
	require.ElementsMatch(t, []string{"seg.mp4", "seg_3.mp4"}, names(t, s.Dir()))
}

// TestCommit checks that Commit renames the part file to the name it is given, never over an
// existing file, and only once.
func TestCommit(t *testing.T) {
	for _, policy := range []storage.FsyncPolicy{storage.FsyncNever, storage.FsyncClose, storage.FsyncInterval} {
		t.Run(string(policy), func(t *testing.T) {
			s := newStore(t, policy)
			f, err := s.Create("cam_start.webm")
			require.NoError(t, err)
			require.FileExists(t, f.PartPath())
			_, err = f.Write([]byte("0123456789"))
			require.NoError(t, err)
			_, err = f.Seek(2, io.SeekStart) // a header patch
			require.NoError(t, err)
			_, err = f.Write([]byte("ab"))
			require.NoError(t, err)

			p, err := f.Commit("cam_start_end.webm")
			require.NoError(t, err)
			require.Equal(t, filepath.Join(s.Dir(), "cam_start_end.webm"), p)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Equal(t, "01ab456789", string(b))
			require.NoFileExists(t, f.PartPath())

			_, err = f.Commit("again.webm")
			require.Error(t, err, "a file is committed once")
			require.NoError(t, f.Abort(), "Abort after Commit does nothing")
			require.FileExists(t, p)
		})
	}
}

func TestCommitNeverOverwrites(t *testing.T) {
	s := newStore(t, storage.FsyncNever)
	require.NoError(t, os.WriteFile(filepath.Join(s.Dir(), "taken.mp4"), []byte("old"), 0o644))
	f, err := s.Create("seg.mp4")
	require.NoError(t, err)
	p, err := f.Commit("taken.mp4")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(s.Dir(), "taken_2.mp4"), p)
	old, err := os.ReadFile(filepath.Join(s.Dir(), "taken.mp4"))
	require.NoError(t, err)
	require.Equal(t, "old", string(old))
}

// TestCommitRefusesBadNames checks that a final name that would leave the directory or hide the
// file is not used: the file keeps the name it was created with.
func TestCommitRefusesBadNames(t *testing.T) {
	for _, name := range []string{"../escape.mp4", "sub/x.mp4", ".hidden.mp4", "/tmp/x.mp4"} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, storage.FsyncNever)
			f, err := s.Create("seg.mp4")
			require.NoError(t, err)
			p, err := f.Commit(name)
			require.NoError(t, err)
			require.Equal(t, filepath.Join(s.Dir(), "seg.mp4"), p)
			require.Equal(t, []string{"seg.mp4"}, names(t, s.Dir()))
			require.NoFileExists(t, filepath.Join(filepath.Dir(s.Dir()), "escape.mp4"))
		})
	}
}

func TestAbort(t *testing.T) {
	s := newStore(t, storage.FsyncClose)
	f, err := s.Create("seg.mp4")
	require.NoError(t, err)
	_, err = f.Write([]byte("data"))
	require.NoError(t, err)
	require.NoError(t, f.Abort())
	require.NoError(t, f.Abort(), "Abort is idempotent")
	require.Empty(t, names(t, s.Dir()))
	_, err = f.Commit("seg.mp4")
	require.Error(t, err, "an aborted file cannot be committed")
	require.Empty(t, names(t, s.Dir()))
}

// TestWriteBuffers checks that a vectored write puts its buffers one after the other, however
// many (more than one writev takes) and with empty ones among them, and that writes after it
// continue at its end.
func TestWriteBuffers(t *testing.T) {
	s := newStore(t, storage.FsyncClose)
	f, err := s.Create("cam.mp4")
	require.NoError(t, err)
	var bufs [][]byte
	var want []byte
	for i := range 3000 {
		b := make([]byte, i%7)
		for j := range b {
			b[j] = byte(i + j)
		}
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	n, err := f.WriteBuffers(bufs)
	require.NoError(t, err)
	require.Equal(t, int64(len(want)), n)
	_, err = f.Write([]byte("tail"))
	require.NoError(t, err)
	n, err = f.WriteBuffers([][]byte{nil, {}})
	require.NoError(t, err)
	require.Zero(t, n)
	path, err := f.Commit("")
	require.NoError(t, err)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, append(want, "tail"...), got)
}
