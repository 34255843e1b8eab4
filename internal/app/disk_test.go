package app

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
)

// smallDisk mounts a 64 MiB tmpfs for the recordings, or skips where mounting is not allowed.
func smallDisk(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", dir).CombinedOutput(); err != nil {
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

// watchFree samples free space every 200 ms until stop is closed and returns the minimum seen.
func watchFree(t *testing.T, dir string, stop <-chan struct{}) func() uint64 {
	t.Helper()
	var mu sync.Mutex
	lowest := freeBytes(t, dir)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				var st syscall.Statfs_t
				if syscall.Statfs(dir, &st) == nil {
					mu.Lock()
					lowest = min(lowest, st.Bavail*uint64(st.Bsize))
					mu.Unlock()
				}
			}
		}
	}()
	return func() uint64 {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return lowest
	}
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

// Eight 2.5 Mbps streams recorded into a 64 MiB volume for a minute with delete-oldest: free space
// never falls under the hard floor, the oldest segments go (and the catalog says so), and every
// file left plays.
func TestDiskNeverFillsDeleteOldest(t *testing.T) {
	if testing.Short() {
		t.Skip("records for 60 s")
	}
	dir := smallDisk(t)
	s := startServer(t, diskConfig(dir, "delete-oldest"))
	stop := make(chan struct{})
	lowest := watchFree(t, dir, stop)
	for i := range 8 {
		s.publishWith(fmt.Sprintf("hd-%d", i), media.H264, "1080p", nil)
	}
	time.Sleep(60 * time.Second) // the scenario: a minute of recording, about 160 MB
	close(stop)
	for i := range 8 {
		status, body, _ := s.request(http.MethodDelete, fmt.Sprintf("/api/v1/streams/hd-%d/recording", i), "", "")
		require.Equal(t, http.StatusOK, status, body)
	}
	status, _, _ := s.request(http.MethodGet, "/healthz", "", "")
	require.Equal(t, http.StatusOK, status)
	// With nothing written any more (the stops flushed the last fragments), the guard finishes
	// freeing space and then deletes nothing: wait for a check made after the stops that found
	// enough space, and no deletion since the previous poll.
	stopped := time.Now()
	prev := -1.0
	s.waitFor("the guard to settle", 30*time.Second, func() bool {
		st := s.storage()
		disk := st["disk"].(map[string]any)
		checked, err := time.Parse(time.RFC3339Nano, disk["checked"].(string))
		require.NoError(t, err)
		n := st["retention"].(map[string]any)["deletions"].(float64)
		settled := checked.After(stopped.Add(500*time.Millisecond)) && disk["low"] == false && n == prev
		prev = n
		return settled
	})
	low := lowest()
	t.Logf("lowest free space: %.1f MiB", float64(low)/(1<<20))
	require.GreaterOrEqual(t, low, uint64(8<<20), "free space fell under the hard floor")

	deleted := s.segments("state=deleted")
	require.NotEmpty(t, deleted, "nothing was deleted: the test did not fill the disk")
	for _, seg := range deleted {
		require.NoFileExists(t, filepath.Join(s.app.store.Dir(), seg.Path))
	}
	kept := s.segments("state=closed,recovered")
	for _, d := range deleted {
		for _, k := range kept {
			if d.Stream == k.Stream {
				require.True(t, d.Start.Before(k.Start), "a newer segment of %s was deleted before an older one", d.Stream)
			}
		}
	}
	// The catalog agrees with the guard: every deletion it counted is recorded, with its reason.
	s.waitFor("the catalog to agree with the guard", 10*time.Second, func() bool {
		ret := s.storage()["retention"].(map[string]any)
		n := 0
		for _, seg := range s.segments("state=deleted") {
			if seg.DeleteReason == "min_free" {
				n++
			}
		}
		return float64(n) == ret["deletions"].(float64)
	})
	t.Logf("%d segments deleted, %d kept", len(deleted), requirePlayable(t, s))
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
