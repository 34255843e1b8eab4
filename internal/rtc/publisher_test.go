package rtc

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"
)

// A publisher's RTP reaches its track receiver whole and in order, on the direct path or through
// pion, and the feedback interceptors run on it: a missing packet is asked for again and the
// publisher gets receiver reports.
func TestPublisherTrackReceiver(t *testing.T) {
	for _, tc := range []struct {
		name     string
		noDirect bool
	}{{"direct path", false}, {"through pion", true}} {
		t.Run(tc.name, func(t *testing.T) { testPublisherTrackReceiver(t, tc.noDirect) })
	}
}

func testPublisherTrackReceiver(t *testing.T, noDirect bool) {
	log := slog.New(slog.DiscardHandler)
	eng, err := NewEngine(Config{UDPAddr: "127.0.0.1:0", UDPReadInterval: 2 * time.Millisecond,
		DisconnectedTimeout: 5 * time.Second, FailedTimeout: 10 * time.Second, NoDirectMedia: noDirect}, log)
	require.NoError(t, err)
	defer func() { require.NoError(t, eng.Close()) }()
	server, err := eng.NewPublisherConnection(log)
	require.NoError(t, err)
	packets := make(chan []byte, 1024)
	counted := &countingSink{}
	server.OnTrack(func(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		eng.feedback.Watch(uint32(track.SSRC()), counted)
		tr := server.Receive(track, recv, func(pkt []byte) { packets <- bytes.Clone(pkt) })
		go tr.ReadRTCP(func(rtcp.Packet) {})
	})

	api, err := NewClientAPI(log)
	require.NoError(t, err)
	client, err := api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	defer func() { _ = client.Close() }()
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264,
		ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
		"video", "cam")
	require.NoError(t, err)
	tx, err := client.AddTransceiverFromTrack(track,
		webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	require.NoError(t, err)
	offer, err := client.CreateOffer(nil)
	require.NoError(t, err)
	gathered := webrtc.GatheringCompletePromise(client)
	require.NoError(t, client.SetLocalDescription(offer))
	<-gathered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	answer, err := Answer(ctx, server.PeerConnection, client.LocalDescription().SDP)
	require.NoError(t, err)
	require.NoError(t, client.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}))

	// What the publisher hears back: NACKs, receiver reports and congestion control feedback
	// (its packets carry transport-wide sequence numbers, as a browser's do).
	nacked := make(chan uint16, 16)
	reports := make(chan struct{}, 1)
	twccFeedback := make(chan *rtcp.TransportLayerCC, 64)
	go func() {
		for {
			pkts, _, err := tx.Sender().ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p := p.(type) {
				case *rtcp.TransportLayerNack:
					for _, pair := range p.Nacks {
						for _, seq := range pair.PacketList() {
							select {
							case nacked <- seq:
							default:
							}
						}
					}
				case *rtcp.ReceiverReport:
					select {
					case reports <- struct{}{}:
					default:
					}
				case *rtcp.TransportLayerCC:
					select {
					case twccFeedback <- p:
					default:
					}
				}
			}
		}
	}()

	const total, skipped = 400, 150
	go func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for seq := uint16(1); seq <= total; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if seq == skipped {
				continue
			}
			_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq,
				Timestamp: uint32(seq) * 3000}, Payload: payloadFor(seq)})
		}
	}()

	// Packets written before the connection is up are dropped by the publisher's stack; from the
	// first that arrives, every packet but the skipped one comes, once, in order.
	var seqs []uint16
	for (len(seqs) == 0 || seqs[len(seqs)-1] != total) && ctx.Err() == nil {
		var raw []byte
		select {
		case raw = <-packets:
		case <-ctx.Done():
			t.Fatalf("%d packets arrived, not the last", len(seqs))
		}
		var p rtp.Packet
		require.NoError(t, p.Unmarshal(raw))
		require.Equal(t, payloadFor(p.SequenceNumber), p.Payload, "packet %d arrives as sent", p.SequenceNumber)
		seqs = append(seqs, p.SequenceNumber)
	}
	require.Less(t, seqs[0], uint16(skipped))
	var want []uint16
	for seq := seqs[0]; seq <= total; seq++ {
		if seq != skipped {
			want = append(want, seq)
		}
	}
	require.Equal(t, want, seqs)

	select {
	case seq := <-nacked:
		require.Equal(t, uint16(skipped), seq, "the missing packet is asked for again")
	case <-ctx.Done():
		t.Fatal("no NACK for the missing packet")
	}
	select {
	case <-reports:
	case <-ctx.Done():
		t.Fatal("no receiver report")
	}
	// Feedback comes every 100 ms for the packets received since the last, each one's arrival
	// reported: over the 800 ms the packets took, several rounds with many packets each.
	var rounds, reported int
	for reported < total/2 {
		select {
		case fb := <-twccFeedback:
			rounds++
			reported += int(fb.PacketStatusCount)
		case <-ctx.Done():
			t.Fatalf("congestion control feedback for %d packets in %d rounds", reported, rounds)
		}
	}
	require.Greater(t, rounds, 2)
	require.Positive(t, counted.nacks.Load(), "the NACKs sent are counted for the stream's metrics")
	direct, decrypted := server.Direct()
	require.Equal(t, !noDirect, direct)
	if direct {
		require.Greater(t, decrypted, uint64(total/2), "most packets were decrypted on the direct path")
	}

	require.NoError(t, server.Close())
}

type countingSink struct{ nacks, plis atomic.Uint64 }

func (s *countingSink) CountNACK(n uint64) { s.nacks.Add(n) }
func (s *countingSink) CountPLI()          { s.plis.Add(1) }

func payloadFor(seq uint16) []byte {
	p := make([]byte, 200)
	p[0] = 0x41 // an H.264 non-IDR slice
	for i := 1; i < len(p); i++ {
		p[i] = byte(int(seq) + i)
	}
	return p
}

// testTrack is a track receiver whose feedback is never sent, that keeps copies of what it is
// handed.
func testTrack() (*TrackReceiver, *[][]byte) {
	var got [][]byte
	fb := newConnFeedback(context.Background(), 1, func([]rtcp.Packet) error { return nil })
	tr := &TrackReceiver{buf: make([]byte, trackBuffer), feedback: fb,
		track:  &trackFeedback{ssrc: 7, nack: &nackLog{}, stats: receptionStats{clockRate: 90000}},
		handle: func(pkt []byte) { got = append(got, bytes.Clone(pkt)) }}
	return tr, &got
}

// Packets that do not authenticate under the derived keys are left to pion, and a session whose
// packets keep failing leaves the direct path; duplicates are dropped; a peer that moves is
// followed.
func TestDirectSession(t *testing.T) {
	key, salt := make([]byte, 16), make([]byte, 12)
	sender, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	require.NoError(t, err)
	good, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm,
		srtp.SRTPReplayProtection(directReplayWindow))
	require.NoError(t, err)
	wrongKey := slices.Clone(key)
	wrongKey[0] = 1
	bad, err := srtp.CreateContext(wrongKey, salt, srtp.ProtectionProfileAeadAes128Gcm)
	require.NoError(t, err)

	path := newDirectPath()
	addr := netip.MustParseAddrPort("127.0.0.1:5000")
	encrypt := func(seq uint16) []byte {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, SSRC: 7},
			Payload: payloadFor(seq)}
		raw, err := pkt.Marshal()
		require.NoError(t, err)
		out, err := sender.EncryptRTP(nil, raw, nil)
		require.NoError(t, err)
		return out
	}
	seqOf := func(raw []byte) uint16 {
		var p rtp.Packet
		require.NoError(t, p.Unmarshal(raw))
		require.Equal(t, payloadFor(p.SequenceNumber), p.Payload)
		return p.SequenceNumber
	}

	tr, got := testTrack()
	s := &directSession{path: path, addr: addr, ctx: good, tracks: map[uint32]*TrackReceiver{7: tr},
		log: slog.New(slog.DiscardHandler)}
	require.True(t, path.add(addr, s))
	require.False(t, path.add(addr, s), "one session per remote address")
	first := encrypt(1)
	require.True(t, path.divert(first, addr))
	require.Len(t, *got, 1)
	require.Equal(t, uint16(1), seqOf((*got)[0]))
	for range maxDirectFailures + 1 {
		require.True(t, path.divert(first, addr), "a duplicate is dropped, as pion drops it")
	}
	require.Len(t, *got, 1, "a duplicate is not handed on")
	require.Zero(t, s.failures, "duplicates are not failures")
	require.False(t, path.divert(encrypt(2), netip.MustParseAddrPort("127.0.0.1:5001")), "another address")
	rtcpPacket := []byte{0x80, 0xc8, 0, 6, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	require.False(t, path.divert(rtcpPacket, addr), "RTCP goes to pion")
	require.False(t, path.divert(encrypt(3)[:0:0], addr), "too short to be RTP")
	require.False(t, path.divert(encrypt(3)[:14], addr), "cut short: pion decides")
	require.Equal(t, 1, s.failures, "and it counts as a failure, unlike a duplicate")
	require.True(t, path.divert(encrypt(3), addr))
	require.Zero(t, s.failures)

	moved := netip.MustParseAddrPort("127.0.0.1:5002")
	s.moveTo(moved)
	require.False(t, path.divert(encrypt(4), addr), "the old address of a peer that moved goes to pion")
	require.True(t, path.divert(encrypt(5), moved), "its new address takes the direct path")
	require.Equal(t, uint16(5), seqOf((*got)[len(*got)-1]))

	s.close()
	require.False(t, path.divert(encrypt(6), moved), "a closed session takes nothing")
	s = &directSession{path: path, addr: addr, ctx: bad, tracks: map[uint32]*TrackReceiver{7: tr},
		log: slog.New(slog.DiscardHandler)}
	require.True(t, path.add(addr, s))
	for seq := uint16(10); seq < 10+maxDirectFailures; seq++ {
		require.False(t, path.divert(encrypt(seq), addr), "a packet that does not decrypt goes to pion")
	}
	path.mu.RLock()
	_, still := path.byAddr[addr]
	path.mu.RUnlock()
	require.False(t, still, "a session whose packets keep failing leaves the direct path")
}

// BenchmarkDirectPath is the direct path per packet, socket reader to the track's handler: the
// reader decrypts a 1,200-byte SRTP packet (AES-GCM) that carries a transport-wide sequence
// number, as a browser's do, and records it for the feedback (NACKs, receiver reports,
// congestion control).
func BenchmarkDirectPath(b *testing.B) {
	key, salt := make([]byte, 16), make([]byte, 12)
	sender, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	require.NoError(b, err)
	newCtx := func() *srtp.Context {
		ctx, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm,
			srtp.SRTPReplayProtection(directReplayWindow))
		require.NoError(b, err)
		return ctx
	}
	handled := 0
	tr, _ := testTrack()
	tr.track.twccExt = benchTWCCExt
	tr.handle = func([]byte) { handled++ }
	path := newDirectPath()
	addr := netip.MustParseAddrPort("127.0.0.1:5000")
	s := &directSession{path: path, addr: addr, ctx: newCtx(), tracks: map[uint32]*TrackReceiver{7: tr},
		log: slog.New(slog.DiscardHandler)}
	require.True(b, path.add(addr, s))
	pkts := benchPackets(b, sender)
	b.SetBytes(int64(len(pkts[0])))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i > 0 && i%len(pkts) == 0 {
			// The same sequence numbers again would be refused as replays: start the receiving
			// context afresh, outside the timing.
			b.StopTimer()
			s.ctx = newCtx()
			b.StartTimer()
		}
		if !path.divert(pkts[i%len(pkts)], addr) {
			b.Fatal("not diverted")
		}
	}
	b.StopTimer()
	require.Equal(b, b.N, handled)
}

const benchTWCCExt = 3

// benchPackets are 4,096 SRTP packets of 1,200 bytes with consecutive sequence numbers and
// transport-wide sequence numbers (encrypted by sender when given).
func benchPackets(b *testing.B, sender *srtp.Context) [][]byte {
	pkts := make([][]byte, 1<<12)
	for i := range pkts {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(i), SSRC: 7,
			Timestamp: uint32(i/10) * 3000}, Payload: make([]byte, 1150)}
		seq, err := (&rtp.TransportCCExtension{TransportSequence: uint16(i)}).Marshal()
		require.NoError(b, err)
		require.NoError(b, p.SetExtension(benchTWCCExt, seq))
		raw, err := p.Marshal()
		require.NoError(b, err)
		if sender != nil {
			raw, err = sender.EncryptRTP(nil, raw, nil)
			require.NoError(b, err)
		}
		pkts[i] = raw
	}
	return pkts
}

// BenchmarkFeedback is the feedback's cost per packet: connFeedback (ours) against pion's NACK
// generator, receiver report and TWCC sender interceptors, which did the same before. The
// packets are decrypted already.
func BenchmarkFeedback(b *testing.B) {
	pkts := benchPackets(b, nil)
	headers := make([]rtp.Header, len(pkts))
	for i := range pkts {
		_, err := headers[i].Unmarshal(pkts[i])
		require.NoError(b, err)
	}
	b.Run("ours", func(b *testing.B) {
		tr, _ := testTrack()
		tr.track.twccExt = benchTWCCExt
		b.ReportAllocs()
		for i := range b.N {
			tr.feedback.received(tr.track, &headers[i%len(headers)], time.Now())
		}
	})
	b.Run("pion interceptors", func(b *testing.B) {
		gen, err := nack.NewGeneratorInterceptor(nackGeneratorOptions()...)
		require.NoError(b, err)
		rr, err := report.NewReceiverInterceptor()
		require.NoError(b, err)
		tw, err := twcc.NewSenderInterceptor()
		require.NoError(b, err)
		reg := &interceptor.Registry{}
		reg.Add(gen)
		reg.Add(rr)
		reg.Add(tw)
		chain, err := reg.Build("")
		require.NoError(b, err)
		defer func() { _ = chain.Close() }()
		chain.BindRTCPWriter(interceptor.RTCPWriterFunc(func([]rtcp.Packet, interceptor.Attributes) (int, error) {
			return 0, nil
		}))
		var cur []byte
		reader := chain.BindRemoteStream(&interceptor.StreamInfo{SSRC: 7, ClockRate: 90000, MimeType: "video/H264",
			RTCPFeedback:        []interceptor.RTCPFeedback{{Type: "nack"}},
			RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: sdp.TransportCCURI, ID: benchTWCCExt}}},
			interceptor.RTPReaderFunc(func(dst []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
				return copy(dst, cur), a, nil
			}))
		buf := make([]byte, trackBuffer)
		attrs := interceptor.Attributes{}
		b.ReportAllocs()
		for i := range b.N {
			cur = pkts[i%len(pkts)]
			clear(attrs)
			if _, _, err := reader.Read(buf, attrs); err != nil {
				b.Fatal(err)
			}
		}
	})
}
