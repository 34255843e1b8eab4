package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/publish"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/testutil"
)

// kill -9 of the server with uploads queued (the S3 server is down), then a restart with S3 back:
// the queue resumes from the catalog, no segment is lost, and none is uploaded twice into a
// different key.
func TestKillWithUploadsQueued(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two servers")
	}
	s3 := testutil.StartS3(t)
	s3.Stop() // uploads can only queue up
	bin := testutil.BuildVigil(t)
	dir := t.TempDir()
	httpPort, udpPort := testutil.FreePort(t, "tcp"), testutil.FreePort(t, "udp")
	args := []string{"--s3-endpoint", s3.Endpoint, "--s3-bucket", testutil.S3Bucket, "--s3-access-key", testutil.S3AccessKey,
		"--s3-secret-key", testutil.S3SecretKey, "--s3-node", "n1", "--record-auto", "all", "--record-rotation", "2s"}
	srv := testutil.StartVigil(t, bin, dir, httpPort, udpPort, args...)

	video, err := publish.BuiltinVideo(media.H264, "240p")
	require.NoError(t, err)
	api, err := rtc.NewClientAPI(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := publish.Start(ctx, publish.Options{Endpoint: srv.Base + "/whip/queued", Video: video, API: api,
		Log: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = pub.Close(closeCtx)
	}()

	type segment struct {
		ID, Path, State string
		Upload          *struct{ State, Key string }
	}
	var list struct{ Recordings []segment }
	deadline := time.Now().Add(60 * time.Second)
	for {
		require.Equal(t, http.StatusOK, getJSON(t, srv.Base+"/api/v1/recordings", &list))
		queued := 0
		for _, s := range list.Recordings {
			if s.Upload != nil && s.Upload.State != "uploaded" {
				queued++
			}
		}
		// The kill comes while a segment is being written (its .part holds a fragment), so
		// that there is one to recover.
		if queued >= 3 && len(partFiles(t, dir, 4096)) > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "uploads did not queue up")
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, srv.Cmd.Process.Signal(syscall.SIGKILL))
	<-srv.Exited
	// What the kill left unfinished: rotation may have closed the segment seen above and opened
	// the next one in the instant before the kill. A .part still empty holds nothing to keep.
	open := partFiles(t, dir, 1)
	require.LessOrEqual(t, len(open), 1, "one recording, one open segment: %v", open)

	s3.Start()
	srv2 := testutil.StartVigil(t, bin, dir, httpPort, udpPort, append(args, "--record-auto", "none")...)
	deadline = time.Now().Add(90 * time.Second)
	for {
		require.Equal(t, http.StatusOK, getJSON(t, srv2.Base+"/api/v1/recordings", &list))
		done := len(list.Recordings) > 0
		for _, s := range list.Recordings {
			if s.Upload == nil || s.Upload.State != "uploaded" {
				done = false
			}
		}
		if done {
			break
		}
		require.True(t, time.Now().Before(deadline), "the queue did not drain after the restart: %+v", list.Recordings)
		time.Sleep(200 * time.Millisecond)
	}
	objects, err := s3.Objects(context.Background())
	require.NoError(t, err)
	require.Len(t, objects, len(list.Recordings), "one object per segment: %v", objects)
	recovered := 0
	for _, s := range list.Recordings {
		fi, err := os.Stat(filepath.Join(dir, s.Path))
		require.NoError(t, err)
		require.Equal(t, fi.Size(), objects[s.Upload.Key], "%s", s.Path)
		if s.State == "recovered" {
			recovered++
		}
	}
	require.Equal(t, len(open), recovered, "the segment open at the kill (%v) is recovered and uploaded too", open)
	if len(open) == 0 {
		t.Log("the kill fell between two segments: nothing was open")
	}
}

// partFiles lists the unfinished segments in dir of at least minBytes.
func partFiles(t *testing.T, dir string, minBytes int64) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.part"))
	require.NoError(t, err)
	var out []string
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Size() >= minBytes {
			out = append(out, filepath.Base(m))
		}
	}
	return out
}
