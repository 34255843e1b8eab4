package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/publish"
	"github.com/vigilrec/vigil/internal/whip"
)

type publishFlags struct {
	server, url, name, codec, profile, videoFile, audioFile, token string
	count                                                          int
	duration, audioDelay, status                                   time.Duration
	noAudio, noVideo                                               bool
	lossPct, reorderPct, duplicatePct                              float64
	burst                                                          string
	jitter                                                         time.Duration
	seed                                                           uint64
}

func (f *publishFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "http://localhost:8081", "vigil server base URL (WHIP endpoint is SERVER/whip/NAME)")
	fs.StringVar(&f.url, "url", "", "full WHIP endpoint of any server, with {name} for the stream name (overrides --server)")
	fs.StringVar(&f.name, "name", "Stream-{i}", "stream name; {i} is replaced by 1..count")
	fs.IntVar(&f.count, "count", 1, "number of streams to publish")
	fs.StringVar(&f.token, "token", "", "bearer token for the WHIP endpoint (env VIGIL_TOKEN); needed beyond the server's trusted networks")
	fs.StringVar(&f.codec, "codec", "h264", "built-in video codec: h264, vp8 or vp9 (vp9 at 240p only)")
	fs.StringVar(&f.profile, "profile", "240p", "built-in video profile: 240p (≈0.5 Mbps) or 1080p (≈2.5 Mbps)")
	fs.StringVar(&f.videoFile, "video", "", "video file to loop instead: .h264 (Annex B, 30 fps) or .ivf (VP8/VP9/AV1)")
	fs.StringVar(&f.audioFile, "audio", "", "Opus .ogg file to loop instead of the built-in tone")
	fs.BoolVar(&f.noAudio, "no-audio", false, "publish video only")
	fs.BoolVar(&f.noVideo, "no-video", false, "publish audio only")
	fs.DurationVar(&f.duration, "duration", 0, "stop after this long (0: until interrupted)")
	fs.DurationVar(&f.audioDelay, "audio-delay", 0, "start audio this long after video")
	fs.DurationVar(&f.status, "status", 5*time.Second, "print a status line of all the streams this often (0: none)")
	fs.Float64Var(&f.lossPct, "loss-pct", 0, "drop this percentage of RTP packets next to the wire (retransmissions too)")
	fs.StringVar(&f.burst, "burst", "", "lose packets in bursts of N or MIN-MAX packets (with --loss-pct), e.g. 5-20")
	fs.Float64Var(&f.reorderPct, "reorder-pct", 0, "hold back this percentage of RTP packets by up to 30 ms so later ones overtake them")
	fs.DurationVar(&f.jitter, "jitter", 0, "delay every RTP packet by a random time up to this, order kept")
	fs.Float64Var(&f.duplicatePct, "duplicate-pct", 0, "send this percentage of RTP packets twice")
	fs.Uint64Var(&f.seed, "seed", 0, "seed of the impairment's random choices, for reproducible runs (0: random)")
}

// impairment returns the impairment the flags ask for; nil for none.
func (f *publishFlags) impairment() (*publish.Impairment, error) {
	im := &publish.Impairment{LossPct: f.lossPct, ReorderPct: f.reorderPct, Jitter: f.jitter,
		DuplicatePct: f.duplicatePct, Seed: f.seed}
	for _, pct := range []float64{f.lossPct, f.reorderPct, f.duplicatePct} {
		if pct < 0 || pct > 100 {
			return nil, fmt.Errorf("%w: percentages are 0 to 100", errUsage)
		}
	}
	if f.burst != "" {
		lo, hi, err := publish.ParseBurst(f.burst)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		im.BurstMin, im.BurstMax = lo, hi
	}
	if !im.Active() {
		return nil, nil
	}
	return im, nil
}

func (f *publishFlags) clips() (video, audio *publish.Clip, err error) {
	if !f.noVideo {
		if f.videoFile != "" {
			video, err = publish.LoadFile(f.videoFile)
		} else {
			video, err = publish.BuiltinVideo(media.Codec(strings.ToLower(f.codec)), f.profile)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if !f.noAudio {
		if f.audioFile != "" {
			audio, err = publish.LoadFile(f.audioFile)
		} else {
			audio, err = publish.BuiltinAudio()
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if video == nil && audio == nil {
		return nil, nil, fmt.Errorf("%w: --no-audio and --no-video leave nothing to publish", errUsage)
	}
	return video, audio, nil
}

func (f *publishFlags) endpoint(i int) (name, url string) {
	name = strings.ReplaceAll(f.name, "{i}", strconv.Itoa(i))
	if f.url != "" {
		return name, strings.ReplaceAll(f.url, "{name}", name)
	}
	return name, strings.TrimRight(f.server, "/") + "/whip/" + name
}

// publishStream is one stream of a `vigil publish` run.
type publishStream struct {
	name, url string
	sess      *publish.Session // nil when it did not start
	err       error            // why it failed or ended abnormally
	failedAt  time.Duration    // since the run started; 0 for a start failure
	printed   bool             // err was printed while other streams went on
}

// runPublish publishes count streams until interrupted, --duration passes or every stream has
// ended. Progress goes to stdout: a line per stream started, a status line every --status, a
// summary. Each error is printed once on stderr: a stream that fails while others go on is
// reported at once; what is left is returned (and printed by Main).
func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("publish", stdout, stderr)
	var f publishFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if f.token == "" {
		f.token = os.Getenv("VIGIL_TOKEN")
	}
	if f.count < 1 {
		return fmt.Errorf("%w: --count must be at least 1", errUsage)
	}
	if f.status < 0 {
		return fmt.Errorf("%w: --status must not be negative", errUsage)
	}
	video, audio, err := f.clips()
	if err != nil {
		return err
	}
	impair, err := f.impairment()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The first signal ends the run (sessions deleted, summary printed); once it has come, the
	// default handling is back, so a second one exits at once.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop)
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}

	began := time.Now()
	streams := startStreams(ctx, &f, publish.Options{Video: video, Audio: audio, AudioDelay: f.audioDelay,
		Log: log, Impair: impair}, stdout)
	running := 0
	for _, s := range streams {
		switch {
		case s.sess != nil:
			running++
		case ctx.Err() != nil && errors.Is(s.err, ctx.Err()):
			s.err = nil // interrupted while connecting: not a failure
		}
	}
	if running == 0 {
		return failures(streams)
	}
	report := func(s *publishStream, others int) {
		if others > 0 {
			fmt.Fprintf(stderr, "vigil publish: %v\n", s.err)
			s.printed = true
		}
	}
	for _, s := range streams {
		if s.err != nil {
			report(s, running)
		}
	}
	watch(ctx, streams, running, f.status, began, stdout, report)

	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range streams {
		if s.sess == nil {
			continue
		}
		if err := s.sess.Close(closeCtx); err != nil && s.err == nil {
			if !errors.Is(err, publish.ErrEndedByServer) {
				err = fmt.Errorf("end session: %w", err)
			}
			s.err, s.failedAt = fmt.Errorf("stream %s: %w", s.name, err), time.Since(began)
		}
		if impair != nil {
			im := s.sess.Stats().Impaired
			fmt.Fprintf(stdout, "%s: impairment sent %d RTP packets, dropped %d, reordered %d, duplicated %d\n",
				s.name, im.Sent, im.Dropped, im.Reordered, im.Duplicated)
		}
	}
	fmt.Fprint(stdout, summary(time.Since(began), streams))
	return failures(streams)
}

// watch prints a status line every interval (0: never) and reports each stream the server ends
// (report is told how many others still run) until ctx ends or no stream is left running.
func watch(ctx context.Context, streams []*publishStream, running int, interval time.Duration, began time.Time,
	stdout io.Writer, report func(s *publishStream, others int)) {
	// One watcher per session tells the loop below when the server ends it.
	ended := make(chan *publishStream)
	ctx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	for _, s := range streams {
		if s.sess == nil {
			continue
		}
		go func() {
			select {
			case <-s.sess.Failed():
				select {
				case ended <- s:
				case <-ctx.Done():
				}
			case <-ctx.Done():
			}
		}()
	}
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	prev, prevAt := publishTotals{}, began
	for running > 0 {
		select {
		case <-ctx.Done():
			return
		case now := <-tick:
			cur := totalsOf(streams)
			fmt.Fprintln(stdout, statusLine(now.Sub(began), len(streams), cur, prev, now.Sub(prevAt)))
			prev, prevAt = cur, now
		case s := <-ended:
			running--
			why := s.sess.Err()
			if why == nil {
				why = publish.ErrEndedByServer
			}
			s.err, s.failedAt = fmt.Errorf("stream %s: %w", s.name, why), time.Since(began)
			report(s, running)
		}
	}
}

// startStreams starts every stream at once and waits until each is connected or has failed.
func startStreams(ctx context.Context, f *publishFlags, opts publish.Options, stdout io.Writer) []*publishStream {
	streams := make([]*publishStream, f.count)
	var mu sync.Mutex // stdout
	var wg sync.WaitGroup
	for i := range streams {
		s := &publishStream{}
		s.name, s.url = f.endpoint(i + 1)
		streams[i] = s
		wg.Go(func() {
			startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			o := opts
			o.Endpoint, o.Client = s.url, &whip.Client{BearerToken: f.token}
			sess, err := publish.Start(startCtx, o)
			if err != nil {
				s.err = fmt.Errorf("stream %s: %w", s.name, err)
				return
			}
			s.sess = sess
			mu.Lock()
			fmt.Fprintf(stdout, "publishing %s to %s\n", s.name, whip.RedactURL(s.url))
			mu.Unlock()
		})
	}
	wg.Wait()
	return streams
}

// failures is the error of a run: the failures not printed yet, and how many streams failed when
// some were printed before.
func failures(streams []*publishStream) error {
	var errs []error
	failed, printed := 0, false
	for _, s := range streams {
		if s.err == nil {
			continue
		}
		failed++
		if s.printed {
			printed = true
			continue
		}
		errs = append(errs, s.err)
	}
	if !printed {
		return errors.Join(errs...)
	}
	if len(errs) == 0 {
		return fmt.Errorf("%d of %d streams failed", failed, len(streams))
	}
	return fmt.Errorf("%w; %d of %d streams failed", errors.Join(errs...), failed, len(streams))
}

// publishTotals add up the streams' counters.
type publishTotals struct {
	connected                                   int
	packets, bytes, nacked, retransmitted, plis uint64
	rttSum, rttMax                              time.Duration
	rtts                                        int // streams with a round trip measured
}

func totalsOf(streams []*publishStream) publishTotals {
	var t publishTotals
	for _, s := range streams {
		if s.sess == nil {
			continue
		}
		st := s.sess.Stats()
		if st.Connected {
			t.connected++
		}
		t.packets += st.Packets
		t.bytes += st.Bytes
		t.nacked += st.NACKed
		t.retransmitted += st.Retransmitted
		t.plis += st.KeyframeRequests
		if st.RTT > 0 && st.Connected {
			t.rtts++
			t.rttSum += st.RTT
			t.rttMax = max(t.rttMax, st.RTT)
		}
	}
	return t
}

// statusLine is one status line: cur against prev, taken over the interval since.
func statusLine(elapsed time.Duration, total int, cur, prev publishTotals, since time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] connected %d/%d, sent %d packets %s, %s", elapsed.Round(time.Second),
		cur.connected, total, cur.packets, formatBytes(cur.bytes), formatBitrate(cur.bytes-prev.bytes, since))
	switch {
	case cur.rtts == 0:
		b.WriteString(", rtt -")
	case cur.rtts == 1:
		fmt.Fprintf(&b, ", rtt %s", formatRTT(cur.rttSum))
	default:
		fmt.Fprintf(&b, ", rtt %s avg %s max", formatRTT(cur.rttSum/time.Duration(cur.rtts)), formatRTT(cur.rttMax))
	}
	fmt.Fprintf(&b, ", nacked %d, retransmitted %d, pli %d", cur.nacked, cur.retransmitted, cur.plis)
	return b.String()
}

// summary is what a run did, printed at its end; the failures' reasons are on stderr.
func summary(elapsed time.Duration, streams []*publishStream) string {
	t := totalsOf(streams)
	var b strings.Builder
	noun := "streams"
	if len(streams) == 1 {
		noun = "stream"
	}
	fmt.Fprintf(&b, "summary: %d %s, %s, sent %d packets %s, %s, nacked %d, retransmitted %d, pli %d\n",
		len(streams), noun, elapsed.Round(time.Second), t.packets, formatBytes(t.bytes),
		formatBitrate(t.bytes, elapsed), t.nacked, t.retransmitted, t.plis)
	var failed []string
	for _, s := range streams {
		switch {
		case s.err == nil:
		case s.sess == nil:
			failed = append(failed, s.name+" (did not start)")
		default:
			failed = append(failed, fmt.Sprintf("%s (after %s)", s.name, s.failedAt.Round(time.Second)))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "failed: %s\n", strings.Join(failed, ", "))
	}
	return b.String()
}

func formatBytes(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

func formatBitrate(bytes uint64, over time.Duration) string {
	if over <= 0 {
		return "0 kbit/s"
	}
	bps := float64(bytes) * 8 / over.Seconds()
	if bps >= 1e6 {
		return fmt.Sprintf("%.2f Mbit/s", bps/1e6)
	}
	return fmt.Sprintf("%.0f kbit/s", bps/1e3)
}

func formatRTT(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}
