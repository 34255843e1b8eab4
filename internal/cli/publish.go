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
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/whip"
)

type publishFlags struct {
	server, url, name, codec, profile, videoFile, audioFile, token string
	count                                                          int
	duration, audioDelay                                           time.Duration
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

// runPublish publishes count streams until interrupted or --duration passes.
func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("publish", stdout, stderr)
	var f publishFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.token == "" {
		f.token = os.Getenv("VIGIL_TOKEN")
	}
	if f.count < 1 {
		return fmt.Errorf("%w: --count must be at least 1", errUsage)
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
	api, err := rtc.NewClientAPI(log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}

	sessions := make([]*publish.Session, f.count)
	errs := make([]error, f.count)
	var wg sync.WaitGroup
	for i := range f.count {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name, url := f.endpoint(i + 1)
			startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			s, err := publish.Start(startCtx, publish.Options{Endpoint: url, Video: video, Audio: audio,
				AudioDelay: f.audioDelay, API: api, Log: log, Impair: impair, Client: &whip.Client{BearerToken: f.token}})
			if err != nil {
				errs[i] = fmt.Errorf("%s: %w", name, err)
				return
			}
			sessions[i] = s
			fmt.Fprintf(stdout, "publishing %s to %s\n", name, url)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(stderr, err)
	}
	started := 0
	for _, s := range sessions {
		if s != nil {
			started++
		}
	}
	if started > 0 {
		<-ctx.Done()
	}
	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, s := range sessions {
		if s == nil {
			continue
		}
		if err := s.Close(closeCtx); err != nil {
			log.Warn("end session", "err", err)
		}
		if impair != nil {
			name, _ := f.endpoint(i + 1)
			im := s.Stats().Impaired
			fmt.Fprintf(stdout, "%s: impairment sent %d RTP packets, dropped %d, reordered %d, duplicated %d\n",
				name, im.Sent, im.Dropped, im.Reordered, im.Duplicated)
		}
	}
	return errors.Join(errs...)
}
