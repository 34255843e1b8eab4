package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/rtc"
	"github.com/vigilrec/vigil/internal/whip"
)

// upstream is one WHEP session with the remote: the peer connection, the WHEP resource, and the
// goroutines reading its tracks. The source's goroutine owns it from dial to close.
type upstream struct {
	src      *source
	pc       *webrtc.PeerConnection
	resource *whip.Resource
	arrived  chan arrivedTrack // OnTrack hands tracks to the owner here; never blocks
	expected int               // media sections the remote sends

	endOnce sync.Once
	ended   chan struct{}
	endErr  error // set once, before ended is closed
	readers sync.WaitGroup

	lastPacket atomic.Int64 // unix nanos of the last RTP packet read
	mu         sync.Mutex
	tracks     []*upTrack // in local track order, once attached
}

type arrivedTrack struct {
	track *webrtc.TrackRemote
	recv  *webrtc.RTPReceiver
	mid   string
}

// upTrack is one remote track feeding local track index.
type upTrack struct {
	index int
	codec media.Codec
	info  hub.TrackInfo
	track *webrtc.TrackRemote
	recv  *webrtc.RTPReceiver
	out   *trackOut
}

// dial builds the peer connection with one receive-only transceiver per kind and runs the WHEP
// exchange. On error nothing is left open.
func (s *source) dial(ctx context.Context) (*upstream, error) {
	pc, err := s.mgr.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	u := &upstream{src: s, pc: pc, arrived: make(chan arrivedTrack, 8), ended: make(chan struct{})}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{
			Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			_ = pc.Close()
			return nil, fmt.Errorf("add %s transceiver: %w", kind, err)
		}
	}
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateFailed:
			u.end(fmt.Errorf("%w (ICE or DTLS)", errConnectState))
		case webrtc.PeerConnectionStateClosed:
			u.end(errRemoteEnded)
		}
	})
	pc.OnTrack(func(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		mid := ""
		for _, tr := range pc.GetTransceivers() {
			if tr.Receiver() == recv {
				mid = tr.Mid()
			}
		}
		select {
		case u.arrived <- arrivedTrack{track: track, recv: recv, mid: mid}:
		default: // more tracks than transceivers: ignored
		}
	})
	nctx, cancel := context.WithTimeout(ctx, s.mgr.cfg.ConnectTimeout)
	defer cancel()
	res, err := s.mgr.client.Negotiate(nctx, pc, s.spec.Endpoint)
	u.resource = res
	if err == nil {
		u.expected, err = sendingSections(res.Answer)
	}
	if err != nil {
		u.close()
		return nil, err
	}
	return u, nil
}

// sendingSections counts the audio and video sections in which the remote's answer sends. It
// parses its own copy: pion's parsed description belongs to pion's goroutines.
func sendingSections(answer string) (int, error) {
	parsed := &sdp.SessionDescription{}
	if err := parsed.UnmarshalString(answer); err != nil {
		return 0, fmt.Errorf("parse answer: %w", err)
	}
	n := 0
	for _, m := range parsed.MediaDescriptions {
		if m.MediaName.Media != "audio" && m.MediaName.Media != "video" || m.MediaName.Port.Value == 0 {
			continue
		}
		if sends(m) {
			n++
		}
	}
	if n == 0 {
		return 0, errNoTracks
	}
	return n, nil
}

func sends(m *sdp.MediaDescription) bool {
	for _, a := range m.Attributes {
		switch a.Key {
		case "recvonly", "inactive":
			return false
		case "sendonly", "sendrecv":
			return true
		}
	}
	return true // no direction attribute: sendrecv (RFC 8866 §6.7)
}

func (u *upstream) end(err error) {
	u.endOnce.Do(func() {
		u.endErr = err
		close(u.ended)
	})
}

// awaitTracks waits for the remote's tracks: the first within the connect timeout, the others at
// most TrackWait after it. They are returned in transceiver order (video, then audio).
func (u *upstream) awaitTracks(ctx context.Context) ([]arrivedTrack, error) {
	cfg := u.src.mgr.cfg
	first := time.NewTimer(cfg.ConnectTimeout)
	defer first.Stop()
	deadline := first.C
	var rest <-chan time.Time
	var got []arrivedTrack
	for len(got) < u.expected {
		select {
		case at := <-u.arrived:
			got = append(got, at)
			if rest == nil {
				t := time.NewTimer(cfg.TrackWait)
				defer t.Stop()
				rest, deadline = t.C, nil
			}
		case <-rest:
			u.src.log.Warn("pull: going on without a track the remote announced", "announced", u.expected,
				"arrived", len(got), "waited", cfg.TrackWait)
			return sortTracks(u.pc, got), nil
		case <-deadline:
			return nil, fmt.Errorf("%w within %s", errNoMedia, cfg.ConnectTimeout)
		case <-u.ended:
			return nil, u.endErr
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return sortTracks(u.pc, got), nil
}

func sortTracks(pc *webrtc.PeerConnection, got []arrivedTrack) []arrivedTrack {
	order := map[string]int{}
	for i, tr := range pc.GetTransceivers() {
		order[tr.Mid()] = i
	}
	slices.SortFunc(got, func(a, b arrivedTrack) int { return order[a.mid] - order[b.mid] })
	return got
}

// trackInfos keeps the tracks with a codec vigil handles and describes them for the hub.
func trackInfos(got []arrivedTrack) ([]*upTrack, []hub.TrackInfo) {
	var ups []*upTrack
	var infos []hub.TrackInfo
	for _, at := range got {
		c, ok := media.CodecFromMime(at.track.Codec().MimeType)
		if !ok {
			continue
		}
		capability := at.track.Codec().RTPCodecCapability
		info := hub.TrackInfo{Kind: c.Kind(), Codec: c, ClockRate: capability.ClockRate, Channels: capability.Channels,
			SDPFmtpLine: capability.SDPFmtpLine}
		ups = append(ups, &upTrack{index: len(infos), codec: c, info: info, track: at.track, recv: at.recv})
		infos = append(infos, info)
	}
	return ups, infos
}

// start attaches the tracks to the stream's outputs and starts their readers.
func (u *upstream) start(stream *hub.Stream, ups []*upTrack, outs []*trackOut) {
	u.lastPacket.Store(time.Now().UnixNano())
	u.mu.Lock()
	u.tracks = ups
	u.mu.Unlock()
	for _, t := range ups {
		t.out = outs[t.index]
		t.out.newSession()
		u.src.mgr.feedback.Watch(uint32(t.track.SSRC()), stream)
		u.readers.Add(2)
		go u.readRTP(stream, t)
		go u.readRTCP(stream, t)
	}
}

// readRTP copies one track's packets into the stream, continuing the local sequence and
// timestamp line (see trackOut).
func (u *upstream) readRTP(stream *hub.Stream, t *upTrack) {
	defer u.readers.Done()
	buf := make([]byte, 1500)
	kind := t.codec.Kind()
	var arena media.Arena
	for {
		n, _, err := t.track.Read(buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				u.end(errRemoteEnded)
			}
			return
		}
		// Subscribers keep packets after we read on: each is copied into the arena, not buf.
		p, err := arena.Packet(buf[:n])
		if err != nil {
			continue
		}
		now := time.Now()
		u.lastPacket.Store(now.UnixNano())
		t.out.rewrite(&p.RTP.Header, now)
		p.Track, p.Kind, p.Arrival = t.index, kind, now
		p.KeyframeStart = kind == media.KindVideo && media.IsKeyframeStart(t.codec, p.RTP.Payload)
		stream.Write(p)
	}
}

// readRTCP drains the receiver's RTCP (the interceptors need it read) and keeps the sender
// reports, moved onto the local timestamp line, for A/V sync in recordings.
func (u *upstream) readRTCP(stream *hub.Stream, t *upTrack) {
	defer u.readers.Done()
	rtc.ReadRTCP(t.recv, func(p rtcp.Packet) {
		sr, ok := p.(*rtcp.SenderReport)
		if !ok {
			return
		}
		if off, ok := t.out.timestampOffset(); ok {
			stream.SetSenderReport(t.index, hub.SenderReport{
				NTPTime: rtc.NTPTime(sr.NTPTime), RTPTime: sr.RTPTime + off, Received: time.Now(),
			})
		}
	})
}

// requestKeyframe sends a PLI (RFC 4585 §6.3.1) for every video track.
func (u *upstream) requestKeyframe() {
	u.mu.Lock()
	tracks := u.tracks
	u.mu.Unlock()
	var ssrcs []uint32
	for _, t := range tracks {
		if t.codec.Kind() == media.KindVideo {
			ssrcs = append(ssrcs, uint32(t.track.SSRC()))
		}
	}
	if err := rtc.SendPLI(u.pc, ssrcs...); err != nil {
		u.src.log.Debug("send PLI", "err", err)
	}
}

// wait blocks until the session ends: the remote closes it, the connection fails, no packet
// arrives for IdleTimeout, or ctx ends.
func (u *upstream) wait(ctx context.Context) error {
	idle := u.src.mgr.cfg.IdleTimeout
	tick := time.NewTicker(min(idle/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-u.ended:
			return u.endErr
		case now := <-tick.C:
			if since := now.Sub(time.Unix(0, u.lastPacket.Load())); since > idle {
				return fmt.Errorf("%w for %s", errIdle, since.Round(time.Second))
			}
		}
	}
}

// close ends the session: the peer connection, the readers, the WHEP resource (best effort: the
// remote may have ended it already).
func (u *upstream) close() {
	if err := u.pc.Close(); err != nil {
		u.src.log.Debug("close peer connection", "err", err)
	}
	u.readers.Wait()
	u.mu.Lock()
	tracks := u.tracks
	u.mu.Unlock()
	for _, t := range tracks {
		u.src.mgr.feedback.Unwatch(uint32(t.track.SSRC()))
	}
	if u.resource != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := u.src.mgr.client.Delete(ctx, u.resource.URL); err != nil {
			u.src.log.Debug("delete WHEP resource", "url", u.resource.URL, "err", err)
		}
	}
}
