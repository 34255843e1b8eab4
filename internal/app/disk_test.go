package app

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
)

// smallDisk mounts a 64 MiB tmpfs for the recordings, or skips where mounting is not allowed.
func smallDisk(t *testing.T) string { return tmpfsOf(t, 64) }

// tmpfsOf mounts a tmpfs of mib MiB for the recordings, or skips where mounting is not allowed.
func tmpfsOf(t *testing.T, mib int) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", mib), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	return dir
}

func freeBytes(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(dir, &st))
	return st.Bavail * uint64(st.Bsize)
}

func diskConfig(dir, policy string) func(*config.Config) {
	return func(c *config.Config) {
		c.Dir = dir
		c.Disk.MinFree, c.Disk.HardFloor, c.Disk.Policy = "16MiB", "8MiB", policy
		c.Disk.CheckInterval = config.Duration(200 * time.Millisecond)
		c.Record.Auto, c.Record.Rotation = "all", "5s"
	}
}

// requirePlayable checks every finished file left on disk: it plays cleanly.
func requirePlayable(t *testing.T, s *testServer) int {
	t.Helper()
	n := 0
	for _, seg := range s.segments("state=closed,recovered") {
		path := filepath.Join(s.app.store.Dir(), seg.Path)
		require.FileExists(t, path)
		require.Empty(t, decodeErrors(t, path), seg.Path)
		n++
	}
	return n
}

// With stop-new, a recording asked for under min_free gets 507 with a clear message, and running
// recordings close cleanly at the hard floor; they resume when space returns.
func TestDiskStopNew(t *testing.T) {
	dir := smallDisk(t)
	// Leave about 24 MiB free, so the floors come within seconds.
	filler := filepath.Join(dir, "filler.bin")
	require.NoError(t, os.WriteFile(filler, make([]byte, 40<<20), 0o600))
	s := startServer(t, diskConfig(dir, "stop-new"))
	for i := range 4 {
		s.publishWith(fmt.Sprintf("sn-%d", i), media.H264, "1080p", nil)
	}
	s.waitFor("space under min_free", 60*time.Second, func() bool {
		return s.storage()["disk"].(map[string]any)["refusingNew"] == true
	})
	s.publish("late", media.H264)
	s.waitFor("late publishing", 15*time.Second, func() bool { return s.publishing("late") })
	status, body, _ := s.request(http.MethodPost, "/api/v1/streams/late/recording", "application/json", "{}")
	require.Equal(t, http.StatusInsufficientStorage, status, body)
	requireJSONMessage(t, body)
	require.Contains(t, body, "free disk space")

	s.waitFor("recordings paused at the floor", 60*time.Second, func() bool {
		for i := range 4 {
			_, body, _ := s.request(http.MethodGet, fmt.Sprintf("/api/v1/streams/sn-%d/recording", i), "", "")
			if !strings.Contains(body, `"state":"paused"`) || strings.Contains(body, `"currentFile"`) {
				return false
			}
		}
		return true
	})
	require.GreaterOrEqual(t, freeBytes(t, dir), uint64(4<<20))
	parts, err := filepath.Glob(filepath.Join(dir, "*.part"))
	require.NoError(t, err)
	require.Empty(t, parts, "a segment was left open")
	require.Positive(t, requirePlayable(t, s))

	require.NoError(t, os.Remove(filler))
	s.waitFor("recordings resumed", 30*time.Second, func() bool {
		_, body, _ := s.request(http.MethodGet, "/api/v1/streams/sn-0/recording", "", "")
		return strings.Contains(body, `"state":"recording"`) && strings.Contains(body, `"currentFile"`)
	})
}
