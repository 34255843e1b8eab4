package hook_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigilrec/vigil/internal/hook"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// script writes an executable shell script with body and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hook.sh")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return path
}

// start runs r until the test ends, and returns a stop function that cancels Run and waits for
// it, failing if it does not return within limit.
func start(t *testing.T, r *hook.Runner) (stop func(limit time.Duration)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop = func(limit time.Duration) {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(limit):
			t.Fatalf("Run did not return within %v of cancel", limit)
		}
	}
	t.Cleanup(func() { stop(30 * time.Second) })
	return stop
}

// waitStats polls until cond holds for the runner's counters, or fails at the deadline.
func waitStats(t *testing.T, r *hook.Runner, cond func(hook.Stats) bool) hook.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := r.Stats()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("hook counters stuck at %+v", s)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for the condition
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestScriptGetsStreamAndPath checks Web Call Server's on_record_hook_script convention: the
// stream name and the file's path as $1 and $2.
func TestScriptGetsStreamAndPath(t *testing.T) {
	out := filepath.Join(t.TempDir(), "args")
	r := hook.New(hook.Config{Script: script(t, `printf '%s|%s' "$1" "$2" > "`+out+`"`)}, discard())
	require.True(t, r.Enabled())
	stop := start(t, r)
	r.Enqueue("cam-1", "/rec/cam-1 2025.mp4")
	s := waitStats(t, r, func(s hook.Stats) bool { return s.Run == 1 })
	require.Equal(t, hook.Stats{Run: 1}, s)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, "cam-1|/rec/cam-1 2025.mp4", string(b))
	stop(5 * time.Second)
}

func TestFailingScript(t *testing.T) {
	r := hook.New(hook.Config{Script: script(t, "echo oops >&2; exit 3"), Workers: 2}, discard())
	stop := start(t, r)
	r.Enqueue("a", "/rec/a.mp4")
	r.Enqueue("b", "/rec/b.mp4")
	s := waitStats(t, r, func(s hook.Stats) bool { return s.Run == 2 })
	require.Equal(t, hook.Stats{Run: 2, Failed: 2}, s)
	stop(5 * time.Second)
}

func TestMissingScript(t *testing.T) {
	r := hook.New(hook.Config{Script: filepath.Join(t.TempDir(), "missing.sh")}, discard())
	stop := start(t, r)
	r.Enqueue("a", "/rec/a.mp4")
	s := waitStats(t, r, func(s hook.Stats) bool { return s.Run == 1 })
	require.Equal(t, hook.Stats{Run: 1, Failed: 1}, s)
	stop(5 * time.Second)
}

// TestScriptTimeout checks that a hook running past its timeout is killed and counted as
// failed, even when the script waits on a child process, and that Run then returns promptly.
func TestScriptTimeout(t *testing.T) {
	r := hook.New(hook.Config{Script: script(t, "sleep 5"), Timeout: 200 * time.Millisecond}, discard())
	stop := start(t, r)
	began := time.Now()
	r.Enqueue("a", "/rec/a.mp4")
	s := waitStats(t, r, func(s hook.Stats) bool { return s.Run == 1 })
	require.Equal(t, hook.Stats{Run: 1, Failed: 1}, s)
	require.Less(t, time.Since(began), 3*time.Second, "the hook outlived its timeout")
	stop(2 * time.Second)
}

// TestCancelWhileHookRuns checks that cancelling Run while a slow hook runs returns once the
// hook's timeout has killed it, not when the script would have finished.
func TestCancelWhileHookRuns(t *testing.T) {
	started := filepath.Join(t.TempDir(), "started")
	r := hook.New(hook.Config{Script: script(t, "touch "+started+"; sleep 5"), Timeout: 300 * time.Millisecond}, discard())
	stop := start(t, r)
	r.Enqueue("a", "/rec/a.mp4")
	deadline := time.Now().Add(10 * time.Second)
	for _, err := os.Stat(started); err != nil; _, err = os.Stat(started) {
		require.True(t, time.Now().Before(deadline), "hook never started")
		time.Sleep(5 * time.Millisecond)
	}
	stop(3 * time.Second)
	require.Equal(t, hook.Stats{Run: 1, Failed: 1}, r.Stats())
}

// TestRunDrainsQueueOnCancel checks that hooks queued before shutdown still run.
func TestRunDrainsQueueOnCancel(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	r := hook.New(hook.Config{Script: script(t, `echo "$1" >> "`+out+`"`), Workers: 1}, discard())
	for _, s := range []string{"a", "b", "c"} {
		r.Enqueue(s, "/rec/"+s+".mp4")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, r.Run(ctx))
	require.Equal(t, hook.Stats{Run: 3}, r.Stats())
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, "a\nb\nc\n", string(b))
}

func TestQueueFullDrops(t *testing.T) {
	r := hook.New(hook.Config{Script: "/bin/true"}, discard())
	for range 1024 + 3 {
		r.Enqueue("a", "/rec/a.mp4") // nothing runs the queue: Enqueue must still not block
	}
	require.Equal(t, hook.Stats{Dropped: 3}, r.Stats())
}

func TestDisabled(t *testing.T) {
	r := hook.New(hook.Config{}, discard())
	require.False(t, r.Enabled())
	r.Enqueue("a", "/rec/a.mp4")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, r.Run(ctx))
	require.Equal(t, hook.Stats{}, r.Stats())
}
