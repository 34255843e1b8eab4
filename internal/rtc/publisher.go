package rtc

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// directReplayWindow is the SRTP replay window of the direct path, in packets: wide enough for a
// retransmission that arrives after a keyframe's worth of newer packets.
const directReplayWindow = 256

// PublisherConn is the peer connection of a publisher. Its incoming tracks are read through
// TrackReceivers: each queues the track's decrypted packets, from the direct path (see
// direct.go) once the track runs, from pion's track reader until then or when the direct path
// cannot be had, and runs the feedback interceptors (NACKs, receiver reports, congestion
// control feedback) on what it reads, as pion would.
type PublisherConn struct {
	*webrtc.PeerConnection
	engine  *Engine
	secrets *dtlsSecrets
	chain   interceptor.Interceptor
	log     *slog.Logger

	mu          sync.Mutex
	direct      *directSession
	directTried bool
	queues      []*packetQueue
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
	chain, err := e.receiveRegistry.Build("")
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("feedback interceptors: %w", err)
	}
	chain.BindRTCPWriter(interceptor.RTCPWriterFunc(
		func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
			return 0, pc.WriteRTCP(pkts)
		}))
	c.PeerConnection, c.chain = pc, chain
	return c, nil
}

// TrackReceiver reads one incoming track of a PublisherConn. Read and ReadRTCP must each be
// called from one goroutine.
type TrackReceiver struct {
	rtp       interceptor.RTPReader
	rtcp      interceptor.RTCPReader
	rtpAttrs  interceptor.Attributes
	rtcpAttrs interceptor.Attributes
	rtcpBuf   []byte
}

// Receive starts reading track; call it from OnTrack.
func (c *PublisherConn) Receive(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *TrackReceiver {
	q := newPacketQueue()
	c.mu.Lock()
	c.queues = append(c.queues, q)
	c.pumps.Add(1)
	c.mu.Unlock()
	go c.pump(track, q)

	tr := &TrackReceiver{rtpAttrs: interceptor.Attributes{}, rtcpAttrs: interceptor.Attributes{},
		rtcpBuf: make([]byte, 1500)}
	tr.rtp = c.chain.BindRemoteStream(streamInfo(track, recv), interceptor.RTPReaderFunc(
		func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			n, err := q.Read(b)
			return n, a, err
		}))
	tr.rtcp = c.chain.BindRTCPReader(interceptor.RTCPReaderFunc(
		func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			n, _, err := recv.Read(b)
			return n, a, err //nolint:wrapcheck // the receiver's own error ends the loop
		}))
	c.startDirect(uint32(track.SSRC()), q, recv)
	return tr
}

// pump moves what pion decrypts into the queue: the first packets of the track, and all of them
// when the direct path is not used. It closes the queue when the track ends.
func (c *PublisherConn) pump(track *webrtc.TrackRemote, q *packetQueue) {
	defer c.pumps.Done()
	defer func() { _ = q.Close() }()
	buf := make([]byte, 4096) // more than pion's receive MTU: no packet is cut
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		_, _ = q.Write(buf[:n])
	}
}

// startDirect sends ssrc's packets to q on the direct path, opening it on the first track.
func (c *PublisherConn) startDirect(ssrc uint32, q *packetQueue, recv *webrtc.RTPReceiver) {
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
	c.direct.addTrack(ssrc, q)
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
	ctx, err := c.secrets.remoteContext(directReplayWindow)
	if err != nil {
		return nil, err
	}
	s := &directSession{path: c.engine.direct, addr: addr, ctx: ctx, queues: map[uint32]*packetQueue{},
		log: c.log}
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

// Close closes the peer connection, then ends the track receivers' reads (after what is queued)
// and the interceptors.
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
	c.mu.Lock()
	for _, q := range c.queues {
		_ = q.Close()
	}
	c.mu.Unlock()
	return errors.Join(err, c.chain.Close())
}

// Read reads the track's next RTP packet into b, through the feedback interceptors; io.EOF once
// the connection is closed and every queued packet was read.
func (t *TrackReceiver) Read(b []byte) (int, error) {
	clear(t.rtpAttrs)
	n, _, err := t.rtp.Read(b, t.rtpAttrs)
	return n, err //nolint:wrapcheck // the queue's own io.EOF
}

// ReadRTCP hands every RTCP packet of the track to fn until the connection closes. It must run
// for the receiver reports to carry the sender reports' times.
func (t *TrackReceiver) ReadRTCP(fn func(rtcp.Packet)) {
	for {
		clear(t.rtcpAttrs)
		n, _, err := t.rtcp.Read(t.rtcpBuf, t.rtcpAttrs)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(t.rtcpBuf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			fn(p)
		}
	}
}

// streamInfo describes track to the interceptors as pion does for its own.
func streamInfo(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) *interceptor.StreamInfo {
	codec := track.Codec()
	info := &interceptor.StreamInfo{
		ID: track.ID(), SSRC: uint32(track.SSRC()), PayloadType: uint8(track.PayloadType()),
		MimeType: codec.MimeType, ClockRate: codec.ClockRate, Channels: codec.Channels,
		SDPFmtpLine: codec.SDPFmtpLine,
	}
	for _, h := range recv.GetParameters().HeaderExtensions {
		info.RTPHeaderExtensions = append(info.RTPHeaderExtensions,
			interceptor.RTPHeaderExtension{URI: h.URI, ID: h.ID})
	}
	for _, fb := range codec.RTCPFeedback {
		info.RTCPFeedback = append(info.RTCPFeedback, interceptor.RTCPFeedback{Type: fb.Type, Parameter: fb.Parameter})
	}
	return info
}

var _ io.Reader = (*TrackReceiver)(nil)
