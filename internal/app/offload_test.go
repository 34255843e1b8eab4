package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/testutil"
)

func withS3(s3 *testutil.S3Server, deleteLocal bool) func(*config.Config) {
	return func(c *config.Config) {
		c.S3.Endpoint, c.S3.Bucket = s3.Endpoint, testutil.S3Bucket
		c.S3.AccessKey, c.S3.SecretKey = testutil.S3AccessKey, testutil.S3SecretKey
		c.S3.Node = "node-a"
		c.S3.PartSize = 5 << 20
		c.S3.DeleteLocalAfterUpload = deleteLocal
		c.Record.Auto = "all"
	}
}

type segmentUpload struct {
	ID, Stream, Path, State string
	Offloaded               bool
	Upload                  *struct {
		State, Key, SHA256 string
		Attempts           int
	}
}

func (s *testServer) uploads() []segmentUpload {
	s.t.Helper()
	status, body, _ := s.request(http.MethodGet, "/api/v1/recordings?limit=1000", "", "")
	require.Equal(s.t, http.StatusOK, status, body)
	var out struct{ Recordings []segmentUpload }
	require.NoError(s.t, json.Unmarshal([]byte(body), &out))
	return out.Recordings
}

func (s *testServer) storage() map[string]any {
	s.t.Helper()
	status, body, _ := s.request(http.MethodGet, "/api/v1/storage", "", "")
	require.Equal(s.t, http.StatusOK, status, body)
	var out map[string]any
	require.NoError(s.t, json.Unmarshal([]byte(body), &out))
	return out
}

func allUploaded(segs []segmentUpload) bool {
	for _, seg := range segs {
		if seg.State != "deleted" && (seg.Upload == nil || seg.Upload.State != "uploaded") {
			return false
		}
	}
	return len(segs) > 0
}

// Five streams recorded with 5 s rotation for 30 s: every segment lands in the bucket under its
// key, byte-identical (SHA-256) to the local file.
func TestOffloadToS3(t *testing.T) {
	if testing.Short() {
		t.Skip("records for 30 s")
	}
	s3 := testutil.StartS3(t)
	s := startServer(t, func(c *config.Config) {
		withS3(s3, false)(c)
		c.Record.Rotation = "5s"
	})
	for i := range 5 {
		s.publish("s3cam-"+itoa(i), media.H264)
	}
	time.Sleep(30 * time.Second) // the scenario: record for 30 s
	for i := range 5 {
		status, body, _ := s.request(http.MethodDelete, "/api/v1/streams/s3cam-"+itoa(i)+"/recording", "", "")
		require.Equal(t, http.StatusOK, status, body)
	}
	s.waitFor("every segment uploaded", 60*time.Second, func() bool { return allUploaded(s.uploads()) })
	segs := s.uploads()
	require.GreaterOrEqual(t, len(segs), 5*5)
	ctx := context.Background()
	objects, err := s3.Objects(ctx)
	require.NoError(t, err)
	require.Len(t, objects, len(segs))
	for _, seg := range segs {
		local, err := os.ReadFile(filepath.Join(s.app.store.Dir(), seg.Path))
		require.NoError(t, err)
		require.Equal(t, "node-a/"+seg.Stream+"/"+time.Now().UTC().Format("2006-01-02")+"/"+seg.Path, seg.Upload.Key)
		remote, err := s3.Get(ctx, seg.Upload.Key)
		require.NoError(t, err)
		require.Equal(t, sha256.Sum256(local), sha256.Sum256(remote), "%s differs in the bucket", seg.Path)
	}
	st := s.storage()["uploads"].(map[string]any)
	require.EqualValues(t, len(segs), st["uploaded"])
	require.EqualValues(t, 0, st["queue"])
}

// With delete_local_after_upload the local copies go once verified, and downloads through the API
// still return the same bytes (from the bucket).
func TestOffloadDeletesLocalCopies(t *testing.T) {
	s3 := testutil.StartS3(t)
	s := startServer(t, func(c *config.Config) {
		withS3(s3, true)(c)
		c.Record.Rotation = "2s"
	})
	s.publish("offcam", media.VP8)
	s.waitFor("three segments offloaded", 60*time.Second, func() bool {
		n := 0
		for _, seg := range s.uploads() {
			if seg.Offloaded {
				n++
			}
		}
		return n >= 3
	})
	status, body, _ := s.request(http.MethodDelete, "/api/v1/streams/offcam/recording", "", "")
	require.Equal(t, http.StatusOK, status, body)
	s.waitFor("every segment offloaded", 60*time.Second, func() bool {
		for _, seg := range s.uploads() {
			if !seg.Offloaded {
				return false
			}
		}
		return true
	})
	ctx := context.Background()
	for _, seg := range s.uploads() {
		require.NoFileExists(t, filepath.Join(s.app.store.Dir(), seg.Path))
		remote, err := s3.Get(ctx, seg.Upload.Key)
		require.NoError(t, err)
		status, body, hdr := s.request(http.MethodGet, "/api/v1/recordings/"+seg.ID, "", "")
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "video/webm", hdr.Get("Content-Type"))
		sum := sha256.Sum256([]byte(body))
		require.Equal(t, sha256.Sum256(remote), sum)
		require.Equal(t, seg.Upload.SHA256, hex.EncodeToString(sum[:]), "the bytes recorded before the upload")
	}
}

// An S3 outage of 30 s mid-run loses nothing: failures show in /api/v1/storage, and the queue
// drains once the server is back.
func TestOffloadSurvivesOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a 30 s outage")
	}
	s3 := testutil.StartS3(t)
	s := startServer(t, func(c *config.Config) {
		withS3(s3, false)(c)
		c.Record.Rotation = "3s"
	})
	for i := range 3 {
		s.publish("outage-"+itoa(i), media.H264)
	}
	s.waitFor("first uploads", 30*time.Second, func() bool {
		return s.storage()["uploads"].(map[string]any)["uploaded"].(float64) >= 3
	})
	s3.Stop()
	outageEnds := time.Now().Add(30 * time.Second)
	s.waitFor("failures reported", 30*time.Second, func() bool {
		u := s.storage()["uploads"].(map[string]any)
		return u["failures"].(float64) > 0 && u["queue"].(float64) > 0 && u["lastError"] != ""
	})
	time.Sleep(time.Until(outageEnds)) // the scenario: a 30 s outage
	s3.Start()
	for i := range 3 {
		status, body, _ := s.request(http.MethodDelete, "/api/v1/streams/outage-"+itoa(i)+"/recording", "", "")
		require.Equal(t, http.StatusOK, status, body)
	}
	s.waitFor("the queue drained", 120*time.Second, func() bool {
		return allUploaded(s.uploads()) && s.storage()["uploads"].(map[string]any)["queue"].(float64) == 0
	})
	segs := s.uploads()
	require.GreaterOrEqual(t, len(segs), 3*10)
	objects, err := s3.Objects(context.Background())
	require.NoError(t, err)
	require.Len(t, objects, len(segs))
	for _, seg := range segs {
		local, err := os.ReadFile(filepath.Join(s.app.store.Dir(), seg.Path))
		require.NoError(t, err)
		require.EqualValues(t, len(local), objects[seg.Upload.Key], "%s", seg.Path)
	}
}
