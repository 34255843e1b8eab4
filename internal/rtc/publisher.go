package rtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
)

// directReplayWindow is the SRTP replay window of the direct path, in packets: wide enough for a
// retransmission that arrives after a keyframe's worth of newer packets.
const directReplayWindow = 256

// PublisherConn is the peer connection of a publisher. Its incoming tracks are taken by
// TrackReceivers: each gets the track's decrypted packets, from the direct path (see direct.go)
// once the track runs, from pion's track reader until then or when the direct path cannot be
// had, and the connection sends the publisher its feedback about them (NACKs, receiver reports,
// congestion control feedback; recvfeedback.go) as pion's interceptors would.
type PublisherConn struct {
	*webrtc.PeerConnection
	engine   *Engine
	secrets  *dtlsSecrets
	feedback *connFeedback
	stop     context.CancelFunc // ends the feedback sender
	log      *slog.Logger
	// The sender SSRCs of the feedback: through pion's SRTCP session, and straight from the
	// direct session's own context. Each SRTCP context numbers the packets of an SSRC itself,
	// so the two must never share one (the publisher would take the second's for replays).
	pionSSRC, directSSRC uint32

	mu          sync.Mutex
	direct      *directSession
	directTried bool
	pumps       sync.WaitGroup
}

// NewPublisherConnection returns a peer connection for a publisher, which answers its offer as
// the DTLS server (so that the direct path can derive the SRTP keys).
func (e *Engine) NewPublisherConnection(log *slog.Logger) (*PublisherConn, error) {
	c := &PublisherConn{engine: e, secrets: &dtlsSecrets{}, log: log}
	se := e.settings
	if e.directMedia {
		se.SetDTLSKeyLogWriter(c.secrets)
		se.SetDTLSServerHelloMessageHook(c.secrets.serverHello)
		if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
			return nil, fmt.Errorf("dtls role: %w", err)
		}
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(e.media), webrtc.WithInterceptorRegistry(e.publisherRegistry),
		webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	c.PeerConnection, c.stop = pc, stop
	c.pionSSRC, c.directSSRC = rand.Uint32(), rand.Uint32()|1 //nolint:gosec // SSRCs, not secrets
	if c.directSSRC == c.pionSSRC {
		c.directSSRC++
	}
	c.feedback = newConnFeedback(ctx, c.pionSSRC, c.writeFeedback)
	return c, nil
}

// writeFeedback sends the feedback straight from the direct session when there is one: pion's
// RTCP write path (its interceptors, SRTCP session, mux and ICE connection, each with its locks)
// cost more than building the feedback. The feedback counter sees it either way.
func (c *PublisherConn) writeFeedback(pkts []rtcp.Packet) error {
	c.mu.Lock()
	d := c.direct
	c.mu.Unlock()
	if d != nil {
		setSenderSSRC(pkts, c.directSSRC)
		if sent, err := d.writeRTCP(pkts); sent {
			c.engine.feedback.observe(pkts)
			return err
		}
	}
	setSenderSSRC(pkts, c.pionSSRC)
	return c.PeerConnection.WriteRTCP(pkts) //nolint:wrapcheck // pion's own
}

// setSenderSSRC makes ssrc the sender of the feedback packets connFeedback builds.
func setSenderSSRC(pkts []rtcp.Packet, ssrc uint32) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.TransportLayerCC:
			p.SenderSSRC = ssrc
		case *rtcp.TransportLayerNack:
			p.SenderSSRC = ssrc
		case *rtcp.ReceiverReport:
			p.SSRC = ssrc
		}
	}
}

// TrackReceiver takes the RTP of one incoming track of a PublisherConn, from whichever goroutine
// brings it (the socket reader on the direct path, pion's track reader otherwise), records it
// for the feedback and hands it to the track's handler, one packet at a time. Nothing waits in
// between: no queue and no goroutine of its own to wake for each batch.
type TrackReceiver struct {
	mu       sync.Mutex // serialises the two sources
	handle   func(pkt []byte)
	buf      []byte // the direct path decrypts into it
	feedback *connFeedback
	track    *trackFeedback

	recv    *webrtc.RTPReceiver
	rtcpBuf []byte
}

// trackBuffer is more than pion's receive MTU and what any WebRTC peer puts in one packet.
const trackBuffer = 4096

// Receive starts taking track's packets to handle; call it from OnTrack. handle gets each RTP
// packet once, in arrival order, never from two goroutines at once, and must not keep pkt; it
// is not called any more once Close has returned.
func (c *PublisherConn) Receive(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver,
	handle func(pkt []byte),
) *TrackReceiver {
	tr := &TrackReceiver{handle: handle, buf: make([]byte, trackBuffer), feedback: c.feedback,
		track: c.feedback.addTrack(track, recv), recv: recv, rtcpBuf: make([]byte, 1500)}
	c.pumps.Add(1)
	go c.pump(track, tr)
	c.startDirect(uint32(track.SSRC()), tr, recv)
	return tr
}

// pump hands what pion decrypts to tr: the first packets of the track, and all of them when the
// direct path is not used. It ends with the track.
func (c *PublisherConn) pump(track *webrtc.TrackRemote, tr *TrackReceiver) {
	defer c.pumps.Done()
	buf := make([]byte, trackBuffer)
	var header rtp.Header
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		if _, err := header.Unmarshal(buf[:n]); err != nil {
			continue
		}
		tr.mu.Lock()
		tr.deliver(&header, buf[:n])
		tr.mu.Unlock()
	}
}

// deliver records pkt, whose header is parsed in header, for the feedback and hands it on. t.mu
// is held.
func (t *TrackReceiver) deliver(header *rtp.Header, pkt []byte) {
	t.feedback.received(t.track, header, time.Now())
	t.handle(pkt)
}

// decryptAndDeliver is the direct path's way in: it decrypts srtpPacket with ctx into the
// track's buffer and delivers it, or returns the error and delivers nothing.
func (t *TrackReceiver) decryptAndDeliver(ctx *srtp.Context, srtpPacket []byte, header *rtp.Header) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	out, err := ctx.DecryptRTP(t.buf[:0], srtpPacket, header)
	if err != nil {
		return err //nolint:wrapcheck // classified by the caller
	}
	if len(out) == 0 || len(out) > len(t.buf) || &out[0] != &t.buf[0] {
		return errPacketTooLarge
	}
	t.deliver(header, out)
	return nil
}

var errPacketTooLarge = errors.New("rtp packet larger than the track buffer")

// startDirect sends ssrc's packets to tr on the direct path, opening it on the first track.
func (c *PublisherConn) startDirect(ssrc uint32, tr *TrackReceiver, recv *webrtc.RTPReceiver) {
	if !c.engine.directMedia {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.direct == nil {
		if c.directTried {
			return
		}
		c.directTried = true
		s, err := c.openDirect(recv)
		if err != nil {
			c.log.Info("media goes through pion's receive path", "reason", err)
			return
		}
		c.direct = s
	}
	c.direct.addTrack(ssrc, tr)
}

func (c *PublisherConn) openDirect(recv *webrtc.RTPReceiver) (*directSession, error) {
	iceTransport := recv.Transport().ICETransport()
	pair, err := iceTransport.GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return nil, fmt.Errorf("no selected candidate pair: %w", err)
	}
	addr, err := remoteAddr(pair)
	if err != nil {
		return nil, err
	}
	ctx, out, err := c.secrets.contexts(directReplayWindow)
	if err != nil {
		return nil, err
	}
	s := &directSession{path: c.engine.direct, addr: addr, ctx: ctx, tracks: map[uint32]*TrackReceiver{},
		log: c.log, out: out, conn: c.engine.batch}
	if !c.engine.direct.add(s.addr, s) {
		return nil, fmt.Errorf("remote address %s already has a direct session", s.addr)
	}
	// A peer whose network changes is followed: its packets from the new address would otherwise
	// reach pion's SRTP session, whose rollover counter stopped when the direct path took over.
	iceTransport.OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		if addr, err := remoteAddr(p); err == nil {
			s.moveTo(addr)
		}
	})
	return s, nil
}

func remoteAddr(pair *webrtc.ICECandidatePair) (netip.AddrPort, error) {
	ip, err := netip.ParseAddr(pair.Remote.Address)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("remote candidate address %q: %w", pair.Remote.Address, err)
	}
	return netip.AddrPortFrom(ip.Unmap(), pair.Remote.Port), nil
}

// Direct reports whether the connection's media takes the direct path and how many packets did.
func (c *PublisherConn) Direct() (bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.direct == nil {
		return false, 0
	}
	return true, c.direct.packets.Load()
}

// Close closes the peer connection and the interceptors; no packet is handed on after it
// returns.
func (c *PublisherConn) Close() error {
	// The direct path keeps taking the peer's packets until pion has closed: left to pion in the
	// meantime, a hundred streams stopped at once would all flow through its receive path.
	err := c.PeerConnection.Close()
	c.mu.Lock()
	d := c.direct
	c.mu.Unlock()
	if d != nil {
		d.close()
	}
	c.pumps.Wait()
	c.stop()
	c.feedback.wait()
	return err //nolint:wrapcheck // pion's own
}

// ReadRTCP hands every RTCP packet of the track to fn until the connection closes. It must run
// for the receiver reports to carry the sender reports' times.
func (t *TrackReceiver) ReadRTCP(fn func(rtcp.Packet)) {
	for {
		n, _, err := t.recv.Read(t.rtcpBuf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(t.rtcpBuf[:n])
		if err != nil {
			continue
		}
		now := time.Now()
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				t.feedback.senderReport(sr, now)
			}
			fn(p)
		}
	}
}
