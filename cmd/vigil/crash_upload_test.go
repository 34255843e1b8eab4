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
		if queued >= 3 {
			break
		}
		require.True(t, time.Now().Before(deadline), "uploads did not queue up")
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(t, srv.Cmd.Process.Signal(syscall.SIGKILL))
	<-srv.Exited

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
	require.Equal(t, 1, recovered, "the segment open at the kill is recovered and uploaded too")
}
