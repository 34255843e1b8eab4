package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/app"
	"github.com/vigilrec/vigil/internal/config"
)

// syncBuffer is an output written by a running command while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is a vigil server on loopback ports chosen by the kernel.
type server struct {
	base string
	stop func() // shuts it down and waits; safe to call twice
}

func startServer(t *testing.T) *server {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP, cfg.UDP, cfg.Dir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	a, err := app.New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	s := &server{base: "http://" + a.HTTPAddr().String(), stop: func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(30 * time.Second):
				t.Error("server did not stop within 30 s")
			}
		})
	}}
	t.Cleanup(s.stop)
	waitFor(t, "server ready", 10*time.Second, func() bool {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return s
}

// kick disconnects the publisher of stream through the API.
func (s *server) kick(t *testing.T, stream string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, s.base+"/api/v1/streams/"+stream, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishRun is `vigil publish` running in the background.
type publishRun struct {
	stdout, stderr syncBuffer
	interrupt      context.CancelFunc // what Ctrl-C does to the command
	code           chan int
}

func startPublish(t *testing.T, args ...string) *publishRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &publishRun{interrupt: cancel, code: make(chan int, 1)}
	go func() { r.code <- Main(ctx, append([]string{"publish"}, args...), &r.stdout, &r.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.code:
		case <-time.After(30 * time.Second):
			t.Error("publish did not stop within 30 s")
		}
	})
	return r
}

// exit waits for the command's exit code.
func (r *publishRun) exit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case code := <-r.code:
		r.code <- code // for the cleanup
		return code
	case <-time.After(timeout):
		t.Fatalf("publish still running after %s\nstdout:\n%s\nstderr:\n%s", timeout, r.stdout.String(), r.stderr.String())
		return -1
	}
}

var statusRe = regexp.MustCompile(`(?m)^\[\d+s\] connected (\d+)/(\d+), sent (\d+) packets .*, rtt ([0-9.]+) ms.*, pli (\d+)$`)

// waitStatus waits for a status line of connected/total streams having sent packets, a round trip
// measured and a keyframe request answered.
func (r *publishRun) waitStatus(t *testing.T, connected, total int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("a status line with %d/%d connected", connected, total), 20*time.Second, func() bool {
		for _, m := range statusRe.FindAllStringSubmatch(r.stdout.String(), -1) {
			packets, _ := strconv.Atoi(m[3])
			plis, _ := strconv.Atoi(m[5])
			if m[1] == strconv.Itoa(connected) && m[2] == strconv.Itoa(total) && packets > 0 && m[4] != "" && plis > 0 {
				return true
			}
		}
		return false
	})
}

// printedOnce checks that msg was printed exactly once, on stderr.
func (r *publishRun) printedOnce(t *testing.T, msg string) {
	t.Helper()
	out, errOut := r.stdout.String(), r.stderr.String()
	require.Equal(t, 1, strings.Count(errOut, msg), "stderr:\n%s", errOut)
	require.NotContains(t, out, msg)
}

func TestPublishStatusThenKick(t *testing.T) {
	s := startServer(t)
	r := startPublish(t, "--server", s.base, "--name", "cam1", "--status", "300ms")
	r.waitStatus(t, 1, 1)
	s.kick(t, "cam1")
	require.Equal(t, exitError, r.exit(t, 20*time.Second), "stdout:\n%s", r.stdout.String())
	r.printedOnce(t, "vigil publish: stream cam1: session ended by the server (connection closed)\n")
	require.Regexp(t, `(?m)^summary: 1 stream, \d+s, sent [1-9]\d* packets`, r.stdout.String())
	require.Contains(t, r.stdout.String(), "failed: cam1 (after ")
}

func TestPublishOneStreamEndsTheOthersGoOn(t *testing.T) {
	s := startServer(t)
	r := startPublish(t, "--server", s.base, "--count", "2", "--no-audio", "--status", "300ms")
	r.waitStatus(t, 2, 2)
	s.kick(t, "Stream-1")
	msg := "vigil publish: stream Stream-1: session ended by the server (connection closed)\n"
	waitFor(t, "Stream-1 reported ended", 20*time.Second, func() bool { return strings.Contains(r.stderr.String(), msg) })
	r.waitStatus(t, 1, 2)
	select {
	case code := <-r.code:
		t.Fatalf("publish exited (%d) with a stream still running", code)
	default:
	}
	r.interrupt()
	require.Equal(t, exitError, r.exit(t, 20*time.Second))
	r.printedOnce(t, msg)
	require.True(t, strings.HasSuffix(r.stderr.String(), "\nvigil publish: 1 of 2 streams failed\n"), r.stderr.String())
	require.Contains(t, r.stdout.String(), "summary: 2 streams")
}

func TestPublishServerShutdown(t *testing.T) {
	s := startServer(t)
	r := startPublish(t, "--server", s.base, "--name", "cam1", "--status", "300ms")
	r.waitStatus(t, 1, 1)
	s.stop()
	require.Equal(t, exitError, r.exit(t, 20*time.Second))
	r.printedOnce(t, "stream cam1: session ended by the server")
}

func TestPublishInterruptIsClean(t *testing.T) {
	s := startServer(t)
	r := startPublish(t, "--server", s.base, "--name", "cam1", "--status", "300ms")
	r.waitStatus(t, 1, 1)
	r.interrupt()
	require.Equal(t, exitOK, r.exit(t, 20*time.Second), "stderr:\n%s", r.stderr.String())
	require.Empty(t, r.stderr.String())
	require.Regexp(t, `(?m)^summary: 1 stream, \d+s, sent [1-9]\d* packets`, r.stdout.String())
	require.NotContains(t, r.stdout.String(), "failed:")
}

func TestPublishStartFailurePrintedOnce(t *testing.T) {
	s := startServer(t)
	s.stop()
	r := startPublish(t, "--server", s.base, "--name", "cam1")
	require.Equal(t, exitError, r.exit(t, 40*time.Second))
	r.printedOnce(t, "stream cam1: post offer to "+s.base+"/whip/cam1")
	require.Equal(t, 1, strings.Count(r.stderr.String(), "\n"), r.stderr.String())
}

func TestPublishFailures(t *testing.T) {
	ended := errors.New("stream b: session ended by the server (connection closed)")
	for _, tc := range []struct {
		name    string
		streams []*publishStream
		want    string
	}{
		{"none", []*publishStream{{name: "a"}}, ""},
		{"one, not printed", []*publishStream{{name: "a"}, {name: "b", err: ended}}, ended.Error()},
		{"printed before", []*publishStream{{name: "a"}, {name: "b", err: ended, printed: true}}, "1 of 2 streams failed"},
		{"one printed, the last not", []*publishStream{{name: "a", err: errors.New("stream a: x"), printed: true},
			{name: "b", err: ended}}, ended.Error() + "; 2 of 2 streams failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := failures(tc.streams)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
		})
	}
}

func TestPublishStatusLine(t *testing.T) {
	cur := publishTotals{connected: 2, packets: 3000, bytes: 1_500_000, nacked: 12, retransmitted: 11, plis: 2,
		rtts: 2, rttSum: 3 * time.Millisecond, rttMax: 2 * time.Millisecond}
	prev := publishTotals{bytes: 250_000}
	require.Equal(t, "[10s] connected 2/3, sent 3000 packets 1.5 MB, 2.00 Mbit/s, rtt 1.5 ms avg 2.0 ms max, "+
		"nacked 12, retransmitted 11, pli 2", statusLine(10*time.Second, 3, cur, prev, 5*time.Second))
	require.Contains(t, statusLine(time.Second, 1, publishTotals{}, publishTotals{}, time.Second), ", rtt -,")
}
