// Package publish is the WHIP client behind `vigil publish`: it publishes looped clips (built in
// or given) in real time to any WHIP endpoint, and answers keyframe requests by restarting the
// video loop at its first keyframe. Tests and load generators use it as any publisher would.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	pionmedia "github.com/pion/webrtc/v4/pkg/media"

	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/whip"
)

// Options describe one publishing session.
type Options struct {
	// Endpoint is the WHIP URL, e.g. http://localhost:8081/whip/cam1.
	Endpoint string
	// Video and Audio are the clips to loop; either may be nil, not both.
	Video, Audio *Clip
	// AudioDelay holds audio back after video starts (for A/V sync checks).
	AudioDelay time.Duration
	// IgnoreKeyframeRequests keeps the clip's own keyframe rhythm (for tests that need to know
	// exactly when keyframes were sent).
	IgnoreKeyframeRequests bool
	// DropEvery drops every n-th RTP packet of each track before the peer connection's
	// interceptors see it, so it is never retransmitted: real, unrecoverable loss (10 drops
	// 10%). 0 drops nothing. For tests of loss handling.
	DropEvery int
	// Impair, when active, impairs the session's RTP next to the wire (loss, bursts,
	// reordering, jitter, duplicates; retransmissions included). The session then builds its
	// own API with rtc.NewClientAPIWithWire, and API is not used.
	Impair *Impairment
	// API builds the peer connection; see rtc.NewClientAPI.
	API *webrtc.API
	// Client posts the offer; the zero value works.
	Client *whip.Client
	Log    *slog.Logger
}

// Session is a running publisher.
type Session struct {
	opts     Options
	pc       *webrtc.PeerConnection
	resource *whip.Resource
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	failed   chan struct{}
	failOnce sync.Once

	impair       *impairer // nil without impairment
	restartVideo atomic.Bool
	videoFrames  atomic.Uint64
	audioFrames  atomic.Uint64
	plis         atomic.Uint64

	mu           sync.Mutex
	firstVideoAt time.Time
	firstAudioAt time.Time
}

// Start negotiates with the endpoint and starts sending. The session runs until Close, or until
// the connection fails (then Failed is closed).
func Start(ctx context.Context, opts Options) (*Session, error) {
	if opts.Video == nil && opts.Audio == nil {
		return nil, errors.New("nothing to publish: give a video or an audio clip")
	}
	if opts.Client == nil {
		opts.Client = &whip.Client{}
	}
	var imp *impairer
	if opts.Impair != nil && opts.Impair.Active() {
		imp = newImpairer(*opts.Impair)
		api, err := rtc.NewClientAPIWithWire(opts.Log, imp)
		if err != nil {
			return nil, err
		}
		opts.API = api
	}
	pc, err := opts.API.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	s := &Session{opts: opts, pc: pc, failed: make(chan struct{}), impair: imp}
	var vTrack, aTrack *webrtc.TrackLocalStaticSample
	var vSender *webrtc.RTPSender
	if opts.Video != nil {
		if vTrack, vSender, err = s.addTrack(opts.Video, "video"); err != nil {
			return nil, s.abort(err)
		}
	}
	if opts.Audio != nil {
		if aTrack, _, err = s.addTrack(opts.Audio, "audio"); err != nil {
			return nil, s.abort(err)
		}
	}
	connected := make(chan struct{})
	var connOnce sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			connOnce.Do(func() { close(connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.failOnce.Do(func() { close(s.failed) })
		}
	})
	s.resource, err = opts.Client.Negotiate(ctx, pc, opts.Endpoint)
	if err != nil {
		return nil, s.abort(err)
	}
	select {
	case <-connected:
	case <-s.failed:
		return nil, s.abort(errors.New("connection failed"))
	case <-ctx.Done():
		return nil, s.abort(fmt.Errorf("connect: %w", ctx.Err()))
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	start := time.Now()
	if vTrack != nil {
		s.wg.Add(2)
		go s.loop(runCtx, vTrack, opts.Video, start, &s.videoFrames, &s.restartVideo, &s.firstVideoAt)
		go s.readRTCP(vSender)
	}
	if aTrack != nil {
		s.wg.Add(1)
		go s.loop(runCtx, aTrack, opts.Audio, start.Add(opts.AudioDelay), &s.audioFrames, nil, &s.firstAudioAt)
	}
	return s, nil
}

func (s *Session) addTrack(c *Clip, kind string) (*webrtc.TrackLocalStaticSample, *webrtc.RTPSender, error) {
	capability := webrtc.RTPCodecCapability{MimeType: c.Codec.Mime(), ClockRate: c.Codec.ClockRate()}
	if kind == "audio" {
		capability.Channels = 2
	}
	track, err := webrtc.NewTrackLocalStaticSample(capability, kind, "vigil-publish")
	if err != nil {
		return nil, nil, fmt.Errorf("new %s track: %w", kind, err)
	}
	var local webrtc.TrackLocal = track
	if s.opts.DropEvery > 0 {
		local = &lossyTrack{TrackLocalStaticSample: track, every: uint64(s.opts.DropEvery)}
	}
	sender, err := s.pc.AddTransceiverFromTrack(local, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, nil, fmt.Errorf("add %s track: %w", kind, err)
	}
	return track, sender.Sender(), nil
}

func (s *Session) abort(err error) error {
	_ = s.pc.Close()
	if s.resource != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.opts.Client.Delete(ctx, s.resource.URL)
	}
	return err
}

// loop sends the clip's frames in real time, from start, looping until ctx ends.
func (s *Session) loop(ctx context.Context, track *webrtc.TrackLocalStaticSample, c *Clip, start time.Time,
	count *atomic.Uint64, restart *atomic.Bool, first *time.Time) {
	defer s.wg.Done()
	timer := time.NewTimer(time.Until(start))
	defer timer.Stop()
	next := start
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if i == len(c.Frames) || (restart != nil && restart.CompareAndSwap(true, false)) {
			i = 0
		}
		f := c.Frames[i]
		if count.Load() == 0 {
			s.mu.Lock()
			*first = time.Now()
			s.mu.Unlock()
		}
		if err := track.WriteSample(pionmedia.Sample{Data: f.Data, Duration: f.Duration}); err != nil {
			s.opts.Log.Debug("write sample", "err", err)
		}
		count.Add(1)
		next = next.Add(f.Duration)
		timer.Reset(time.Until(next))
	}
}

// readRTCP restarts the video loop at its first keyframe when the server asks for one.
func (s *Session) readRTCP(sender *webrtc.RTPSender) {
	defer s.wg.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.plis.Add(1)
				if !s.opts.IgnoreKeyframeRequests {
					s.restartVideo.Store(true)
				}
			}
		}
	}
}

// Failed is closed when the connection fails or the server ends it.
func (s *Session) Failed() <-chan struct{} { return s.failed }

// Stats are counters of what the session sent.
type Stats struct {
	VideoFrames, AudioFrames, KeyframeRequests uint64
	// FirstVideoAt and FirstAudioAt are when the first frame of each track was sent.
	FirstVideoAt, FirstAudioAt time.Time
	// Impaired counts what Options.Impair did to the packets.
	Impaired ImpairStats
}

// Stats returns what was sent so far.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{VideoFrames: s.videoFrames.Load(), AudioFrames: s.audioFrames.Load(), KeyframeRequests: s.plis.Load(),
		FirstVideoAt: s.firstVideoAt, FirstAudioAt: s.firstAudioAt}
	if s.impair != nil {
		st.Impaired = s.impair.stats()
	}
	return st
}

// Close ends the session: DELETE on the resource (errors are returned but the local side is
// closed regardless), then the peer connection.
func (s *Session) Close(ctx context.Context) error {
	s.cancel()
	err := s.opts.Client.Delete(ctx, s.resource.URL)
	if cerr := s.pc.Close(); cerr != nil && err == nil {
		err = cerr
	}
	s.wg.Wait()
	return err
}
