package ingest

import (
	"context"
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

// publisher is one WHIP session. Its run goroutine owns the peer connection's lifetime; pion
// callbacks only signal it.
type publisher struct {
	*session.Life
	mgr    *Manager
	stream *hub.Stream
	offer  rtc.Offer
	log    *slog.Logger

	pc      *rtc.PublisherConn
	readers sync.WaitGroup

	mu        sync.Mutex
	videoSSRC []uint32
	ssrcs     []uint32
}

var _ hub.Source = (*publisher)(nil)

func (s *publisher) negotiate(ctx context.Context, offer string) (string, error) {
	pc, err := s.mgr.engine.NewPublisherConnection(s.log)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	s.pc = pc
	s.mu.Unlock()
	s.Watch(pc.PeerConnection)
	pc.OnTrack(s.onTrack)
	answer, err := rtc.Answer(ctx, pc.PeerConnection, offer)
	if err != nil {
		return "", err
	}
	tracks := negotiatedTracks(pc.PeerConnection)
	if len(tracks) == 0 {
		return "", fmt.Errorf("%w: no audio or video track could be negotiated", rtc.ErrNoSupportedCodec)
	}
	s.stream.SetTracks(tracks)
	s.log.Info("publisher negotiated", "tracks", describe(tracks))
	return answer, nil
}

// negotiatedTracks lists the receiving transceivers with the codec each one settled on, in SDP
// order: that order is the track index used in the hub.
func negotiatedTracks(pc *webrtc.PeerConnection) []hub.TrackInfo {
	var out []hub.TrackInfo
	for _, tr := range pc.GetTransceivers() {
		if tr.Receiver() == nil {
			continue
		}
		codecs := tr.Receiver().GetParameters().Codecs
		if len(codecs) == 0 {
			continue
		}
		c, ok := media.CodecFromMime(codecs[0].MimeType)
		if !ok {
			continue
		}
		out = append(out, trackInfo(c, codecs[0].RTPCodecCapability))
	}
	return out
}

func trackInfo(c media.Codec, capability webrtc.RTPCodecCapability) hub.TrackInfo {
	return hub.TrackInfo{Kind: c.Kind(), Codec: c, ClockRate: capability.ClockRate, Channels: capability.Channels,
		SDPFmtpLine: capability.SDPFmtpLine}
}

func describe(tracks []hub.TrackInfo) []string {
	out := make([]string, len(tracks))
	for i, t := range tracks {
		out[i] = string(t.Kind) + ":" + string(t.Codec)
	}
	return out
}

// trackIndex maps a transceiver to its position among the receiving transceivers.
func (s *publisher) trackIndex(recv *webrtc.RTPReceiver) int {
	i := 0
	for _, tr := range s.pc.GetTransceivers() {
		if tr.Receiver() == nil || len(tr.Receiver().GetParameters().Codecs) == 0 {
			continue
		}
		if tr.Receiver() == recv {
			return i
		}
		i++
	}
	return -1
}

// onTrack runs on pion's goroutine: it only hands the track to its receiver and starts the RTCP
// reader, which the session waits for.
func (s *publisher) onTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	c, ok := media.CodecFromMime(track.Codec().MimeType)
	idx := s.trackIndex(recv)
	if !ok || idx < 0 {
		s.log.Warn("ignoring track with unsupported codec", "mime", track.Codec().MimeType)
		return
	}
	ssrc := uint32(track.SSRC())
	s.mu.Lock()
	s.ssrcs = append(s.ssrcs, ssrc)
	if c.Kind() == media.KindVideo {
		s.videoSSRC = append(s.videoSSRC, ssrc)
	}
	s.mu.Unlock()
	s.mgr.engine.Feedback().Watch(ssrc, s.stream)
	s.stream.SetTrack(idx, trackInfo(c, track.Codec().RTPCodecCapability))
	tr := s.pc.Receive(track, recv, s.packetHandler(idx, c))
	s.readers.Add(1)
	go s.readRTCP(tr, idx)
	if c.Kind() == media.KindVideo {
		s.RequestKeyframe()
	}
}

// packetHandler returns what takes the track's RTP packets (see rtc.TrackReceiver): each is
// copied into the track's arena, since subscribers keep packets, and written to the hub.
func (s *publisher) packetHandler(idx int, c media.Codec) func(pkt []byte) {
	kind := c.Kind()
	var arena media.Arena
	return func(pkt []byte) {
		p, err := arena.Packet(pkt)
		if err != nil {
			return
		}
		p.Track, p.Kind, p.Arrival = idx, kind, time.Now()
		p.KeyframeStart = kind == media.KindVideo && media.IsKeyframeStart(c, p.RTP.Payload)
		s.stream.Write(p)
	}
}

// readRTCP drains the receiver's RTCP (the interceptors need it read) and keeps the sender
// reports, which map the track's RTP clock to wall-clock time for A/V sync in recordings.
func (s *publisher) readRTCP(track *rtc.TrackReceiver, idx int) {
	defer s.readers.Done()
	track.ReadRTCP(func(p rtcp.Packet) {
		if sr, ok := p.(*rtcp.SenderReport); ok {
			s.stream.SetSenderReport(idx, hub.SenderReport{
				NTPTime: rtc.NTPTime(sr.NTPTime), RTPTime: sr.RTPTime, Received: time.Now(),
			})
		}
	})
}

// RequestKeyframe sends a PLI for every video track. Called by the hub; never blocks on media.
func (s *publisher) RequestKeyframe() {
	s.mu.Lock()
	pc := s.pc
	ssrcs := append([]uint32(nil), s.videoSSRC...)
	s.mu.Unlock()
	if pc == nil {
		return
	}
	if err := rtc.SendPLI(pc, ssrcs...); err != nil {
		s.log.Debug("send PLI", "err", err)
	}
}

// Disconnect ends the session; the hub calls it when the API kicks the publisher.
func (s *publisher) Disconnect() { s.EndBecause("disconnected") }

// run waits for the end of the session, then closes the peer connection, waits for the readers
// and takes the stream out of the hub.
func (s *publisher) run() {
	timer := time.NewTimer(s.mgr.cfg.ConnectTimeout)
	defer timer.Stop()
	for waiting := true; waiting; {
		select {
		case <-s.Ending():
			waiting = false
		case <-timer.C:
			if s.IsConnected() {
				continue
			}
			s.log.Warn("publisher did not connect in time", "timeout", s.mgr.cfg.ConnectTimeout)
			s.EndBecause("did not connect in time")
			waiting = false
		}
	}
	s.mu.Lock()
	pc := s.pc
	ssrcs := s.ssrcs
	s.mu.Unlock()
	if pc != nil {
		if err := pc.Close(); err != nil {
			s.log.Debug("close peer connection", "err", err)
		}
	}
	s.readers.Wait()
	for _, ssrc := range ssrcs {
		s.mgr.engine.Feedback().Unwatch(ssrc)
	}
	s.stream.Close()
	s.log.Info("publisher left", "reason", s.Reason())
}
