package recorder

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vigilrec/vigil/internal/media"
)

// ErrBadOptions means recording options do not parse.
var ErrBadOptions = errors.New("invalid recording options")

// Rotation cuts a recording into segments by duration or by size; the zero value never cuts.
type Rotation struct {
	Duration time.Duration
	Bytes    int64
}

// Bounds of rotation: below them a recording becomes a file per keyframe, above them the value
// is a mistake (or overflows).
const (
	MinRotationDuration = time.Second
	MaxRotationDuration = 7 * 24 * time.Hour
	MinRotationBytes    = 256 << 10
	MaxRotationBytes    = 1 << 40
)

// ParseRotation reads "20s", "2m" or Web Call Server's "20" (seconds), and "10M" (megabytes,
// 10^6 bytes), "512K" or "300000B". Empty, "0" and "off" mean no rotation. Durations run from 1 s to 7 days,
// sizes from 256 KiB to 1 TiB.
func ParseRotation(s string) (Rotation, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "0", "off", "none":
		return Rotation{}, nil
	}
	bad := func(why string) (Rotation, error) {
		return Rotation{}, fmt.Errorf("%w: rotation %q: %s", ErrBadOptions, s, why)
	}
	duration := func(d float64) (Rotation, error) { // d in nanoseconds
		if math.IsNaN(d) || d < float64(MinRotationDuration) || d > float64(MaxRotationDuration) {
			return bad("a duration must be from 1s to 168h (7 days)")
		}
		return Rotation{Duration: time.Duration(d)}, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && n > 0 {
		return duration(n * float64(time.Second))
	}
	// Durations first: the size suffixes are case-insensitive, so "2m" would otherwise be 2 MB.
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return duration(float64(d))
	}
	for suffix, mult := range map[string]float64{"B": 1, "K": 1e3, "M": 1e6, "G": 1e9, "KB": 1e3, "MB": 1e6, "GB": 1e9} {
		if num, ok := strings.CutSuffix(strings.ToUpper(s), suffix); ok {
			if n, err := strconv.ParseFloat(num, 64); err == nil && n > 0 {
				b := n * mult
				if math.IsNaN(b) || b < MinRotationBytes || b > MaxRotationBytes {
					return bad("a size must be from 256 KiB (300K) to 1 TiB")
				}
				return Rotation{Bytes: int64(b)}, nil
			}
		}
	}
	return bad(`use a duration (20s, or "20" for seconds) or a size (10M)`)
}

func (r Rotation) String() string {
	switch {
	case r.Duration > 0:
		return r.Duration.String()
	case r.Bytes > 0:
		switch {
		case r.Bytes%1e9 == 0:
			return strconv.FormatInt(r.Bytes/1e9, 10) + "G"
		case r.Bytes%1e6 == 0:
			return strconv.FormatInt(r.Bytes/1e6, 10) + "M"
		case r.Bytes%1e3 == 0:
			return strconv.FormatInt(r.Bytes/1e3, 10) + "K"
		}
		return strconv.FormatInt(r.Bytes, 10) + "B"
	}
	return "off"
}

// Container is a file format.
type Container string

// The containers vigil writes.
const (
	MP4  Container = "mp4"
	WebM Container = "webm"
)

// Formats maps a video codec to its container, in the spirit of Web Call Server's record_formats.
type Formats map[media.Codec]Container

// ParseFormats reads "h264-mp4,vp8-webm". Codecs not named default to MP4, except VP8, which MP4
// cannot carry and always goes to WebM.
func ParseFormats(s string) (Formats, error) {
	f := Formats{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		codec, container, ok := strings.Cut(strings.ToLower(item), "-")
		c, known := media.CodecFromName(codec)
		if !ok || !known || c.Kind() != media.KindVideo || (container != "mp4" && container != "webm") {
			return nil, fmt.Errorf("%w: record format %q: use CODEC-mp4 or CODEC-webm, e.g. h264-mp4,vp8-webm", ErrBadOptions, item)
		}
		if c == media.VP8 && container == "mp4" || (c == media.H264 || c == media.H265) && container == "webm" {
			return nil, fmt.Errorf("%w: record format %q: %s cannot be stored in %s", ErrBadOptions, item, c, container)
		}
		f[c] = Container(container)
	}
	return f, nil
}

// For returns the container for a video codec ("" for audio-only streams: MP4).
func (f Formats) For(video media.Codec) Container {
	if c, ok := f[video]; ok {
		return c
	}
	if video == media.VP8 {
		return WebM
	}
	return MP4
}
