package rtc

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// Config is the WebRTC transport configuration of the server.
type Config struct {
	// UDPAddr is the one UDP address that carries the media of every session. Default ":8189".
	UDPAddr string
	// UDPReceiveBuffer is the kernel receive buffer asked for on that socket, in bytes.
	UDPReceiveBuffer int
	// UDPReadInterval is the pause between two batched reads of the socket (see batchConn);
	// 0 reads as soon as a datagram arrives, still taking whatever else is queued with it.
	UDPReadInterval time.Duration
	// PublicIPs are announced as host candidates instead of the local addresses (NAT 1:1), for
	// cloud hosts whose public address is not on any interface.
	PublicIPs []string
	// DisconnectedTimeout and FailedTimeout bound how long a silent peer is kept.
	DisconnectedTimeout, FailedTimeout time.Duration
	// NoDirectMedia keeps publishers' media on pion's receive path instead of decrypting it
	// where the socket is read (see direct.go).
	NoDirectMedia bool
}

// Engine builds server-side peer connections that share the UDP port, codecs and interceptors.
type Engine struct {
	api      *webrtc.API
	conn     *net.UDPConn
	batch    *batchConn
	mux      ice.UDPMux
	feedback *FeedbackCounter
	rcvbuf   int
	log      *slog.Logger

	// What publisher connections are built from (see NewPublisherConnection).
	settings          webrtc.SettingEngine
	media             *webrtc.MediaEngine
	publisherRegistry *interceptor.Registry
	direct            *directPath
	directMedia       bool
}

// NewEngine opens the media UDP socket and prepares the pion API.
func NewEngine(cfg Config, log *slog.Logger) (*Engine, error) {
	conn, err := listenUDP(cfg.UDPAddr)
	if err != nil {
		return nil, err
	}
	e := &Engine{conn: conn, feedback: NewFeedbackCounter(), log: log, direct: newDirectPath(),
		directMedia: !cfg.NoDirectMedia}
	e.applyReceiveBuffer(cfg.UDPReceiveBuffer)

	lf := NewLoggerFactory(log)
	e.batch = newBatchConn(conn, cfg.UDPReadInterval, batchRing, e.direct.divert)
	e.mux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: e.batch, Logger: lf.NewLogger("ice-mux")})
	m, reg, err := newMediaEngine(e.feedback)
	if err != nil {
		_ = e.Close()
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: lf}
	se.SetICEUDPMux(e.mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	se.SetIncludeLoopbackCandidate(true)
	// No mDNS: a server announces real addresses, and a browser's .local candidates are learnt
	// as peer-reflexive when its checks arrive. Querying would cost every session a multicast
	// socket and a reader goroutine.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetICETimeouts(cfg.DisconnectedTimeout, cfg.FailedTimeout, 2*time.Second)
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	e.api = webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se))
	// Publishers read their tracks through interceptors of their own (PublisherConn); pion's
	// chain only counts the feedback they send.
	e.settings, e.media = se, m
	e.publisherRegistry = &interceptor.Registry{}
	e.publisherRegistry.Add(e.feedback)
	return e, nil
}

func listenUDP(addr string) (*net.UDPConn, error) {
	network := "udp"
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("media udp address %q: %w", addr, err)
	}
	if host == "" {
		// One socket for all sessions: IPv4 keeps candidate gathering on an unspecified address
		// predictable across kernels.
		network = "udp4"
	}
	ua, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		return nil, fmt.Errorf("resolve media udp address %q: %w", addr, err)
	}
	conn, err := net.ListenUDP(network, ua)
	if err != nil {
		return nil, fmt.Errorf("listen media udp %s: %w", addr, err)
	}
	return conn, nil
}

func (e *Engine) applyReceiveBuffer(want int) {
	if want <= 0 {
		return
	}
	rc, err := e.conn.SyscallConn()
	if err == nil {
		e.rcvbuf, err = setReceiveBuffer(rc, want)
	}
	switch {
	case err != nil:
		e.log.Warn("could not set the media socket receive buffer", "want_bytes", want, "err", err)
	case e.rcvbuf < want:
		e.log.Warn("media socket receive buffer is smaller than asked; keyframe bursts of many streams may be dropped",
			"got_bytes", e.rcvbuf, "want_bytes", want,
			"fix", fmt.Sprintf("sysctl -w net.core.rmem_max=%d (or run with CAP_NET_ADMIN)", want))
	default:
		e.log.Info("media socket receive buffer", "bytes", e.rcvbuf)
	}
}

// API is the pion API for server sessions.
func (e *Engine) API() *webrtc.API { return e.api }

// Feedback counts the NACKs and PLIs sent to publishers.
func (e *Engine) Feedback() *FeedbackCounter { return e.feedback }

// LocalAddr is the bound media address.
func (e *Engine) LocalAddr() *net.UDPAddr {
	addr, _ := e.conn.LocalAddr().(*net.UDPAddr)
	return addr
}

// UDPStats describes the media socket.
type UDPStats struct {
	// ReceiveBuffer is the kernel receive buffer in bytes (0 when unknown).
	ReceiveBuffer int
	// Drops counts datagrams the kernel dropped because the buffer was full.
	Drops uint64
	// Reads counts the batched reads of the socket and Datagrams what they returned, so
	// Datagrams/Reads is the mean batch size.
	Reads, Datagrams uint64
	// Oversized counts datagrams too long to be media, dropped by the reader.
	Oversized uint64
}

// UDPStats reads the kernel's counters for the media socket.
func (e *Engine) UDPStats() (UDPStats, error) {
	drops, err := udpDrops(e.LocalAddr().Port)
	b := e.batch.stats()
	return UDPStats{ReceiveBuffer: e.rcvbuf, Drops: drops, Reads: b.Batches, Datagrams: b.Datagrams,
		Oversized: b.Truncated}, err
}

// Close releases the UDP port. Peer connections must be closed first.
func (e *Engine) Close() error {
	var errs []error
	if e.mux != nil {
		errs = append(errs, e.mux.Close())
	}
	var closer io.Closer = e.conn
	if e.batch != nil {
		closer = e.batch // closes the socket too
	}
	if err := closer.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
