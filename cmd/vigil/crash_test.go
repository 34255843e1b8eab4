package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/publish"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/testutil"
)

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.Unmarshal(b, v), string(b))
	}
	return resp.StatusCode
}

// kill -9 of the server 15 s into a 1080p recording: the file on disk plays (at least 13 s, no
// decode errors); after a restart it is repaired, renamed and listed by the API as recovered.
func TestKillDuringRecording(t *testing.T) {
	if testing.Short() {
		t.Skip("records for 15 s")
	}
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	bin := testutil.BuildVigil(t)
	dir := t.TempDir()
	httpPort, udpPort := testutil.FreePort(t, "tcp"), testutil.FreePort(t, "udp")
	srv := testutil.StartVigil(t, bin, dir, httpPort, udpPort)

	video, err := publish.BuiltinVideo(media.H264, "1080p")
	require.NoError(t, err)
	audio, err := publish.BuiltinAudio()
	require.NoError(t, err)
	api, err := rtc.NewClientAPI(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := publish.Start(ctx, publish.Options{Endpoint: srv.Base + "/whip/crash", Video: video, Audio: audio, API: api,
		Log: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = pub.Close(closeCtx)
	}()

	var rec struct {
		State    string
		Duration float64
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Post(srv.Base+"/api/v1/streams/crash/recording", "application/json", strings.NewReader("{}"))
		require.NoError(t, err)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			break
		}
		require.True(t, time.Now().Before(deadline), "could not start the recording: %d", resp.StatusCode)
		time.Sleep(100 * time.Millisecond)
	}
	deadline = time.Now().Add(60 * time.Second)
	for rec.Duration < 15 {
		require.Equal(t, http.StatusOK, getJSON(t, srv.Base+"/api/v1/streams/crash/recording", &rec))
		require.True(t, time.Now().Before(deadline), "recording did not reach 15 s")
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, srv.Cmd.Process.Signal(syscall.SIGKILL))
	<-srv.Exited

	parts, err := filepath.Glob(filepath.Join(dir, "*.mp4.part"))
	require.NoError(t, err)
	require.Len(t, parts, 1, "the open segment is on disk under its temporary name")
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", parts[0]).CombinedOutput()
	require.NoError(t, err, string(out))
	dur, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	require.NoError(t, err, string(out))
	t.Logf("after kill -9: %s plays for %.3f s", filepath.Base(parts[0]), dur)
	require.GreaterOrEqual(t, dur, 13.0)
	out, err = exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", parts[0], "-f", "null", "-").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Empty(t, strings.TrimSpace(string(out)))

	srv2 := testutil.StartVigil(t, bin, dir, httpPort, udpPort)
	var list struct {
		Recordings []struct {
			Path, State string
			Duration    float64
		}
	}
	require.Equal(t, http.StatusOK, getJSON(t, srv2.Base+"/api/v1/recordings", &list))
	require.Len(t, list.Recordings, 1)
	got := list.Recordings[0]
	require.Equal(t, "recovered", got.State)
	require.Equal(t, strings.TrimSuffix(filepath.Base(parts[0]), ".part"), got.Path)
	require.InDelta(t, dur, got.Duration, 1.0)
	require.FileExists(t, filepath.Join(dir, got.Path))
	require.NoFileExists(t, parts[0])
}
