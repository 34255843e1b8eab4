package rtc

import (
	"fmt"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"
)

// NACK generation: a hole is asked for once this many newer packets have arrived (about 12 ms of
// a 2.5 Mbps stream), and at most nackMaxPerPacket times.
const (
	nackReorderWindow = 4
	nackMaxPerPacket  = 3
)

func videoFeedback() []webrtc.RTCPFeedback {
	return []webrtc.RTCPFeedback{{Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
		{Type: webrtc.TypeRTCPFBTransportCC}}
}

// codecList is every codec the server negotiates, in order of preference within each kind.
// RTX is left out on purpose: publishers then retransmit on the media SSRC, which the NACK
// interceptor and the hub handle without a second stream per track.
func codecList() []webrtc.RTPCodecParameters {
	fb := videoFeedback()
	h264 := func(pt webrtc.PayloadType, fmtp string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{PayloadType: pt, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: fb}}
	}
	video := func(pt webrtc.PayloadType, mime, fmtp string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{PayloadType: pt, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: mime, ClockRate: 90000, SDPFmtpLine: fmtp, RTCPFeedback: fb}}
	}
	return []webrtc.RTPCodecParameters{
		{PayloadType: 111, RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}},
		h264(102, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"),
		h264(106, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
		h264(127, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"),
		h264(112, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"),
		h264(108, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"),
		video(96, webrtc.MimeTypeVP8, ""),
		video(98, webrtc.MimeTypeVP9, "profile-id=0"),
		video(100, webrtc.MimeTypeVP9, "profile-id=2"),
		video(45, webrtc.MimeTypeAV1, ""),
		video(116, webrtc.MimeTypeH265, ""),
	}
}

// newMediaEngine registers vigil's codecs and the interceptors every session uses: NACK
// generation and response, RTCP sender and receiver reports, transport-wide congestion control
// feedback (so browsers raise their bitrate), and the feedback counter.
func newMediaEngine(counter *FeedbackCounter) (*webrtc.MediaEngine, *interceptor.Registry, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range codecList() {
		kind := webrtc.RTPCodecTypeVideo
		if c.MimeType == webrtc.MimeTypeOpus {
			kind = webrtc.RTPCodecTypeAudio
		}
		if err := m.RegisterCodec(c, kind); err != nil {
			return nil, nil, fmt.Errorf("register codec %s: %w", c.MimeType, err)
		}
	}
	reg := &interceptor.Registry{}
	if counter != nil {
		// First: each interceptor writes RTCP through those registered before it, so the NACKs
		// and PLIs generated below pass through the counter only when it comes first.
		reg.Add(counter)
	}
	if err := webrtc.ConfigureNackWithOptions(m, reg, nackGeneratorOptions()); err != nil {
		return nil, nil, fmt.Errorf("configure nack: %w", err)
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, nil, fmt.Errorf("configure rtcp reports: %w", err)
	}
	if err := webrtc.ConfigureTWCCSender(m, reg); err != nil {
		return nil, nil, fmt.Errorf("configure twcc: %w", err)
	}
	return m, reg, nil
}

// Retransmissions are asked for only once a hole is older than the reorder window, and at most
// three times per packet: under load, late packets must not turn into a NACK storm that makes the
// publisher send more than the link could carry in the first place.
func nackGeneratorOptions() []nack.GeneratorOption {
	return []nack.GeneratorOption{nack.GeneratorSkipLastN(nackReorderWindow),
		nack.GeneratorMaxNacksPerPacket(nackMaxPerPacket)}
}
