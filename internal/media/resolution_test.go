package media

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Parameter sets with known sizes, from mediacommon's test vectors.
var (
	h264SPS352x288 = []byte{
		0x67, 0x64, 0x00, 0x0c, 0xac, 0x3b, 0x50, 0xb0, 0x4b, 0x42, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00,
		0x00, 0x03, 0x00, 0x3d, 0x08,
	}
	h264SPS1280x720 = []byte{
		0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x6c, 0x80, 0x00, 0x00, 0x03,
		0x00, 0x80, 0x00, 0x00, 0x1e, 0x07, 0x8c, 0x18, 0xcb,
	}
	h265SPS1920x1080 = []byte{
		0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
		0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x10, 0xe5, 0x96, 0x66, 0x69, 0x24, 0xca, 0xe0, 0x10, 0x00,
		0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01, 0xe0, 0x80,
	}
	// av1SeqHeader1920x804 is a sequence header OBU as Chrome sends it, without obu_size.
	av1SeqHeader1920x804 = []byte{0x08, 0x00, 0x00, 0x00, 0x42, 0xa7, 0xbf, 0xe4, 0x60, 0x0d, 0x00, 0x40}
)

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// lp prefixes a NAL unit or OBU with its length, as STAP-A, H.265 AP and AV1 W=0 elements are.
func lp16(b []byte) []byte { return cat([]byte{byte(len(b) >> 8), byte(len(b))}, b) }

// sizeCases are hand-made payloads; they also seed FuzzPictureSize.
var sizeCases = []struct {
	name          string
	codec         Codec
	payload       []byte
	width, height int
	ok            bool
}{
	{"h264 empty", H264, nil, 0, 0, false},
	{"h264 one byte", H264, []byte{0x67}, 0, 0, false},
	{"h264 SPS", H264, h264SPS352x288, 352, 288, true},
	{"h264 SPS 720p", H264, h264SPS1280x720, 1280, 720, true},
	{"h264 truncated SPS", H264, h264SPS352x288[:4], 0, 0, false},
	{"h264 STAP-A with SPS and PPS", H264, cat([]byte{0x78}, lp16(h264SPS1280x720), lp16([]byte{0x68, 0xce})), 1280, 720, true},
	{"h264 STAP-A with PPS only", H264, cat([]byte{0x78}, lp16([]byte{0x68, 0xce})), 0, 0, false},
	{"h264 STAP-A with a truncated SPS", H264, cat([]byte{0x78}, lp16(h264SPS352x288[:3])), 0, 0, false},
	{"h264 IDR", H264, []byte{0x65, 0x88, 0x84}, 0, 0, false},
	{"h264 FU-A start of IDR", H264, []byte{0x7c, 0x85, 0x88}, 0, 0, false},

	{"h265 empty", H265, nil, 0, 0, false},
	{"h265 one byte", H265, []byte{0x42}, 0, 0, false},
	{"h265 SPS", H265, h265SPS1920x1080, 1920, 1080, true},
	{"h265 truncated SPS", H265, h265SPS1920x1080[:6], 0, 0, false},
	{"h265 AP with VPS, SPS and PPS", H265,
		cat([]byte{0x60, 0x01}, lp16([]byte{0x40, 0x01, 0x0c}), lp16(h265SPS1920x1080), lp16([]byte{0x44, 0x01, 0xc1})),
		1920, 1080, true},
	{"h265 AP without SPS", H265, cat([]byte{0x60, 0x01}, lp16([]byte{0x40, 0x01, 0x0c})), 0, 0, false},
	{"h265 IDR", H265, []byte{0x26, 0x01, 0xaf}, 0, 0, false},

	{"vp8 empty", VP8, nil, 0, 0, false},
	{"vp8 descriptor only", VP8, []byte{0x10}, 0, 0, false},
	{"vp8 key frame", VP8, []byte{0x10, 0x50, 0x2f, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}, 320, 240, true},
	{"vp8 key frame with picture id", VP8,
		[]byte{0x90, 0x80, 0x80, 0x01, 0x50, 0x2f, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x07, 0x38, 0x04}, 1920, 1080, true},
	{"vp8 scaling bits are not size", VP8, []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0xc1, 0xf0, 0x40}, 320, 240, true},
	{"vp8 truncated key frame header", VP8, []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0}, 0, 0, false},
	{"vp8 bad start code", VP8, []byte{0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2b, 0x40, 0x01, 0xf0, 0x00}, 0, 0, false},
	{"vp8 inter frame", VP8, []byte{0x10, 0x01, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}, 0, 0, false},
	{"vp8 not a frame start", VP8, []byte{0x00, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}, 0, 0, false},

	{"vp9 empty", VP9, nil, 0, 0, false},
	{"vp9 B only", VP9, []byte{0x08}, 0, 0, false},
	{"vp9 scalability structure", VP9, []byte{0x8b, 0x80, 0x00, 0x18, 0x01, 0x40, 0x00, 0xf0, 0x01, 0x14, 0x01}, 320, 240, true},
	{"vp9 layer indices and scalability structure", VP9,
		[]byte{0xab, 0x80, 0x00, 0x00, 0x00, 0x18, 0x05, 0x00, 0x02, 0xd0}, 1280, 720, true},
	{"vp9 scalability structure without sizes", VP9, []byte{0x8b, 0x80, 0x00, 0x08, 0x01}, 0, 0, false},
	{"vp9 truncated scalability structure", VP9, []byte{0x8b, 0x80, 0x00, 0x18, 0x01}, 0, 0, false},
	{"vp9 truncated picture id", VP9, []byte{0x88}, 0, 0, false},
	{"vp9 descriptor without frame", VP9, []byte{0x88, 0x01}, 0, 0, false},
	{"vp9 inter frame", VP9, []byte{0xc9, 0x80, 0x01, 0x82, 0x49, 0x83}, 0, 0, false},

	{"av1 empty", AV1, nil, 0, 0, false},
	{"av1 one byte", AV1, []byte{0x18}, 0, 0, false},
	{"av1 W=1 sequence header", AV1, cat([]byte{0x18}, av1SeqHeader1920x804), 1920, 804, true},
	{"av1 W=0 sequence header", AV1, cat([]byte{0x08, byte(len(av1SeqHeader1920x804))}, av1SeqHeader1920x804), 1920, 804, true},
	{"av1 W=2 sequence header last", AV1, cat([]byte{0x28, 0x02, 0x30, 0x00}, av1SeqHeader1920x804), 1920, 804, true},
	{"av1 W=2 sequence header first", AV1,
		cat([]byte{0x28, byte(len(av1SeqHeader1920x804))}, av1SeqHeader1920x804, []byte{0x30, 0x00}), 1920, 804, true},
	{"av1 without sequence header", AV1, []byte{0x10, 0x30, 0x00}, 0, 0, false},
	{"av1 length past the end", AV1, []byte{0x08, 0x20, 0x08, 0x00}, 0, 0, false},
	{"av1 bad LEB128", AV1, []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0, 0, false},
	{"av1 truncated sequence header", AV1, cat([]byte{0x18}, av1SeqHeader1920x804[:3]), 0, 0, false},

	{"opus", Opus, []byte{0xfc, 0xff, 0xfe}, 0, 0, false},
	{"unknown codec", Codec("mpeg2"), h264SPS352x288, 0, 0, false},
}

func TestPictureSize(t *testing.T) {
	for _, tc := range sizeCases {
		t.Run(tc.name, func(t *testing.T) {
			w, h, ok := PictureSize(tc.codec, tc.payload)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.width, w)
			require.Equal(t, tc.height, h)
		})
	}
}

// Short and empty payloads must never panic, whatever the codec.
func TestPictureSizeShortPayloads(t *testing.T) {
	for _, c := range AllCodecs() {
		for b := range 256 {
			for _, p := range [][]byte{nil, {byte(b)}, {byte(b), 0xff}, {byte(b), 0x00, 0x00}} {
				require.NotPanics(t, func() { PictureSize(c, p) }, "%s % x", c, p)
			}
		}
	}
}

func FuzzPictureSize(f *testing.F) {
	for _, tc := range sizeCases {
		f.Add(string(tc.codec), tc.payload)
	}
	f.Fuzz(func(t *testing.T, codec string, payload []byte) {
		check := func(c Codec) {
			w, h, ok := PictureSize(c, payload)
			if !ok {
				require.Zero(t, w)
				require.Zero(t, h)
				return
			}
			// The hub reads sizes only from keyframe starts; for every codec but AV1 (whose N bit
			// is independent of the OBUs carried) a packet with a size is one.
			if c != AV1 {
				require.True(t, IsKeyframeStart(c, payload), "%s size from a packet that is no keyframe start", c)
			}
		}
		check(Codec(codec))
		for _, c := range AllCodecs() {
			check(c)
		}
	})
}
