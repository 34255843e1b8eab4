package app

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
)

// Symlinks planted in the recordings directory are never listed, served, repaired or deleted
// through, and their targets outside the directory stay as they were.
func TestSymlinksInTheRecordingsDirectory(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.mp4")
	part := filepath.Join(outside, "other.mp4")
	require.NoError(t, os.WriteFile(secret, []byte("not yours"), 0o600))
	require.NoError(t, os.WriteFile(part, []byte("not yours either"), 0o600))
	require.NoError(t, os.Symlink(secret, filepath.Join(dir, "planted_20260101-000000-000_0001.mp4")))
	require.NoError(t, os.Symlink(part, filepath.Join(dir, "planted_20260101-000000-000_0002.mp4.part")))

	s := startServer(t, func(c *config.Config) { c.Dir = dir })
	require.Empty(t, s.segments("state=recording,closed,recovered,deleted"), "a symlink was listed")

	// A segment recorded here, then replaced by a link to a file outside: not served, and
	// deleting it removes the link only.
	s.publish("cam", media.H264)
	s.waitFor("publishing", 15*time.Second, func() bool { return s.publishing("cam") })
	status, body, _ := s.request(http.MethodPost, "/api/v1/streams/cam/recording", "application/json", "{}")
	require.Equal(t, http.StatusCreated, status, body)
	s.waitFor("a second recorded", 15*time.Second, func() bool {
		_, body, _ := s.request(http.MethodGet, "/api/v1/streams/cam/recording", "", "")
		return recordedSeconds(t, body) >= 1
	})
	status, body, _ = s.request(http.MethodDelete, "/api/v1/streams/cam/recording", "", "")
	require.Equal(t, http.StatusOK, status, body)
	seg := s.segments("stream=cam")[0]
	path := filepath.Join(dir, seg.Path)
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.Symlink(secret, path))
	status, body, _ = s.request(http.MethodGet, "/api/v1/recordings/"+seg.ID, "", "")
	require.Equal(t, http.StatusNotFound, status, body)
	require.NotContains(t, body, "not yours")
	status, body, _ = s.request(http.MethodDelete, "/api/v1/recordings/"+seg.ID, "", "")
	require.Equal(t, http.StatusNoContent, status, body)

	for file, want := range map[string]string{secret: "not yours", part: "not yours either"} {
		got, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Equal(t, want, string(got), "%s was changed", file)
	}
	_, err := os.Lstat(filepath.Join(dir, "planted_20260101-000000-000_0002.mp4.part"))
	require.NoError(t, err, "the planted link itself is left alone")
}
