package egress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/rtc"
)

// session is one WHEP viewer. Its run goroutine owns the peer connection and the forwarder.
type session struct {
	id     string
	mgr    *Manager
	stream *hub.Stream
	tracks []hub.TrackInfo
	log    *slog.Logger

	mu        sync.Mutex // guards pc
	pc        *webrtc.PeerConnection
	local     []*webrtc.TrackLocalStaticRTP
	endOnce   sync.Once
	ending    chan struct{}
	done      chan struct{}
	connected chan struct{}
	connOnce  sync.Once
	workers   sync.WaitGroup
}

func (s *session) negotiate(ctx context.Context, offer string) (string, error) {
	pc, err := s.mgr.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", fmt.Errorf("new peer connection: %w", err)
	}
	s.mu.Lock()
	s.pc = pc
	s.mu.Unlock()
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			s.connOnce.Do(func() { close(s.connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.end()
		}
	})
	for _, t := range s.tracks {
		lt, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{
			MimeType: t.Codec.Mime(), ClockRate: t.ClockRate, Channels: t.Channels, SDPFmtpLine: t.SDPFmtpLine,
		}, string(t.Kind), s.stream.Name())
		if err != nil {
			return "", fmt.Errorf("new %s track: %w", t.Kind, err)
		}
		sender, err := pc.AddTrack(lt)
		if err != nil {
			return "", fmt.Errorf("add %s track: %w", t.Kind, err)
		}
		s.local = append(s.local, lt)
		s.workers.Add(1)
		go s.readRTCP(sender)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", fmt.Errorf("%w: %v", rtc.ErrMalformedSDP, err) //nolint:errorlint // pion's error is detail
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", rtc.ErrNoSupportedCodec, err) //nolint:errorlint // pion's error is detail
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("gather candidates: %w", ctx.Err())
	}
	return pc.LocalDescription().SDP, nil
}

// readRTCP turns the viewer's keyframe requests into requests to the publisher.
func (s *session) readRTCP(sender *webrtc.RTPSender) {
	defer s.workers.Done()
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.stream.RequestKeyframe()
			}
		}
	}
}

// forward copies the stream's packets to the viewer until ctx ends or the stream does.
func (s *session) forward(ctx context.Context, sub *hub.Subscriber) {
	defer s.workers.Done()
	defer s.end()
	batch := make([]*media.Packet, 64)
	for {
		n, err := sub.Read(ctx, batch)
		if err != nil {
			if errors.Is(err, hub.ErrClosed) {
				s.log.Info("stream ended; closing viewer")
			}
			return
		}
		for _, p := range batch[:n] {
			if p.Track < len(s.local) {
				// WriteRTP copies the header before rewriting SSRC and payload type, so the
				// shared packet stays untouched.
				if err := s.local[p.Track].WriteRTP(p.RTP); err != nil {
					s.log.Debug("write to viewer", "err", err)
				}
			}
		}
		clear(batch[:n])
	}
}

func (s *session) end() { s.endOnce.Do(func() { close(s.ending) }) }

// run starts forwarding once the viewer is connected (so the first keyframe is not sent into a
// transport that drops it), and tears everything down at the end.
func (s *session) run() {
	defer s.mgr.wg.Done()
	defer close(s.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timer := time.NewTimer(s.mgr.cfg.ConnectTimeout)
	defer timer.Stop()
	var sub *hub.Subscriber
	connected := s.connected
	for waiting := true; waiting; {
		select {
		case <-s.ending:
			waiting = false
		case <-timer.C:
			if sub == nil {
				s.log.Warn("viewer did not connect in time", "timeout", s.mgr.cfg.ConnectTimeout)
				waiting = false
			}
		case <-connected:
			connected = nil // a nil channel blocks: handled once
			var err error
			sub, err = s.stream.Subscribe(hub.SubscribeOptions{StartAtKeyframe: true})
			if err != nil {
				waiting = false
				continue
			}
			s.workers.Add(1)
			go s.forward(ctx, sub)
		}
	}
	cancel()
	if sub != nil {
		sub.Close()
	}
	s.mu.Lock()
	pc := s.pc
	s.mu.Unlock()
	if pc != nil {
		if err := pc.Close(); err != nil {
			s.log.Debug("close peer connection", "err", err)
		}
	}
	s.workers.Wait()
	s.mgr.forget(s)
}
