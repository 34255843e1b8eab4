package publish

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"

	"github.com/vigilrec/vigil/internal/media"
)

//go:embed clips/*.h264 clips/*.ivf clips/*.ogg
var clipFS embed.FS

// ErrNoClip means there is no built-in clip for that codec and profile.
var ErrNoClip = errors.New("no built-in clip")

// Frame is one encoded access unit of a clip.
type Frame struct {
	Data     []byte // Annex B for H.264, the raw frame for IVF codecs, one Opus packet for audio
	Duration time.Duration
	Key      bool
}

// Clip is a short encoded loop, shared read-only by any number of publishers.
type Clip struct {
	Codec  media.Codec
	Frames []Frame
}

// Duration is the clip's playing time.
func (c *Clip) Duration() time.Duration {
	var d time.Duration
	for _, f := range c.Frames {
		d += f.Duration
	}
	return d
}

// Profiles lists the built-in video profiles.
func Profiles() []string { return []string{"240p", "1080p"} }

// BuiltinVideo loads the built-in clip of codec at profile ("240p" or "1080p").
func BuiltinVideo(codec media.Codec, profile string) (*Clip, error) {
	ext := map[media.Codec]string{media.H264: "h264", media.VP8: "ivf", media.VP9: "ivf"}[codec]
	data, err := clipFS.ReadFile(fmt.Sprintf("clips/%s-%s.%s", profile, codec, ext))
	if ext == "" || err != nil {
		return nil, fmt.Errorf("%w for %s at %s (built in: h264 and vp8 at 240p and 1080p, vp9 at 240p)",
			ErrNoClip, codec, profile)
	}
	return parseClip(codec, data)
}

// BuiltinAudio loads the built-in Opus clip (a 440 Hz tone).
func BuiltinAudio() (*Clip, error) {
	data, err := clipFS.ReadFile("clips/audio-opus.ogg")
	if err != nil {
		return nil, fmt.Errorf("read built-in audio: %w", err)
	}
	return parseOgg(data)
}

// LoadFile reads a user's clip: .h264/.264 (Annex B, 30 fps assumed), .ivf (VP8, VP9 or AV1) or
// .ogg (Opus, one packet per page as `ffmpeg -page_duration 20000` writes).
func LoadFile(path string) (*Clip, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read clip: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".h264", ".264":
		return parseClip(media.H264, data)
	case ".ivf":
		return parseIVF(data)
	case ".ogg", ".opus":
		return parseOgg(data)
	}
	return nil, fmt.Errorf("clip %s: use an .h264, .ivf or .ogg file", path)
}

func parseClip(codec media.Codec, data []byte) (*Clip, error) {
	if codec == media.H264 {
		return parseAnnexB(data, time.Second/30)
	}
	return parseIVF(data)
}

// parseAnnexB groups NAL units into access units: a new one starts at an AUD, SEI or parameter
// set that follows a picture, or at a second picture.
func parseAnnexB(data []byte, frameDur time.Duration) (*Clip, error) {
	nalus := media.SplitAnnexB(data)
	if len(nalus) == 0 {
		return nil, errors.New("parse H.264 Annex B: no NAL units found")
	}
	clip := &Clip{Codec: media.H264}
	var cur [][]byte
	hasPicture, key := false, false
	flush := func() error {
		if !hasPicture {
			return nil
		}
		b, err := h264.AnnexB(cur).Marshal()
		if err != nil {
			return fmt.Errorf("marshal access unit: %w", err)
		}
		clip.Frames = append(clip.Frames, Frame{Data: b, Duration: frameDur, Key: key})
		cur, hasPicture, key = nil, false, false
		return nil
	}
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		typ := h264.NALUType(n[0] & 0x1f)
		picture := typ == h264.NALUTypeIDR || typ == h264.NALUTypeNonIDR
		startsAU := typ == h264.NALUTypeAccessUnitDelimiter || typ == h264.NALUTypeSEI ||
			typ == h264.NALUTypeSPS || typ == h264.NALUTypePPS || picture
		if startsAU && hasPicture {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		cur = append(cur, n)
		hasPicture = hasPicture || picture
		key = key || typ == h264.NALUTypeIDR
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if len(clip.Frames) == 0 || !clip.Frames[0].Key {
		return nil, errors.New("H.264 clip must start with an IDR picture")
	}
	return clip, nil
}

func parseIVF(data []byte) (*Clip, error) {
	r, hdr, err := ivfreader.NewWith(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse IVF: %w", err)
	}
	codec, ok := map[string]media.Codec{"VP80": media.VP8, "VP90": media.VP9, "AV01": media.AV1}[string(hdr.FourCC[:])]
	if !ok {
		return nil, fmt.Errorf("IVF codec %q: use VP8, VP9 or AV1", hdr.FourCC[:])
	}
	frameDur := time.Second / 30
	if hdr.TimebaseDenominator > 0 && hdr.TimebaseNumerator > 0 {
		frameDur = time.Duration(float64(time.Second) * float64(hdr.TimebaseNumerator) / float64(hdr.TimebaseDenominator))
	}
	clip := &Clip{Codec: codec}
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse IVF frame: %w", err)
		}
		clip.Frames = append(clip.Frames, Frame{Data: frame, Duration: frameDur, Key: ivfKey(codec, frame)})
	}
	if len(clip.Frames) == 0 || !clip.Frames[0].Key {
		return nil, errors.New("IVF clip must start with a key frame")
	}
	return clip, nil
}

func ivfKey(codec media.Codec, frame []byte) bool {
	if len(frame) == 0 {
		return false
	}
	switch codec {
	case media.VP8:
		return frame[0]&0x01 == 0
	case media.VP9:
		// frame_marker(2) profile(2, or 3 with a reserved bit) show_existing_frame frame_type
		profile := (frame[0]>>5)&1 | (frame[0]>>4)&2
		shift := 3
		if profile == 3 {
			shift = 2
		}
		return (frame[0]>>shift)&1 == 0 && (frame[0]>>(shift-1))&1 == 0
	}
	return true
}

func parseOgg(data []byte) (*Clip, error) {
	r, _, err := oggreader.NewWith(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse Ogg: %w", err)
	}
	clip := &Clip{Codec: media.Opus}
	for {
		page, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse Ogg page: %w", err)
		}
		if bytes.HasPrefix(page, []byte("OpusTags")) || bytes.HasPrefix(page, []byte("OpusHead")) {
			continue
		}
		d := opusDuration(page)
		if d == 0 {
			continue
		}
		clip.Frames = append(clip.Frames, Frame{Data: page, Duration: d, Key: true})
	}
	if len(clip.Frames) == 0 {
		return nil, errors.New("Ogg clip has no Opus packets")
	}
	return clip, nil
}

// opusDuration reads a packet's duration from its TOC byte (RFC 6716 §3.1): the configuration
// gives the frame size, the code the number of frames. Granule positions would do too, but the
// first page's carries the encoder's pre-skip.
func opusDuration(pkt []byte) time.Duration {
	if len(pkt) == 0 {
		return 0
	}
	config := pkt[0] >> 3
	var frame time.Duration
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = [4]time.Duration{10, 20, 40, 60}[config%4] * time.Millisecond
	case config < 16: // hybrid: 10, 20 ms
		frame = [2]time.Duration{10, 20}[config%2] * time.Millisecond
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = [4]time.Duration{2500, 5000, 10000, 20000}[config%4] * time.Microsecond
	}
	frames := time.Duration(1)
	switch pkt[0] & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(pkt) < 2 {
			return 0
		}
		frames = time.Duration(pkt[1] & 0x3f)
	}
	return frame * frames
}
