// Package bench is `vigil bench`: the brief's load test in one command. It starts (or attaches
// to) the servers under test, brings N streams to recording over a chosen topology, samples the
// servers' processes (/proc) and metrics (/metrics) every second while showing a live status,
// stops the recordings the way users' scripts do, verifies every file, and writes report.json and
// a self-contained report.html.
//
// It drives servers only from outside, over HTTP and WebRTC (vigil's own WHIP client and clips
// in internal/publish), and reads their files from disk; it must never import the server's
// packages (hub, ingest, egress, recorder, api, app, config), so it measures any WHIP server
// alike. It uses storage for its file parser only (where ffmpeg is not installed).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/publish"
	"github.com/vigilrec/vigil/internal/rtc"
)

// ErrFailed means the run ended but failed its checks (files invalid, streams lost, a
// --fail-on threshold crossed); the report says which.
var ErrFailed = errors.New("bench failed")

// ErrConfig is a bad combination of options.
var ErrConfig = errors.New("bad bench options")

// Config is one run's options (the flags of `vigil bench`).
type Config struct {
	// Topology is "pull" (one publisher to an origin, N pulls into a recorder) or "direct" (N
	// WHIP publishers into one server).
	Topology string
	Streams  int
	// Codec and Profile pick the built-in clip (h264|vp8|vp9, 240p|720p|1080p).
	Codec, Profile string
	// Duration is how long every stream records at full load, after Ramp (the time over which
	// the streams are started; 0: as fast as they come up).
	Duration, Ramp time.Duration
	// Rotation is passed with each startRecording (pull) or to bench's own node: "20s", "10M".
	Rotation string
	// DiskLimit, when positive, puts the recordings of bench's own recorder on a volume of that
	// many bytes.
	DiskLimit int64
	// Origin and Recorder are base URLs of running servers (pull); empty: bench starts its own.
	Origin, Recorder string
	// Target is a WHIP URL template with {name} (direct); empty: bench starts its own vigil.
	Target string
	// ServerPID is the process sampled for a server given by URL (the recorder, or the target).
	ServerPID int
	// Files is the directory where a server given by URL writes its recordings (checked after
	// the run); for vigil servers bench asks the recordings API instead.
	Files string
	// Out is where report.json and report.html go.
	Out string
	// Verify is "full" (ffprobe and a decode of every file) or "probe" (ffprobe only).
	Verify string
	FailOn []Threshold
	// Exe is the vigil binary run as `serve` for bench's own nodes (os.Executable()).
	Exe string
	// Keep leaves the nodes' directories (recordings, logs) in place.
	Keep bool
	Log  *slog.Logger
}

func (c *Config) validate() error {
	var errs []error
	check := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, errors.New(msg))
		}
	}
	check(c.Topology == "pull" || c.Topology == "direct", "--topology must be pull or direct")
	check(c.Streams >= 1, "--streams must be at least 1")
	check(c.Duration > 0, "--duration must be positive")
	check(c.Ramp >= 0, "--ramp must not be negative")
	check(c.Verify == "full" || c.Verify == "probe", "--verify must be full or probe")
	check((c.Origin == "") == (c.Recorder == ""), "--origin and --recorder go together")
	check(c.Topology == "pull" || c.Origin == "", "--origin and --recorder are for --topology pull")
	check(c.Topology == "direct" || c.Target == "", "--target is for --topology direct")
	check(c.Target == "" || strings.Contains(c.Target, "{name}"), "--target needs {name} in it")
	check(c.DiskLimit == 0 || (c.Recorder == "" && c.Target == ""), "--disk-limit needs bench's own recorder node")
	check(c.Out != "", "--out must name a directory")
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// streamRun is one of the N streams.
type streamRun struct {
	name           string
	mediaSessionID string
	pub            *publish.Session
	err            error // why it never started recording
	// dropped says how the stream ended before the stop, when bench saw it (its publisher's
	// connection failed).
	dropped string
	// sentBytes is what its own publisher had sent (frame bytes) when the stop calls began; 0
	// when the stream has no publisher of its own (pulled copies).
	sentBytes uint64
}

// topology is how streams reach the server under test and how their recordings start and stop.
type topology interface {
	// setup starts or attaches the nodes (r.nodes, r.measured).
	setup(ctx context.Context, r *runner) error
	// startStream brings one stream to recording.
	startStream(ctx context.Context, r *runner, s *streamRun) error
	// stopStreams ends every recording the topology's way and returns when the calls returned.
	stopStreams(ctx context.Context, r *runner) []error
	// close ends what bench itself publishes.
	close(ctx context.Context, r *runner)
	// broken says why the run cannot go on (bench's one publisher to the origin failed), or "".
	broken() string
}

// runner holds one run.
type runner struct {
	cfg      Config
	view     *statusView
	http     *http.Client
	work     string // bench's temporary directory: nodes' dirs and logs
	video    *publish.Clip
	audio    *publish.Clip
	api      *webrtc.API
	topo     topology
	nodes    []*node
	measured int
	disk     *diskLimit
	streams  []*streamRun
	smp      *sampler
	rep      *Report
	start    time.Time

	// noFiles is set when the server's files cannot be listed (another server without --files).
	noFiles bool

	mu      sync.Mutex
	phase   string
	started int
}

// Run runs the benchmark, prints the table to stdout and writes the reports. The error wraps
// ErrFailed when the run completed but failed its checks (the report is returned then too).
func Run(ctx context.Context, cfg Config, stdout io.Writer) (*Report, error) {
	r, err := newRunner(cfg, stdout)
	if err != nil {
		return nil, err
	}
	defer r.cleanup()
	if err := r.topo.setup(ctx, r); err != nil {
		return nil, err
	}
	r.announce()
	r.measure(ctx)
	return r.finish(context.WithoutCancel(ctx), stdout)
}

func newRunner(cfg Config, stdout io.Writer) (*runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	video, err := publish.BuiltinVideo(media.Codec(strings.ToLower(cfg.Codec)), cfg.Profile)
	if err != nil {
		return nil, fmt.Errorf("%w: --codec %s --profile %s: %w", ErrConfig, cfg.Codec, cfg.Profile, err)
	}
	audio, err := publish.BuiltinAudio()
	if err != nil {
		return nil, err
	}
	api, err := rtc.NewClientAPI(cfg.Log)
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "vigil-bench-")
	if err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	r := &runner{cfg: cfg, view: newStatusView(stdout), work: work, video: video, audio: audio, api: api,
		http:  &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		start: time.Now(), phase: "starting"}
	r.topo = map[string]topology{"pull": &pullTopology{}, "direct": &directTopology{}}[cfg.Topology]
	for i := range cfg.Streams {
		r.streams = append(r.streams, &streamRun{name: fmt.Sprintf("Stream-%d", i+1)})
	}
	r.rep = &Report{Settings: Settings{Topology: cfg.Topology, Streams: cfg.Streams, Codec: strings.ToLower(cfg.Codec),
		Profile: cfg.Profile, Duration: cfg.Duration.Seconds(), Ramp: cfg.Ramp.Seconds(), Rotation: cfg.Rotation,
		DiskLimit: cfg.DiskLimit, Target: cfg.Target}, Started: r.start, CPUs: runtime.NumCPU()}
	return r, nil
}

// ownNode starts a vigil node of bench's own under the work directory.
func (r *runner) ownNode(ctx context.Context, role string, extra ...string) (*node, error) {
	dir := filepath.Join(r.work, role)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s dir: %w", role, err)
	}
	if r.cfg.Exe == "" {
		return nil, fmt.Errorf("%w: no vigil binary to start a %s node with", ErrConfig, role)
	}
	if role != "origin" && r.cfg.DiskLimit > 0 {
		r.disk = limitDisk(dir, r.cfg.DiskLimit)
		r.rep.Settings.DiskNote = r.disk.String()
		extra = append(extra, r.disk.serveFlags()...)
	}
	n, err := startNode(ctx, r.cfg.Exe, role, dir, r.work, r.http, extra...)
	if err != nil {
		return nil, err
	}
	r.nodes = append(r.nodes, n)
	return n, nil
}

func (r *runner) announce() {
	for _, n := range r.nodes {
		i := n.info()
		switch {
		case i.Own:
			r.view.say("%s node: pid %d, %s, recordings in %s, log %s", i.Role, i.PID, i.URL, i.Dir, i.Log)
		case i.PID > 0:
			r.view.say("%s: %s, pid %d", i.Role, i.URL, i.PID)
		default:
			r.view.say("%s: %s (no pid: its process is not sampled; give --server-pid)", i.Role, i.URL)
		}
	}
	if r.disk != nil {
		r.view.say("disk limit: %s", r.disk)
	}
}

func (r *runner) cleanup() {
	for _, n := range r.nodes {
		if err := n.stop(30 * time.Second); err != nil {
			r.view.say("%v", err)
		}
	}
	if r.cfg.Keep {
		if r.disk != nil && r.disk.mounted {
			r.view.say("kept %s; the recorder's tmpfs stays mounted: umount %s when done", r.work, r.disk.dir)
			return
		}
		r.view.say("kept %s", r.work)
		return
	}
	if err := r.disk.unmount(); err != nil {
		r.view.say("%v", err)
	}
	_ = os.RemoveAll(r.work)
}

func (r *runner) setPhase(p string) {
	r.mu.Lock()
	r.phase = p
	r.mu.Unlock()
}

// event records a notable moment and says it.
func (r *runner) event(format string, args ...any) {
	what := fmt.Sprintf(format, args...)
	t := time.Since(r.start).Seconds()
	r.mu.Lock()
	r.rep.Events = append(r.rep.Events, Event{T: t, What: what})
	r.mu.Unlock()
	r.view.say("%5.1f s: %s", t, what)
}
