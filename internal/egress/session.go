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
	"github.com/vigilrec/vigil/internal/session"
)

// viewer is one WHEP session. Its run goroutine owns the peer connection and the forwarder.
type viewer struct {
	*session.Life
	mgr    *Manager
	stream *hub.Stream
	tracks []hub.TrackInfo
	log    *slog.Logger

	mu      sync.Mutex // guards pc
	pc      *webrtc.PeerConnection
	local   []*webrtc.TrackLocalStaticRTP
	workers sync.WaitGroup
}

func (s *viewer) negotiate(ctx context.Context, offer string) (string, error) {
	pc, err := s.mgr.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", fmt.Errorf("new peer connection: %w", err)
	}
	s.mu.Lock()
	s.pc = pc
	s.mu.Unlock()
	s.Watch(pc)
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
	return rtc.Answer(ctx, pc, offer)
}

// readRTCP turns the viewer's keyframe requests into requests to the publisher.
func (s *viewer) readRTCP(sender *webrtc.RTPSender) {
	defer s.workers.Done()
	rtc.ReadRTCP(sender, func(p rtcp.Packet) {
		if rtc.IsKeyframeRequest(p) {
			s.stream.RequestKeyframe()
		}
	})
}

// forward copies the stream's packets to the viewer until ctx ends or the stream does.
func (s *viewer) forward(ctx context.Context, sub *hub.Subscriber) {
	defer s.workers.Done()
	batch := make([]*media.Packet, 64)
	for {
		n, err := sub.Read(ctx, batch)
		if err != nil {
			if errors.Is(err, hub.ErrClosed) {
				s.EndBecause("stream ended")
			}
			s.End()
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

// run starts forwarding once the viewer is connected (so the first keyframe is not sent into a
// transport that drops it), and tears everything down at the end.
func (s *viewer) run() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timer := time.NewTimer(s.mgr.cfg.ConnectTimeout)
	defer timer.Stop()
	var sub *hub.Subscriber
	var joined time.Time
	remote := ""
	connected := s.Connected()
	for waiting := true; waiting; {
		select {
		case <-s.Ending():
			waiting = false
		case <-timer.C:
			if sub == nil {
				s.log.Warn("viewer did not connect in time", "timeout", s.mgr.cfg.ConnectTimeout)
				s.EndBecause("did not connect in time")
				waiting = false
			}
		case <-connected:
			connected = nil // a nil channel blocks: handled once
			var err error
			sub, err = s.stream.Subscribe(hub.SubscribeOptions{StartAtKeyframe: true})
			if err != nil {
				s.EndBecause("subscribe: " + err.Error())
				waiting = false
				continue
			}
			joined = time.Now()
			s.mu.Lock()
			remote = rtc.RemoteAddr(s.pc)
			s.mu.Unlock()
			s.log.Info("viewer joined", "viewer", s.ID(), "remote", remote)
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
	if !joined.IsZero() {
		s.log.Info("viewer left", "viewer", s.ID(), "remote", remote,
			"duration", time.Since(joined).Round(time.Millisecond), "reason", s.Reason())
	}
}
