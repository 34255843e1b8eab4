package rtc

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/dtls/v3/pkg/protocol/extension"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// The direct path: the media of a publisher is decrypted where the socket is read.
//
// Through pion, every incoming RTP packet passes the ICE UDP mux, the ICE candidate's reader, the
// DTLS/SRTP demultiplexer and the SRTP session before a track reader sees it: four goroutines,
// four locked buffers and five copies per packet, which is where most of the server's CPU went
// at 100 streams, and buffers that grow with every burst and never shrink. pion has no public
// way to take the SRTP keys of a session, but it logs the DTLS master secret (the key log every
// TLS stack writes for debugging) and lets a hook see the ServerHello it sends; with both, the
// keys are derived exactly as pion derives them (RFC 5764 §4.2). Once a publisher's track is
// running, the socket reader decrypts its packets and hands them to the track's receiver.
//
// Anything the direct path does not recognise (STUN, DTLS, RTCP, an SSRC whose track is not running yet, a
// packet that does not authenticate, another remote address) goes through pion as before, so a
// wrong key costs speed, never media.

// maxDirectFailures is how many packets in a row may fail to decrypt before a session leaves the
// direct path for good. Duplicates and replays do not count: they are dropped, as pion drops them.
const maxDirectFailures = 64

// errSRTPDuplicate is what srtp.Context.DecryptRTP's error wraps for a packet already received or
// older than the replay window. The srtp package does not export it, so it is taken once from a
// packet decrypted twice; it never changes. nil if that stops working (every failure then counts
// towards maxDirectFailures, and a peer's duplicates go to pion).
var errSRTPDuplicate = func() error {
	key, salt := make([]byte, 16), make([]byte, 12)
	enc, err1 := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	dec, err2 := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm, srtp.SRTPReplayProtection(8))
	if err1 != nil || err2 != nil {
		return nil
	}
	pkt, err := enc.EncryptRTP(nil, []byte{0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0}, nil)
	if err != nil {
		return nil
	}
	if _, err := dec.DecryptRTP(nil, pkt, nil); err != nil {
		return nil
	}
	_, err = dec.DecryptRTP(nil, pkt, nil)
	return errors.Unwrap(err)
}()

// dtlsSecrets collects what a server-side DTLS handshake reveals through its key log and its
// ServerHello hook. Written by pion's handshake goroutine, read once the track is running.
type dtlsSecrets struct {
	mu           sync.Mutex
	serverRandom []byte
	clientRandom []byte
	masterSecret []byte
	suite        uint16
	profile      srtp.ProtectionProfile
}

// serverHello is the ServerHello hook: it notes the random, cipher suite and SRTP profile and
// sends the message unchanged.
func (d *dtlsSecrets) serverHello(m handshake.MessageServerHello) handshake.Message {
	r := m.Random.MarshalFixed()
	d.mu.Lock()
	d.serverRandom = r[:]
	if m.CipherSuiteID != nil {
		d.suite = *m.CipherSuiteID
	}
	for _, e := range m.Extensions {
		if u, ok := e.(*extension.UseSRTP); ok && len(u.ProtectionProfiles) == 1 {
			d.profile = srtp.ProtectionProfile(u.ProtectionProfiles[0])
		}
	}
	d.mu.Unlock()
	return &m
}

// Write takes the key log ("CLIENT_RANDOM <client random> <master secret>", NSS format).
func (d *dtlsSecrets) Write(line []byte) (int, error) {
	fields := bytes.Fields(line)
	if len(fields) != 3 || string(fields[0]) != "CLIENT_RANDOM" {
		return len(line), nil
	}
	cr, err1 := hex.DecodeString(string(fields[1]))
	ms, err2 := hex.DecodeString(string(fields[2]))
	if err1 == nil && err2 == nil {
		d.mu.Lock()
		d.clientRandom, d.masterSecret = cr, ms
		d.mu.Unlock()
	}
	return len(line), nil
}

var errNoSecrets = errors.New("the DTLS handshake did not reveal its secrets (not the DTLS server, or not done)")

// contexts derives the SRTP contexts of the session: remote decrypts what the DTLS client (the
// publisher) sends, local encrypts what vigil sends it.
func (d *dtlsSecrets) contexts(replayWindow uint) (remote, local *srtp.Context, err error) {
	d.mu.Lock()
	exp := keyExporter{serverRandom: d.serverRandom, clientRandom: d.clientRandom,
		masterSecret: d.masterSecret, suite: d.suite}
	profile := d.profile
	d.mu.Unlock()
	if exp.serverRandom == nil || exp.clientRandom == nil || exp.masterSecret == nil || profile == 0 {
		return nil, nil, errNoSecrets
	}
	cfg := srtp.Config{Profile: profile}
	if err := cfg.ExtractSessionKeysFromDTLS(exp, false); err != nil {
		return nil, nil, fmt.Errorf("derive srtp keys: %w", err)
	}
	// Cryptex (RFC 9335: header extensions encrypted too) is accepted whether or not it was
	// negotiated: pion negotiates it with peers that offer it, the packets authenticate either
	// way, and the mode pion chose is not exposed.
	remote, err = srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, profile,
		srtp.SRTPReplayProtection(replayWindow), srtp.Cryptex(srtp.CryptexModeEnabled))
	if err != nil {
		return nil, nil, fmt.Errorf("srtp context: %w", err)
	}
	local, err = srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, profile)
	if err != nil {
		return nil, nil, fmt.Errorf("srtp context: %w", err)
	}
	return remote, local, nil
}

// keyExporter is TLS's keying material exporter (RFC 5705) as pion's DTLS server computes it.
type keyExporter struct {
	serverRandom, clientRandom, masterSecret []byte
	suite                                    uint16
}

func (k keyExporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, errors.New("keying material context is not supported")
	}
	seed := make([]byte, 0, len(label)+len(k.clientRandom)+len(k.serverRandom))
	seed = append(append(append(seed, label...), k.clientRandom...), k.serverRandom...)
	return prf.PHash(k.masterSecret, seed, length, suiteHash(k.suite)) //nolint:wrapcheck // pion's PRF
}

// suiteHash is the PRF hash of a TLS 1.2 cipher suite: SHA-384 for the *_SHA384 suites, SHA-256
// for every other suite pion offers.
func suiteHash(id uint16) func() hash.Hash {
	switch dtls.CipherSuiteID(id) {
	case dtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, dtls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return sha512.New384
	}
	return sha256.New
}

// directPath routes datagrams from the remote addresses of direct sessions to them. Its divert
// method runs on the socket reader only.
type directPath struct {
	mu     sync.RWMutex
	byAddr map[netip.AddrPort]*directSession
}

func newDirectPath() *directPath {
	return &directPath{byAddr: map[netip.AddrPort]*directSession{}}
}

// divert takes b, a datagram from addr, when it is RTP of a direct session, and reports whether
// it did; everything else is left to pion.
func (d *directPath) divert(b []byte, addr netip.AddrPort) bool {
	// RTP version 2, and not RTCP (payload types 64–95 with the marker bit, RFC 5761 §4).
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	if pt := b[1] & 0x7f; pt >= 64 && pt <= 95 {
		return false
	}
	d.mu.RLock()
	s := d.byAddr[unmapAddrPort(addr)]
	d.mu.RUnlock()
	if s == nil {
		return false
	}
	return s.receive(b)
}

func (d *directPath) add(addr netip.AddrPort, s *directSession) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, taken := d.byAddr[addr]; taken {
		return false
	}
	d.byAddr[addr] = s
	return true
}

func (d *directPath) remove(addr netip.AddrPort, s *directSession) {
	d.mu.Lock()
	if d.byAddr[addr] == s {
		delete(d.byAddr, addr)
	}
	d.mu.Unlock()
}

func unmapAddrPort(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// directSession is the direct path of one publisher: its SRTP context and its tracks by SSRC.
type directSession struct {
	path *directPath
	addr netip.AddrPort
	log  *slog.Logger

	mu       sync.Mutex // the socket reader decrypts under it; tracks are added under it
	ctx      *srtp.Context
	header   rtp.Header // reused by every decrypt
	tracks   map[uint32]*TrackReceiver
	failures int // packets in a row that did not authenticate
	closed   bool

	packets atomic.Uint64

	// The feedback vigil sends the publisher (RTCP, from the connection's feedback sender): out
	// encrypts it with vigil's own SRTCP sender SSRC, which pion never uses, so that its index
	// is this context's alone.
	outMu  sync.Mutex
	out    *srtp.Context
	outBuf []byte
	conn   *batchConn
}

// writeRTCP sends pkts to the publisher as one compound SRTCP packet, straight to the socket;
// false when the session has left the direct path (the caller then sends through pion).
func (s *directSession) writeRTCP(pkts []rtcp.Packet) (bool, error) {
	s.mu.Lock()
	addr, closed := s.addr, s.closed
	s.mu.Unlock()
	if closed || s.out == nil || s.conn == nil {
		return false, nil
	}
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		return true, fmt.Errorf("marshal rtcp: %w", err)
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	s.outBuf, err = s.out.EncryptRTCP(s.outBuf[:0], raw, nil)
	if err != nil {
		return true, fmt.Errorf("encrypt rtcp: %w", err)
	}
	if _, err := s.conn.WriteToAddrPort(s.outBuf, addr); err != nil {
		return true, fmt.Errorf("send rtcp to %s: %w", addr, err)
	}
	return true, nil
}

// receive decrypts b and hands it to its track; false leaves it to pion.
func (s *directSession) receive(b []byte) bool {
	ssrc := binary.BigEndian.Uint32(b[8:12])
	s.mu.Lock()
	defer s.mu.Unlock()
	tr := s.tracks[ssrc]
	if tr == nil || s.closed {
		return false
	}
	err := tr.decryptAndDeliver(s.ctx, b, &s.header)
	if err != nil && errSRTPDuplicate != nil && errors.Is(err, errSRTPDuplicate) {
		// A duplicate (a retransmission of a packet that was only late) or one older than the
		// replay window: pion would refuse it too.
		return true
	}
	if err != nil {
		// Not authentic under these keys, or a packet this context cannot read: pion decides.
		s.failures++
		if s.failures == maxDirectFailures {
			s.log.Warn("media does not decrypt on the direct path; it goes through pion from now on",
				"remote", s.addr, "err", err)
			s.closed = true
			s.path.remove(s.addr, s)
		}
		return false
	}
	s.failures = 0
	s.packets.Add(1)
	return true
}

// addTrack sends the packets of ssrc to tr from now on.
func (s *directSession) addTrack(ssrc uint32, tr *TrackReceiver) {
	s.mu.Lock()
	s.tracks[ssrc] = tr
	s.mu.Unlock()
}

// moveTo follows the peer to the remote address of a newly selected ICE pair.
func (s *directSession) moveTo(addr netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || addr == s.addr {
		return
	}
	s.path.remove(s.addr, s)
	s.addr = addr
	if !s.path.add(addr, s) {
		s.log.Warn("another session takes media from the peer's new address; this one goes through pion",
			"remote", addr)
		s.closed = true
	}
}

// close takes the session off the socket reader's way; packets still arriving go to pion.
func (s *directSession) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.path.remove(s.addr, s)
}
