package recorder

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
)

func TestParseRotation(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rotation
		str  string
	}{
		{"", Rotation{}, "off"},
		{"0", Rotation{}, "off"},
		{"off", Rotation{}, "off"},
		{"none", Rotation{}, "off"},
		{" 20 ", Rotation{Duration: 20 * time.Second}, "20s"},
		{"20", Rotation{Duration: 20 * time.Second}, "20s"},
		{"1.5", Rotation{Duration: 1500 * time.Millisecond}, "1.5s"},
		{"20s", Rotation{Duration: 20 * time.Second}, "20s"},
		{"2m", Rotation{Duration: 2 * time.Minute}, "2m0s"},
		{"1h30m", Rotation{Duration: 90 * time.Minute}, "1h30m0s"},
		{"1s", Rotation{Duration: time.Second}, "1s"},
		{"168h", Rotation{Duration: 168 * time.Hour}, "168h0m0s"},
		{"300K", Rotation{Bytes: 300e3}, "300K"},
		{"10M", Rotation{Bytes: 10e6}, "10M"},
		{"10MB", Rotation{Bytes: 10e6}, "10M"},
		{"512K", Rotation{Bytes: 512e3}, "512K"},
		{"512k", Rotation{Bytes: 512e3}, "512K"},
		{"512KB", Rotation{Bytes: 512e3}, "512K"},
		{"1.5G", Rotation{Bytes: 1.5e9}, "1500M"},
		{"2GB", Rotation{Bytes: 2e9}, "2G"},
		{"300001B", Rotation{Bytes: 300001}, "300001B"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRotation(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.str, got.String())
			again, err := ParseRotation(got.String())
			require.NoError(t, err, "what String says must read back")
			require.Equal(t, got, again)
		})
	}
}

func TestParseRotationErrors(t *testing.T) {
	for _, in := range []string{"abc", "-5", "-5s", "0s", "10X", "M", "10 M", "5m3", "1e", "-1M", "0M", "twenty",
		"1ns", "500ms", "0.5", "1B", "100K", "inf", "+Inf", "NaN", "1e300", "1e300s", "9999999h", "2T", "1e30M", "200h"} {
		t.Run(in, func(t *testing.T) {
			_, err := ParseRotation(in)
			require.ErrorIs(t, err, ErrBadOptions)
		})
	}
}

func TestParseFormats(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Formats
	}{
		{"", Formats{}},
		{" , ", Formats{}},
		{"h264-mp4,vp8-webm", Formats{media.H264: MP4, media.VP8: WebM}},
		{"H264-MP4, VP9-WEBM", Formats{media.H264: MP4, media.VP9: WebM}},
		{"vp9-mp4,av1-webm,h265-mp4", Formats{media.VP9: MP4, media.AV1: WebM, media.H265: MP4}},
		{"vp9-webm,vp9-mp4", Formats{media.VP9: MP4}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFormats(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseFormatsErrors(t *testing.T) {
	for _, in := range []string{
		"vp8-mp4",    // MP4 cannot carry VP8
		"h264-webm",  // nor WebM H.264
		"h265-webm",  // or H.265
		"opus-mp4",   // formats are chosen by the video codec
		"h264",       // no container
		"h264-mkv",   // unknown container
		"mpeg2-mp4",  // unknown codec
		"h264-mp4,x", // one bad item spoils the list
		"garbage",
	} {
		t.Run(in, func(t *testing.T) {
			_, err := ParseFormats(in)
			require.ErrorIs(t, err, ErrBadOptions)
		})
	}
}

func TestFormatsFor(t *testing.T) {
	defaults := Formats{}
	for _, tc := range []struct {
		f     Formats
		video media.Codec
		want  Container
	}{
		{defaults, media.H264, MP4},
		{defaults, media.H265, MP4},
		{defaults, media.VP9, MP4},
		{defaults, media.AV1, MP4},
		{defaults, media.VP8, WebM},
		{defaults, "", MP4}, // audio only
		{nil, media.VP8, WebM},
		{Formats{media.VP9: WebM}, media.VP9, WebM},
		{Formats{media.VP9: WebM}, media.AV1, MP4},
		{Formats{media.AV1: WebM}, media.AV1, WebM},
	} {
		t.Run(string(tc.video)+"/"+string(tc.want), func(t *testing.T) {
			require.Equal(t, tc.want, tc.f.For(tc.video))
		})
	}
}

// The disk guard's segment limit tightens a recording's rotation and never loosens it.
func TestRotationWithLimit(t *testing.T) {
	m := &Manager{}
	r := Rotation{Duration: time.Minute}
	require.Equal(t, r, m.rotationWithLimit(r), "no limit set")
	m.LimitSegments(5*time.Minute, 1<<20)
	require.Equal(t, Rotation{Duration: time.Minute, Bytes: 1 << 20}, m.rotationWithLimit(r))
	require.Equal(t, Rotation{Duration: 5 * time.Minute, Bytes: 1 << 20}, m.rotationWithLimit(Rotation{}))
	require.Equal(t, Rotation{Duration: 5 * time.Minute, Bytes: 1000}, m.rotationWithLimit(Rotation{Bytes: 1000}))
	m.LimitSegments(0, 0)
	require.Equal(t, Rotation{Bytes: 1000}, m.rotationWithLimit(Rotation{Bytes: 1000}))
}
