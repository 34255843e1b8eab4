package rtc

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
)

// pionOffer is an offer from vigil's own client API with a send-only video and audio transceiver,
// as `vigil publish` makes.
func pionOffer(t *testing.T) string {
	t.Helper()
	api, err := NewClientAPI(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	require.NoError(t, err)
	defer func() { require.NoError(t, pc.Close()) }()
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		_, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		require.NoError(t, err)
	}
	offer, err := pc.CreateOffer(nil)
	require.NoError(t, err)
	return offer.SDP
}

// sdpWith builds a minimal offer from media sections; each section is an m= line followed by its
// attribute lines.
func sdpWith(sections ...string) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	for _, s := range sections {
		b.WriteString(strings.ReplaceAll(s, "\n", "\r\n"))
		b.WriteString("\r\n")
	}
	return b.String()
}

const (
	audioLegacy = "m=audio 9 UDP/TLS/RTP/SAVPF 0 9\nc=IN IP4 0.0.0.0\na=rtpmap:0 PCMU/8000\na=rtpmap:9 G722/8000"
	audioOpus   = "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\nc=IN IP4 0.0.0.0\na=rtpmap:111 opus/48000/2\na=rtpmap:0 PCMU/8000"
	videoMixed  = "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100\nc=IN IP4 0.0.0.0\n" +
		"a=rtpmap:96 VP8/90000\na=rtpmap:97 rtx/90000\na=fmtp:97 apt=96\na=rtpmap:98 h264/90000\n" +
		"a=rtpmap:99 H264/90000\na=rtpmap:100 MP4V-ES/90000"
	videoOpusMislabelled = "m=video 9 UDP/TLS/RTP/SAVPF 111\nc=IN IP4 0.0.0.0\na=rtpmap:111 opus/48000/2"
	application          = "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\nc=IN IP4 0.0.0.0\na=sctp-port:5000"
)

func TestInspectPionOffer(t *testing.T) {
	o, err := InspectOffer(pionOffer(t))
	require.NoError(t, err)
	require.Equal(t, []OfferMedia{
		{Kind: media.KindVideo, Codecs: []media.Codec{media.H264, media.VP8, media.VP9, media.AV1, media.H265}},
		{Kind: media.KindAudio, Codecs: []media.Codec{media.Opus}},
	}, o.Media)
}

func TestInspectOffer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offer   string
		want    []OfferMedia
		wantErr error
		// errText lists substrings the error message must carry.
		errText []string
	}{
		{
			name:  "audio and video, duplicates and unknown codecs left out",
			offer: sdpWith(audioOpus, videoMixed),
			want: []OfferMedia{
				{Kind: media.KindAudio, Codecs: []media.Codec{media.Opus}},
				{Kind: media.KindVideo, Codecs: []media.Codec{media.VP8, media.H264}},
			},
		},
		{
			name:  "sections without a supported codec are skipped",
			offer: sdpWith(audioLegacy, videoMixed, application),
			want:  []OfferMedia{{Kind: media.KindVideo, Codecs: []media.Codec{media.VP8, media.H264}}},
		},
		{
			name:    "garbage",
			offer:   "hello",
			wantErr: ErrMalformedSDP,
		},
		{
			name:    "empty",
			offer:   "",
			wantErr: ErrMalformedSDP,
		},
		{
			name:    "no media sections",
			offer:   sdpWith(),
			wantErr: ErrMalformedSDP,
			errText: []string{"no media sections"},
		},
		{
			name:    "only PCMU and G722",
			offer:   sdpWith(audioLegacy),
			wantErr: ErrNoSupportedCodec,
			errText: []string{"PCMU", "G722", "opus"},
		},
		{
			name:    "a codec in the wrong kind of section",
			offer:   sdpWith(videoOpusMislabelled),
			wantErr: ErrNoSupportedCodec,
			errText: []string{"offered opus"},
		},
		{
			name:    "only a data channel",
			offer:   sdpWith(application),
			wantErr: ErrNoSupportedCodec,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := InspectOffer(tc.offer)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				for _, s := range tc.errText {
					require.ErrorContains(t, err, s)
				}
				require.Empty(t, o.Media)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, o.Media)
		})
	}
}

func TestOfferSupports(t *testing.T) {
	o := Offer{Media: []OfferMedia{
		{Kind: media.KindVideo, Codecs: []media.Codec{media.VP8, media.H264}},
		{Kind: media.KindAudio, Codecs: []media.Codec{media.Opus}},
		{Kind: media.KindVideo, Codecs: []media.Codec{media.AV1}},
	}}
	for _, tc := range []struct {
		kind  media.Kind
		codec media.Codec
		want  bool
	}{
		{media.KindVideo, media.VP8, true},
		{media.KindVideo, media.H264, true},
		{media.KindVideo, media.AV1, true}, // from the second video section
		{media.KindVideo, media.VP9, false},
		{media.KindVideo, media.Opus, false}, // opus is offered, but for audio
		{media.KindAudio, media.Opus, true},
		{media.KindAudio, media.VP8, false},
	} {
		t.Run(string(tc.kind)+"/"+string(tc.codec), func(t *testing.T) {
			require.Equal(t, tc.want, o.Supports(tc.kind, tc.codec))
		})
	}
	require.False(t, Offer{}.Supports(media.KindVideo, media.VP8))
}

func FuzzInspectOffer(f *testing.F) {
	f.Add("hello")
	f.Add("")
	f.Add(sdpWith(audioOpus, videoMixed))
	f.Add(sdpWith(audioLegacy))
	f.Add(sdpWith(application))
	f.Fuzz(func(t *testing.T, offer string) {
		o, err := InspectOffer(offer)
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformedSDP) || errors.Is(err, ErrNoSupportedCodec), err)
			require.Empty(t, o.Media)
			return
		}
		require.NotEmpty(t, o.Media)
		for _, m := range o.Media {
			require.NotEmpty(t, m.Codecs)
			for _, c := range m.Codecs {
				require.True(t, c.Valid(), c)
				require.Equal(t, m.Kind, c.Kind())
				require.True(t, o.Supports(m.Kind, c))
			}
		}
	})
}
