package storage_test

import (
	"log/slog"
	"os"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vigilrec/vigil/internal/storage"
)

// cachedPages reports, page by page, whether the first n bytes of the file at path are in the
// page cache.
func cachedPages(t *testing.T, path string, n int) []bool {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	mem, err := unix.Mmap(int(f.Fd()), 0, n, unix.PROT_READ, unix.MAP_SHARED)
	require.NoError(t, err)
	defer unix.Munmap(mem)
	page := os.Getpagesize()
	vec := make([]byte, (n+page-1)/page)
	// x/sys/unix has no wrapper for mincore(2).
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0])))
	require.Zero(t, errno, "mincore")
	out := make([]bool, len(vec))
	for i, v := range vec {
		out[i] = v&1 == 1
	}
	return out
}

func count(pages []bool) (in int) {
	for _, p := range pages {
		if p {
			in++
		}
	}
	return in
}

// TestPageCacheDrop checks that written pages leave the page cache as a file grows and when it
// is committed under the default policy, and stay under keep.
func TestPageCacheDrop(t *testing.T) {
	dir := t.TempDir()
	var fs unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &fs))
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the page cache of tmpfs is its storage: nothing can be dropped")
	}
	const first, second = 200 << 10, 100 << 10 // 256 KiB between drops falls in the second write
	for _, tc := range []struct {
		policy  storage.PageCache
		dropped bool
	}{{"", true}, {storage.PageCacheDrop, true}, {storage.PageCacheKeep, false}} {
		t.Run(string(tc.policy), func(t *testing.T) {
			// The interval policy with a tiny interval syncs after every write, so the pages of
			// the first write are clean (droppable) when the second write passes the step.
			s, err := storage.New(storage.Config{Dir: t.TempDir(), Fsync: storage.FsyncInterval, Interval: 1,
				PageCache: tc.policy}, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			f, err := s.Create("cam.mp4")
			require.NoError(t, err)
			_, err = f.Write(make([]byte, first))
			require.NoError(t, err)
			require.Equal(t, first/os.Getpagesize(), count(cachedPages(t, f.PartPath(), first)), "just written")
			_, err = f.Write(make([]byte, second))
			require.NoError(t, err)
			in := count(cachedPages(t, f.PartPath(), first))
			if tc.dropped {
				require.Zero(t, in, "pages of the first write still cached after the step")
			} else {
				require.Equal(t, first/os.Getpagesize(), in)
			}
			path, err := f.Commit("")
			require.NoError(t, err)
			in = count(cachedPages(t, path, first+second))
			if tc.dropped {
				require.Zero(t, in, "pages still cached after commit")
			} else {
				require.Equal(t, (first+second)/os.Getpagesize(), in)
			}
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Len(t, data, first+second)
		})
	}
}
