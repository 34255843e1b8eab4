// Package publish is the WHIP client behind `vigil publish`: it publishes looped clips (built in
// or given) in real time to any WHIP endpoint, and answers keyframe requests by restarting the
// video loop at its first keyframe. Tests and load generators use it as any publisher would.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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
	// own API, and API is not used.
	Impair *Impairment
	// API, when set, builds the peer connection (see rtc.NewClientAPI), so that many sessions
	// share one. When nil the session builds its own with a meter next to the wire: only then
	// are the packet, byte, NACK, retransmission and round-trip figures of Stats counted.
	API *webrtc.API
	// Client posts the offer; the zero value works.
	Client *whip.Client
	Log    *slog.Logger
}

// ErrEndedByServer means the server ended the session: it closed the connection (a kick, a
// DELETE of the WHIP resource by someone else, its shutdown), or the resource was gone when the
// publisher came to delete it.
var ErrEndedByServer = errors.New("session ended by the server")

// ErrConnectionLost means the connection failed: nothing came from the server for the ICE
// failure timeout (a server killed without closing, a network gone).
var ErrConnectionLost = errors.New("connection to the server lost")

// endedError says how a session ended, keeping what it came from for errors.Is and errors.As.
type endedError struct {
	kind   error // ErrEndedByServer or ErrConnectionLost
	detail string
	cause  error // may be nil
}

func (e *endedError) Error() string { return e.kind.Error() + " (" + e.detail + ")" }
func (e *endedError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
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
	endErr   error       // why the connection ended when it was not Close; read after failed
	closing  atomic.Bool // Close has begun: a closed connection is ours
	up       atomic.Bool // the connection is connected now

	impair       *impairer // nil without impairment
	meter        *meter    // nil when Options.API is given
	restartVideo atomic.Bool
	videoFrames  atomic.Uint64
	audioFrames  atomic.Uint64
	mediaBytes   atomic.Uint64
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
	var met *meter
	if opts.Impair != nil && opts.Impair.Active() {
		imp = newImpairer(*opts.Impair)
	}
	if imp != nil || opts.API == nil {
		met = newMeter()
		api, err := rtc.NewClientAPIWithWire(opts.Log, wireFactory{meter: met, impair: imp})
		if err != nil {
			return nil, err
		}
		opts.API = api
	}
	pc, err := opts.API.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	s := &Session{opts: opts, pc: pc, failed: make(chan struct{}), impair: imp, meter: met}
	var vTrack, aTrack *webrtc.TrackLocalStaticSample
	var vSender, aSender *webrtc.RTPSender
	if opts.Video != nil {
		if vTrack, vSender, err = s.addTrack(opts.Video, "video"); err != nil {
			return nil, s.abort(err)
		}
	}
	if opts.Audio != nil {
		if aTrack, aSender, err = s.addTrack(opts.Audio, "audio"); err != nil {
			return nil, s.abort(err)
		}
	}
	connected := make(chan struct{})
	var connOnce sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.up.Store(st == webrtc.PeerConnectionStateConnected)
		switch st {
		case webrtc.PeerConnectionStateConnected:
			connOnce.Do(func() { close(connected) })
		case webrtc.PeerConnectionStateFailed:
			s.end(&endedError{kind: ErrConnectionLost, detail: "ICE failed: no answer from the server"})
		case webrtc.PeerConnectionStateClosed:
			s.end(&endedError{kind: ErrEndedByServer, detail: "connection closed"})
		}
	})
	s.resource, err = opts.Client.Negotiate(ctx, pc, opts.Endpoint)
	if err != nil {
		return nil, s.abort(err)
	}
	select {
	case <-connected:
	case <-s.failed:
		detail := "connection closed"
		if e := (*endedError)(nil); errors.As(s.endErr, &e) {
			detail = e.detail
		}
		return nil, s.abort(fmt.Errorf("connection failed (%s)", detail))
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
		s.wg.Add(2)
		go s.loop(runCtx, aTrack, opts.Audio, start.Add(opts.AudioDelay), &s.audioFrames, nil, &s.firstAudioAt)
		go s.readRTCP(aSender)
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

// end records why the connection ended, unless Close is ending it, and closes Failed.
func (s *Session) end(why error) {
	s.failOnce.Do(func() {
		if !s.closing.Load() {
			s.endErr = why
		}
		close(s.failed)
	})
}

func (s *Session) abort(err error) error {
	s.closing.Store(true)
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
		} else {
			s.mediaBytes.Add(uint64(len(f.Data)))
		}
		count.Add(1)
		next = next.Add(f.Duration)
		timer.Reset(time.Until(next))
	}
}

// readRTCP drains a sender's RTCP, so that the interceptors see the server's reports and NACKs,
// and restarts the video loop at its first keyframe when the server asks for one.
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

// Failed is closed when the connection fails or the server ends it (and by Close).
func (s *Session) Failed() <-chan struct{} { return s.failed }

// ResourceURL is the session's WHIP resource on the server that took it (after any redirect).
func (s *Session) ResourceURL() string { return s.resource.URL }

// Err says why the session ended when Close did not end it: an error wrapping ErrEndedByServer
// or ErrConnectionLost. It is nil while the session runs and after Close.
func (s *Session) Err() error {
	select {
	case <-s.failed:
		return s.endErr
	default:
		return nil
	}
}

// Stats are counters of what the session sent.
type Stats struct {
	VideoFrames, AudioFrames, KeyframeRequests uint64
	// MediaBytes is the size of the frames handed to the tracks (video and audio, before RTP
	// packetisation): what a recording of the whole session holds, less its container's boxes.
	MediaBytes uint64
	// Connected is whether the connection is up now.
	Connected bool
	// Packets and Bytes count the RTP packets sent (headers included, retransmissions too, before
	// any impairment); Retransmitted those sent again because the server asked with a NACK, and
	// NACKed the packets it asked for. RTT is the latest round trip measured from the server's
	// receiver reports (0 before the first). All stay 0 when Options.API was given.
	Packets, Bytes, Retransmitted, NACKed uint64
	RTT                                   time.Duration
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
		MediaBytes: s.mediaBytes.Load(), Connected: s.up.Load(), FirstVideoAt: s.firstVideoAt, FirstAudioAt: s.firstAudioAt}
	if m := s.meter; m != nil {
		st.Packets, st.Bytes = m.packets.Load(), m.bytes.Load()
		st.Retransmitted, st.NACKed = m.retransmitted.Load(), m.nacked.Load()
		st.RTT = time.Duration(m.rtt.Load())
	}
	if s.impair != nil {
		st.Impaired = s.impair.stats()
	}
	return st
}

// Close ends the session: DELETE on the resource (errors are returned but the local side is
// closed regardless), then the peer connection. A 404 means the server had ended the session
// already: the error then wraps ErrEndedByServer (and the *whip.StatusError). When the server
// had closed the connection there is nothing left to delete; after a lost connection the DELETE
// is only tried briefly, and Close returns nil in both cases (Err says why it ended).
func (s *Session) Close(ctx context.Context) error {
	s.closing.Store(true)
	s.cancel()
	var err error
	switch ended := s.Err(); {
	case errors.Is(ended, ErrEndedByServer):
	case errors.Is(ended, ErrConnectionLost):
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_ = s.opts.Client.Delete(dctx, s.resource.URL) // the server may hold it until its own ICE fails
		cancel()
	default:
		err = s.opts.Client.Delete(ctx, s.resource.URL)
		var st *whip.StatusError
		if errors.As(err, &st) && st.Code == http.StatusNotFound {
			err = &endedError{kind: ErrEndedByServer, detail: "its WHIP resource is gone", cause: err}
		}
	}
	if cerr := s.pc.Close(); cerr != nil && err == nil {
		err = cerr
	}
	s.wg.Wait()
	return err
}
