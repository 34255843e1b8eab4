// Package probe asks ffprobe and ffmpeg about media files: the container's duration, each
// stream's codec and times, and whether the whole file decodes without errors. It owns nothing
// but the two command lines and the parsing of ffprobe's JSON; it imports nothing from internal/.
package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// ErrNoFFmpeg means ffmpeg or ffprobe is not on PATH.
var ErrNoFFmpeg = errors.New("ffmpeg and ffprobe are not installed")

// Result is what ffprobe says of a file.
type Result struct {
	// Duration is the container's duration in seconds (0 when it does not say).
	Duration float64
	Streams  []Stream
}

// Stream is one elementary stream of a file.
type Stream struct {
	// Codec is ffprobe's codec_name: h264, vp8, vp9, opus, …
	Codec     string
	StartTime float64
	Duration  float64
}

// Codecs lists the codec of each stream in file order.
func (r Result) Codecs() []string {
	out := make([]string, 0, len(r.Streams))
	for _, s := range r.Streams {
		out = append(out, s.Codec)
	}
	return out
}

// Stream returns the first stream of codec, or the zero Stream.
func (r Result) Stream(codec string) Stream {
	for _, s := range r.Streams {
		if s.Codec == codec {
			return s
		}
	}
	return Stream{}
}

// Available reports ErrNoFFmpeg (wrapped, naming the missing tool) unless both tools are on PATH.
func Available() error {
	for _, tool := range []string{"ffprobe", "ffmpeg"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrNoFFmpeg, tool, err)
		}
	}
	return nil
}

// File runs ffprobe on path.
func File(ctx context.Context, path string) (Result, error) {
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries",
		"format=duration:stream=codec_name,start_time,duration", "-of", "json", path).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("ffprobe %s: %w: %s", path, err, bytes.TrimSpace(out))
	}
	return parse(out)
}

func parse(out []byte) (Result, error) {
	var raw struct {
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
		Streams []struct {
			CodecName string `json:"codec_name"`
			StartTime string `json:"start_time"`
			Duration  string `json:"duration"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		return Result{}, fmt.Errorf("parse ffprobe output %q: %w", out, err)
	}
	var r Result
	r.Duration, _ = strconv.ParseFloat(raw.Format.Duration, 64)
	for _, s := range raw.Streams {
		st := Stream{Codec: s.CodecName}
		st.StartTime, _ = strconv.ParseFloat(s.StartTime, 64)
		st.Duration, _ = strconv.ParseFloat(s.Duration, 64)
		r.Streams = append(r.Streams, st)
	}
	return r, nil
}

// Decode decodes the whole of path with ffmpeg and returns what it printed at level error (empty
// for a clean file). err is set only when ffmpeg could not run or gave up on the file.
func Decode(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput()
	msg := strings.TrimSpace(string(out))
	if err != nil {
		return msg, fmt.Errorf("ffmpeg decode %s: %w: %s", path, err, msg)
	}
	return msg, nil
}
