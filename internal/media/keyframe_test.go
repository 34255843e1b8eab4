package media

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// keyframeCases are hand-made payloads; they also seed FuzzIsKeyframeStart.
var keyframeCases = []struct {
	name    string
	codec   Codec
	payload []byte
	want    bool
}{
	// H.264, RFC 6184.
	{"h264 empty", H264, nil, false},
	{"h264 one byte", H264, []byte{0x00}, false},
	{"h264 IDR", H264, []byte{0x65, 0x88, 0x84}, true},
	{"h264 IDR header only", H264, []byte{0x65}, true},
	{"h264 SPS", H264, []byte{0x67, 0x42, 0xc0, 0x1e}, true},
	{"h264 PPS", H264, []byte{0x68, 0xce, 0x3c, 0x80}, false},
	{"h264 SEI", H264, []byte{0x06, 0x05, 0x10}, false},
	{"h264 non-IDR slice", H264, []byte{0x41, 0x9a, 0x02}, false},
	{"h264 FU-A start of IDR", H264, []byte{0x7c, 0x85, 0x88, 0x84}, true},
	{"h264 FU-A middle of IDR", H264, []byte{0x7c, 0x05, 0x88}, false},
	{"h264 FU-A end of IDR", H264, []byte{0x7c, 0x45, 0x88}, false},
	{"h264 FU-A start of non-IDR", H264, []byte{0x7c, 0x81, 0x9a}, false},
	{"h264 FU-A without FU header", H264, []byte{0x7c}, false},
	{"h264 STAP-A with SPS and PPS", H264,
		[]byte{0x78, 0x00, 0x04, 0x67, 0x42, 0xc0, 0x1e, 0x00, 0x02, 0x68, 0xce}, true},
	{"h264 STAP-A with PPS and IDR", H264, []byte{0x78, 0x00, 0x02, 0x68, 0xce, 0x00, 0x02, 0x65, 0x88}, true},
	{"h264 STAP-A without key NAL", H264, []byte{0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x02, 0x41, 0x9a}, false},
	{"h264 STAP-A length past the end", H264, []byte{0x78, 0x00, 0x09, 0x67, 0x42}, false},
	{"h264 STAP-A zero length stops the walk", H264, []byte{0x78, 0x00, 0x00, 0x00, 0x01, 0x67}, false},
	{"h264 STAP-A one length byte", H264, []byte{0x78, 0x00}, false},
	{"h264 STAP-A header only", H264, []byte{0x78}, false},

	// H.265, RFC 7798: two-byte NAL header, type in bits 1-6 of the first byte.
	{"h265 empty", H265, nil, false},
	{"h265 one byte", H265, []byte{0x26}, false},
	{"h265 IDR_W_RADL", H265, []byte{0x26, 0x01, 0xaf}, true},
	{"h265 IDR_N_LP", H265, []byte{0x28, 0x01, 0xaf}, true},
	{"h265 CRA", H265, []byte{0x2a, 0x01, 0xaf}, true},
	{"h265 BLA_W_LP", H265, []byte{0x20, 0x01, 0xaf}, true},
	{"h265 VPS", H265, []byte{0x40, 0x01, 0x0c}, true},
	{"h265 SPS", H265, []byte{0x42, 0x01, 0x01}, true},
	{"h265 PPS", H265, []byte{0x44, 0x01, 0xc1}, true},
	{"h265 TRAIL_R", H265, []byte{0x02, 0x01, 0xd0}, false},
	{"h265 prefix SEI", H265, []byte{0x4e, 0x01, 0x05}, false},
	{"h265 FU start of IDR", H265, []byte{0x62, 0x01, 0x93, 0xaf}, true},
	{"h265 FU start of CRA", H265, []byte{0x62, 0x01, 0x95, 0xaf}, true},
	{"h265 FU middle of IDR", H265, []byte{0x62, 0x01, 0x13, 0xaf}, false},
	{"h265 FU start of TRAIL_R", H265, []byte{0x62, 0x01, 0x81, 0xd0}, false},
	{"h265 FU without FU header", H265, []byte{0x62, 0x01}, false},
	{"h265 AP with VPS", H265, []byte{0x60, 0x01, 0x00, 0x03, 0x40, 0x01, 0x0c, 0x00, 0x03, 0x42, 0x01, 0x01}, true},
	{"h265 AP with IDR second", H265, []byte{0x60, 0x01, 0x00, 0x02, 0x4e, 0x01, 0x00, 0x02, 0x26, 0x01}, true},
	{"h265 AP without key NAL", H265, []byte{0x60, 0x01, 0x00, 0x03, 0x02, 0x01, 0xd0}, false},
	{"h265 AP length past the end", H265, []byte{0x60, 0x01, 0x00, 0x10, 0x40, 0x01}, false},

	// VP8, RFC 7741 §4.2.
	{"vp8 empty", VP8, nil, false},
	{"vp8 descriptor only", VP8, []byte{0x10}, false},
	{"vp8 key frame start", VP8, []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a}, true},
	{"vp8 inter frame start", VP8, []byte{0x10, 0x01, 0x00, 0x00}, false},
	{"vp8 continuation of a key frame", VP8, []byte{0x00, 0x00, 0x00}, false},
	{"vp8 start of partition 1", VP8, []byte{0x11, 0x00, 0x00}, false},
	{"vp8 15-bit picture id", VP8, []byte{0x90, 0x80, 0x81, 0x23, 0x00}, true},
	{"vp8 7-bit picture id, TL0PICIDX and TID", VP8, []byte{0x90, 0xe0, 0x12, 0x05, 0x40, 0x00}, true},
	{"vp8 KEYIDX only", VP8, []byte{0x90, 0x10, 0x20, 0x00}, true},
	{"vp8 inter frame with picture id", VP8, []byte{0x90, 0x80, 0x12, 0x01}, false},
	{"vp8 X without extension byte", VP8, []byte{0x90}, false},
	{"vp8 I without picture id", VP8, []byte{0x90, 0x80}, false},
	{"vp8 M without second picture id byte", VP8, []byte{0x90, 0x80, 0x80}, false},
	{"vp8 descriptor without payload", VP8, []byte{0x90, 0xf0, 0x12, 0x05, 0x40}, false},

	// VP9, RFC 9628 §4.2: |I|P|L|F|B|E|V|Z|.
	{"vp9 empty", VP9, nil, false},
	{"vp9 B only", VP9, []byte{0x08}, true},
	{"vp9 non-flexible key frame start", VP9, []byte{0x8b, 0x80, 0x00, 0x18}, true},
	{"vp9 inter frame start", VP9, []byte{0xc9, 0x80, 0x01}, false},
	{"vp9 key frame continuation", VP9, []byte{0x81, 0x80, 0x00}, false},
	{"vp9 flexible inter frame start", VP9, []byte{0xd8, 0x80, 0x01, 0x02}, false},

	// AV1 RTP specification §4.4: |Z|Y|W|W|N|-|-|-|.
	{"av1 empty", AV1, nil, false},
	{"av1 N", AV1, []byte{0x08}, true},
	{"av1 N with one OBU element", AV1, []byte{0x18, 0x08, 0x00}, true},
	{"av1 without N", AV1, []byte{0x10, 0x30, 0x10}, false},
	{"av1 continuation without N", AV1, []byte{0xc0, 0x01}, false},

	// Audio and unknown codecs have no keyframes.
	{"opus", Opus, []byte{0xfc, 0xff, 0xfe}, false},
	{"opus empty", Opus, nil, false},
	{"unknown codec", Codec("mpeg2"), []byte{0x65}, false},
}

func TestIsKeyframeStart(t *testing.T) {
	for _, tc := range keyframeCases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, IsKeyframeStart(tc.codec, tc.payload))
		})
	}
}

// Short and empty payloads must never panic, whatever the codec.
func TestIsKeyframeStartShortPayloads(t *testing.T) {
	for _, c := range AllCodecs() {
		require.False(t, IsKeyframeStart(c, nil), c)
		require.False(t, IsKeyframeStart(c, []byte{}), c)
		for b := range 256 {
			require.NotPanics(t, func() { IsKeyframeStart(c, []byte{byte(b)}) }, "%s %#x", c, b)
			require.NotPanics(t, func() { IsKeyframeStart(c, []byte{byte(b), 0xff}) }, "%s %#x ff", c, b)
		}
	}
}

func FuzzIsKeyframeStart(f *testing.F) {
	for _, tc := range keyframeCases {
		f.Add(string(tc.codec), tc.payload)
	}
	f.Fuzz(func(t *testing.T, codec string, payload []byte) {
		IsKeyframeStart(Codec(codec), payload)
		for _, c := range AllCodecs() {
			IsKeyframeStart(c, payload)
		}
	})
}
