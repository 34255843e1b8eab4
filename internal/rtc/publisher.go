package rtc

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/pion/interceptor"
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
// had, and runs the feedback interceptors (NACKs, receiver reports, congestion control
// feedback) on them, as pion would.
type PublisherConn struct {
	*webrtc.PeerConnection
	engine  *Engine
	secrets *dtlsSecrets
	chain   interceptor.Interceptor
	log     *slog.Logger

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

// TrackReceiver takes the RTP of one incoming track of a PublisherConn, from whichever goroutine
// brings it (the socket reader on the direct path, pion's track reader otherwise), runs the
// feedback interceptors on it and hands it to the track's handler, one packet at a time. Nothing
// waits in between: no queue and no goroutine of its own to wake for each batch.
type TrackReceiver struct {
	mu      sync.Mutex // serialises the two sources
	rtp     interceptor.RTPReader
	handle  func(pkt []byte)
	buf     []byte // the packet being handled: decrypted here on the direct path
	pending int    // its length, for the innermost reader
	attrs   interceptor.Attributes
	// pumpHeader is the header of a packet from pion's track reader, parsed once for every
	// interceptor (the direct path brings its own, parsed by the decryption).
	pumpHeader rtp.Header

	rtcp      interceptor.RTCPReader
	rtcpAttrs interceptor.Attributes
	rtcpBuf   []byte
}

// trackBuffer is more than pion's receive MTU and what any WebRTC peer puts in one packet.
const trackBuffer = 4096

// Receive starts taking track's packets to handle; call it from OnTrack. handle gets each RTP
// packet once, in arrival order, never from two goroutines at once, and must not keep pkt; it
// is not called any more once Close has returned.
func (c *PublisherConn) Receive(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver,
	handle func(pkt []byte),
) *TrackReceiver {
	tr := &TrackReceiver{handle: handle, buf: make([]byte, trackBuffer), attrs: interceptor.Attributes{},
		rtcpAttrs: interceptor.Attributes{}, rtcpBuf: make([]byte, 1500)}
	tr.rtp = c.chain.BindRemoteStream(streamInfo(track, recv), interceptor.RTPReaderFunc(
		func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			return copy(b, tr.buf[:tr.pending]), a, nil
		}))
	tr.rtcp = c.chain.BindRTCPReader(interceptor.RTCPReaderFunc(
		func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
			n, _, err := recv.Read(b)
			return n, a, err //nolint:wrapcheck // the receiver's own error ends the loop
		}))
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
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		tr.mu.Lock()
		tr.pending = copy(tr.buf, buf[:n])
		if _, err := tr.pumpHeader.Unmarshal(tr.buf[:n]); err == nil {
			tr.deliver(&tr.pumpHeader)
		}
		tr.mu.Unlock()
	}
}

// deliver runs the interceptors on the packet in t.buf, whose header is parsed in header, and
// hands it on. t.mu is held.
func (t *TrackReceiver) deliver(header *rtp.Header) {
	clear(t.attrs)
	// Each interceptor asks the attributes for the parsed header; given it, none parses the
	// packet again, and the first does not allocate a header for the others.
	if rtpHeaderAttr != nil {
		t.attrs[rtpHeaderAttr] = header
	}
	// The interceptors read into the buffer they are given; it is t.buf itself, so the innermost
	// reader's copy moves nothing.
	n, _, err := t.rtp.Read(t.buf, t.attrs)
	if err == nil {
		t.handle(t.buf[:n])
	}
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
	t.pending = len(out)
	t.deliver(header)
	return nil
}

var errPacketTooLarge = errors.New("rtp packet larger than the track buffer")

// rtpHeaderAttr is the key under which interceptor.Attributes.GetRTPHeader keeps a parsed header.
// The interceptor package does not export it, so it is read once from an Attributes that
// GetRTPHeader filled; it never changes. nil if GetRTPHeader stops caching (the interceptors
// then parse the header themselves, as without it).
var rtpHeaderAttr = func() any {
	a := interceptor.Attributes{}
	if _, err := a.GetRTPHeader([]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}); err != nil || len(a) != 1 {
		return nil
	}
	for k := range a {
		return k
	}
	return nil
}()

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
	ctx, err := c.secrets.remoteContext(directReplayWindow)
	if err != nil {
		return nil, err
	}
	s := &directSession{path: c.engine.direct, addr: addr, ctx: ctx, tracks: map[uint32]*TrackReceiver{},
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
	return errors.Join(err, c.chain.Close())
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
