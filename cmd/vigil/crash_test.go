package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
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
)

func buildVigil(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type process struct {
	cmd    *exec.Cmd
	base   string
	log    string
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
}

func startVigil(t *testing.T, bin, dir string, httpPort, udpPort int, extra ...string) *process {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "vigil.log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, "--http", fmt.Sprintf("127.0.0.1:%d", httpPort), "--udp", fmt.Sprintf("127.0.0.1:%d", udpPort),
		"--dir", dir)
	cmd.Args = append(cmd.Args, extra...)
	cmd.Env = withoutVigilVars(os.Environ())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", httpPort), log: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.exited })
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("vigil not ready within 30 s:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

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
	bin := buildVigil(t)
	dir := t.TempDir()
	httpPort, udpPort := freePort(t, "tcp"), freePort(t, "udp")
	srv := startVigil(t, bin, dir, httpPort, udpPort)

	video, err := publish.BuiltinVideo(media.H264, "1080p")
	require.NoError(t, err)
	audio, err := publish.BuiltinAudio()
	require.NoError(t, err)
	api, err := rtc.NewClientAPI(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := publish.Start(ctx, publish.Options{Endpoint: srv.base + "/whip/crash", Video: video, Audio: audio, API: api,
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
		resp, err := http.Post(srv.base+"/api/v1/streams/crash/recording", "application/json", strings.NewReader("{}"))
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
		require.Equal(t, http.StatusOK, getJSON(t, srv.base+"/api/v1/streams/crash/recording", &rec))
		require.True(t, time.Now().Before(deadline), "recording did not reach 15 s")
		time.Sleep(100 * time.Millisecond)
	}
	require.NoError(t, srv.cmd.Process.Signal(syscall.SIGKILL))
	<-srv.exited

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

	srv2 := startVigil(t, bin, dir, httpPort, udpPort)
	var list struct {
		Recordings []struct {
			Path, State string
			Duration    float64
		}
	}
	require.Equal(t, http.StatusOK, getJSON(t, srv2.base+"/api/v1/recordings", &list))
	require.Len(t, list.Recordings, 1)
	got := list.Recordings[0]
	require.Equal(t, "recovered", got.State)
	require.Equal(t, strings.TrimSuffix(filepath.Base(parts[0]), ".part"), got.Path)
	require.InDelta(t, dur, got.Duration, 1.0)
	require.FileExists(t, filepath.Join(dir, got.Path))
	require.NoFileExists(t, parts[0])
}
