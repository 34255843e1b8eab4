package media

import (
	"strings"
)

// Codec names a codec the server understands, in the lowercase form used in APIs and file names.
type Codec string

// The codecs vigil accepts from publishers.
const (
	H264 Codec = "h264"
	H265 Codec = "h265"
	VP8  Codec = "vp8"
	VP9  Codec = "vp9"
	AV1  Codec = "av1"
	Opus Codec = "opus"
)

// Kind tells audio from video.
type Kind string

// The two kinds of track.
const (
	KindVideo Kind = "video"
	KindAudio Kind = "audio"
)

// codecInfo is what we need to know about each codec in one place, so that adding a codec is
// adding a row rather than editing switches.
type codecInfo struct {
	mime      string
	kind      Kind
	clockRate uint32
	wcsName   string
}

// info is the codec table. It is a switch rather than a package-level map because the project
// keeps no package-level variables; the compiler turns it into a jump table.
func (c Codec) info() codecInfo {
	switch c {
	case H264:
		return codecInfo{mime: "video/H264", kind: KindVideo, clockRate: 90000, wcsName: "H264"}
	case H265:
		return codecInfo{mime: "video/H265", kind: KindVideo, clockRate: 90000, wcsName: "H265"}
	case VP8:
		return codecInfo{mime: "video/VP8", kind: KindVideo, clockRate: 90000, wcsName: "VP8"}
	case VP9:
		return codecInfo{mime: "video/VP9", kind: KindVideo, clockRate: 90000, wcsName: "VP9"}
	case AV1:
		return codecInfo{mime: "video/AV1", kind: KindVideo, clockRate: 90000, wcsName: "AV1"}
	case Opus:
		return codecInfo{mime: "audio/opus", kind: KindAudio, clockRate: 48000, wcsName: "opus"}
	}
	return codecInfo{}
}

// AllCodecs lists every codec vigil accepts, video first.
func AllCodecs() [6]Codec { return [6]Codec{H264, H265, VP8, VP9, AV1, Opus} }

// CodecFromMime maps an RTP MIME type such as "video/H264" (any case) to a Codec.
func CodecFromMime(mime string) (Codec, bool) {
	for _, c := range AllCodecs() {
		if strings.EqualFold(c.info().mime, mime) {
			return c, true
		}
	}
	return "", false
}

// CodecFromName maps an SDP rtpmap encoding name such as "H264" or "opus" (any case) to a Codec.
func CodecFromName(name string) (Codec, bool) {
	c := Codec(strings.ToLower(name))
	return c, c.Valid()
}

// Mime is the RTP MIME type of the codec ("video/H264").
func (c Codec) Mime() string { return c.info().mime }

// Kind tells whether the codec carries audio or video.
func (c Codec) Kind() Kind { return c.info().kind }

// ClockRate is the RTP clock rate of the codec in Hz.
func (c Codec) ClockRate() uint32 { return c.info().clockRate }

// WCSName is the codec name as Web Call Server scripts expect it ("H264", "VP8", "opus").
func (c Codec) WCSName() string { return c.info().wcsName }

// Valid reports whether c is one of the known codecs.
func (c Codec) Valid() bool {
	return c.info().mime != ""
}
