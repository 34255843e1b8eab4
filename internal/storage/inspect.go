package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	mcfmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// Inspection is what vigil's own parsers tell of a recording file, for tools that check files
// where ffprobe is not installed.
type Inspection struct {
	Duration time.Duration
	// Codecs are the tracks' codecs (h264, h265, av1, vp9, vp8, opus), video first when the
	// file says so.
	Codecs []string
	// Whole is true when the file ends at a complete fragment (MP4) or cluster (WebM): nothing
	// torn at its end.
	Whole bool
	Bytes int64
}

// Inspect parses a finished (or .part) fMP4 or WebM file.
func Inspect(path string) (Inspection, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Inspection{}, fmt.Errorf("inspect: %w", err)
	}
	in := Inspection{Bytes: int64(len(data))}
	switch strings.ToLower(filepath.Ext(strings.TrimSuffix(path, PartSuffix))) {
	case ".mp4":
		keep := mp4WholeLength(data)
		in.Whole = keep > 0 && mp4BoxesEnd(data) == int64(len(data))
		in.Duration = mp4Duration(data[:keep])
		var init mcfmp4.Init
		if err := init.Unmarshal(bytes.NewReader(data[:keep])); err != nil {
			return in, fmt.Errorf("inspect %s: %w", filepath.Base(path), err)
		}
		for _, t := range init.Tracks {
			in.Codecs = append(in.Codecs, mp4CodecName(t.Codec))
		}
	case ".webm":
		keep, dur, _ := webmWholeLength(data)
		in.Whole = keep == int64(len(data)) && keep > 0
		in.Duration = dur
		for _, c := range []struct{ id, name string }{{"V_VP8", "vp8"}, {"V_VP9", "vp9"}, {"V_AV1", "av1"}, {"A_OPUS", "opus"}} {
			if bytes.Contains(data[:min(int64(len(data)), 4096)], []byte(c.id)) {
				in.Codecs = append(in.Codecs, c.name)
			}
		}
	default:
		return in, fmt.Errorf("inspect %s: unknown container", filepath.Base(path))
	}
	return in, nil
}

func mp4CodecName(c mp4.Codec) string {
	switch c.(type) {
	case *mp4.CodecH264:
		return "h264"
	case *mp4.CodecH265:
		return "hevc"
	case *mp4.CodecAV1:
		return "av1"
	case *mp4.CodecVP9:
		return "vp9"
	case *mp4.CodecOpus:
		return "opus"
	case *mp4.CodecMPEG4Audio:
		return "aac"
	}
	return fmt.Sprintf("%T", c)
}

// mp4BoxesEnd is where the run of complete top-level boxes ends (the file's length when none
// is torn; a trailing mfra or free box counts as complete).
func mp4BoxesEnd(b []byte) int64 {
	var pos int64
	for pos+8 <= int64(len(b)) {
		size := int64(binary.BigEndian.Uint32(b[pos:]))
		if size == 1 && pos+16 <= int64(len(b)) {
			size = int64(binary.BigEndian.Uint64(b[pos+8:]))
		}
		if size < 8 || size > int64(len(b))-pos {
			break
		}
		pos += size
	}
	return pos
}
