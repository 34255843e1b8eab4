// Package hook runs the operator's shell hook for every finished recording file, with Web Call
// Server's on_record_hook_script semantics: the script gets the stream name and the absolute file
// path as its two arguments. Hooks run from a bounded queue on their own goroutines, each with a
// timeout; a failing or slow hook is logged and never holds up recording.
package hook

import (
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"sync"
	"time"
)

// Config of the hook runner.
type Config struct {
	// Script is the executable to run; empty disables hooks.
	Script string
	// Timeout kills a hook that runs longer. Default 60 s.
	Timeout time.Duration
	// Workers is how many hooks may run at once. Default 4.
	Workers int
}

type job struct{ stream, path string }

// Runner queues and runs hooks.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	queue chan job
	mu    sync.Mutex
	stats Stats
}

// Stats count hook runs.
type Stats struct {
	Run, Failed, Dropped uint64
}

// New returns a runner; Run must be running for hooks to execute.
func New(cfg Config, log *slog.Logger) *Runner {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	return &Runner{cfg: cfg, log: log, queue: make(chan job, 1024)}
}

// Enabled reports whether a script is configured.
func (r *Runner) Enabled() bool { return r.cfg.Script != "" }

// Enqueue schedules the hook for a finished file. It never blocks: when the queue is full the
// hook is dropped and logged.
func (r *Runner) Enqueue(stream, path string) {
	if !r.Enabled() {
		return
	}
	select {
	case r.queue <- job{stream, path}:
	default:
		r.mu.Lock()
		r.stats.Dropped++
		r.mu.Unlock()
		r.log.Error("hook queue full: hook not run", "stream", stream, "file", path)
	}
}

// Stats returns the counters.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Run executes queued hooks until ctx ends, then runs what is still queued (each bounded by the
// timeout) and returns when every worker is done.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case j := <-r.queue:
					r.exec(j)
				case <-ctx.Done():
					for {
						select {
						case j := <-r.queue:
							r.exec(j)
						default:
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

func (r *Runner) exec(j job) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.cfg.Script, j.stream, j.path)
	// Killing the script at the timeout does not end a child it started (a shell script's
	// "sleep"), which keeps the output pipe open; without a WaitDelay the wait would last as
	// long as that child.
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	r.mu.Lock()
	r.stats.Run++
	if err != nil {
		r.stats.Failed++
	}
	r.mu.Unlock()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		r.log.Error("record hook timed out", "script", r.cfg.Script, "file", j.path, "timeout", r.cfg.Timeout)
	case err != nil:
		r.log.Error("record hook failed", "script", r.cfg.Script, "file", j.path, "err", err, "output", tail(out))
	default:
		r.log.Debug("record hook ran", "file", j.path)
	}
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
