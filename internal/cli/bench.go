package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vigilrec/vigil/internal/bench"
	"github.com/vigilrec/vigil/internal/config"
)

// runBench runs `vigil bench [flags]` or `vigil bench compare A.json B.json`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "compare" {
		return runBenchCompare(args[1:], stdout)
	}
	cfg, err := parseBenchFlags(args, stdout, stderr)
	if err != nil {
		return err
	}
	// The first signal ends the run early (bench still stops the recordings, verifies and
	// reports); once it has come, the default handling is back, so a second one exits at once.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	_, err = bench.Run(ctx, cfg, stdout)
	if errors.Is(err, bench.ErrConfig) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return err
}

func parseBenchFlags(args []string, stdout, stderr io.Writer) (bench.Config, error) {
	fs := newFlagSet("bench", stdout, stderr)
	var c bench.Config
	var diskLimit config.ByteSize
	var failOn, logLevel string
	fs.StringVar(&c.Topology, "topology", "pull", "pull: one stream to an origin, pulled N times into a recorder; direct: N WHIP publishers into one server")
	fs.IntVar(&c.Streams, "streams", 10, "number of streams recorded")
	fs.StringVar(&c.Profile, "profile", "240p", "built-in clip profile: 240p (≈0.5 Mbps), 720p, 1080p (≈2.5 Mbps)")
	fs.StringVar(&c.Codec, "codec", "h264", "built-in clip codec: h264, vp8 or vp9 (vp9 at 240p only)")
	fs.DurationVar(&c.Duration, "duration", time.Minute, "how long every stream records at full load (after the ramp)")
	fs.DurationVar(&c.Ramp, "ramp", 0, "spread the stream starts over this long (0: as fast as they come up)")
	fs.StringVar(&c.Rotation, "rotation", "", "cut recordings into segments: 20s, 20 (seconds) or 10M (bytes)")
	fs.Var(&diskLimit, "disk-limit", "put the recorder's directory on a tmpfs of this size (10M, 2G, 512MiB); without mount rights, vigil's own quota")
	fs.StringVar(&c.Origin, "origin", "", "pull: base URL of a running origin server (with --recorder) instead of bench's own")
	fs.StringVar(&c.Recorder, "recorder", "", "pull: base URL of a running recorder server (with --origin)")
	fs.StringVar(&c.Target, "target", "", "direct: WHIP URL template of any server, e.g. http://127.0.0.1:8889/{name}/whip")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "process to sample for a server given by URL (the recorder or the target)")
	fs.StringVar(&c.Files, "files", "", "directory where a server given by URL writes its recordings (verified after the run)")
	fs.StringVar(&c.Out, "out", "bench-"+time.Now().Format("20060102-150405"), "directory for report.json and report.html")
	fs.StringVar(&c.Verify, "verify", "full", "full: ffprobe and a decode of every file (vigil's parser without ffmpeg); probe: ffprobe only")
	fs.StringVar(&failOn, "fail-on", "", "fail when a figure crosses a threshold, e.g. cpu_per_stream_min>0.3,loss>0.01 (see docs/bench.md)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the nodes' recordings and logs")
	fs.StringVar(&logLevel, "log-level", "error", "log level of bench's own publishers (debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	c.DiskLimit = int64(diskLimit)
	var err error
	if c.FailOn, err = bench.ParseFailOn(failOn); err != nil {
		return c, fmt.Errorf("%w: %w", errUsage, err)
	}
	if c.Exe, err = os.Executable(); err != nil {
		return c, fmt.Errorf("find the vigil binary: %w", err)
	}
	c.Log = newLogger(config.LogConfig{Level: logLevel}, stderr)
	return c, nil
}

// runBenchCompare prints two reports' figures side by side.
func runBenchCompare(args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return fmt.Errorf("%w: vigil bench compare A.json B.json", errUsage)
	}
	a, err := bench.LoadReport(args[0])
	if err != nil {
		return err
	}
	b, err := bench.LoadReport(args[1])
	if err != nil {
		return err
	}
	return bench.Compare(stdout, a, b, args[0], args[1])
}
