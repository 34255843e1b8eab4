package recorder

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadTemplate means a file name template would produce an unsafe or empty name.
var ErrBadTemplate = errors.New("invalid file name template")

// DefaultTemplate names segments uniquely: a re-published stream name never overwrites an earlier
// recording, because the start time (to the millisecond) and the segment number differ, and files
// are created exclusively besides.
const DefaultTemplate = "{streamName}_{startTime}_{segment}"

// nameFields are the values a template can use.
type nameFields struct {
	stream, mediaSessionID, videoCodec, audioCodec string
	start, end                                     time.Time
	segment                                        int
}

func (f nameFields) value(key string) (string, bool) {
	const stamp = "20060102-150405.000"
	switch key {
	case "streamName":
		return f.stream, true
	case "mediaSessionId":
		return f.mediaSessionID, true
	case "startTime":
		return strings.Replace(f.start.UTC().Format(stamp), ".", "-", 1), true
	case "endTime":
		return strings.Replace(f.end.UTC().Format(stamp), ".", "-", 1), true
	case "startTimeMillis":
		return strconv.FormatInt(f.start.UnixMilli(), 10), true
	case "endTimeMillis":
		return strconv.FormatInt(f.end.UnixMilli(), 10), true
	case "duration":
		return strconv.FormatInt(f.end.Sub(f.start).Milliseconds(), 10), true
	case "videoCodec":
		return f.videoCodec, true
	case "audioCodec":
		return f.audioCodec, true
	case "segment":
		return fmt.Sprintf("%04d", f.segment), true
	}
	return "", false
}

// ValidateTemplate checks a template without values: known placeholders, and literal text made
// only of letters, digits, '.', '_' and '-', so no client can steer a file out of the recordings
// directory or hide it.
func ValidateTemplate(tmpl string) error {
	// Every stream has a name and a session id; a codec may be missing (audio-only streams), so
	// a name made only of codec placeholders could come out empty.
	_, err := expand(tmpl, nameFields{stream: "s", mediaSessionID: "m", start: time.Unix(0, 0), end: time.Unix(0, 0)})
	return err
}

// expand fills a template. The result is a plain file name (without extension).
func expand(tmpl string, f nameFields) (string, error) {
	if tmpl == "" {
		tmpl = DefaultTemplate
	}
	var b strings.Builder
	for rest := tmpl; rest != ""; {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			if err := literal(rest); err != nil {
				return "", err
			}
			b.WriteString(rest)
			break
		}
		if err := literal(rest[:open]); err != nil {
			return "", err
		}
		b.WriteString(rest[:open])
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return "", fmt.Errorf("%w: unclosed '{' in %q", ErrBadTemplate, tmpl)
		}
		key := rest[open+1 : open+end]
		v, ok := f.value(key)
		if !ok {
			return "", fmt.Errorf("%w: unknown placeholder {%s}", ErrBadTemplate, key)
		}
		b.WriteString(v)
		rest = rest[open+end+1:]
	}
	name := b.String()
	if name == "" || strings.HasPrefix(name, ".") || len(name) > 200 {
		return "", fmt.Errorf("%w: %q gives the name %q", ErrBadTemplate, tmpl, name)
	}
	return name, nil
}

func literal(s string) error {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: %q is not allowed; use letters, digits, '.', '_', '-' and placeholders", ErrBadTemplate, r)
		}
	}
	if strings.Contains(s, "..") {
		return fmt.Errorf("%w: \"..\" is not allowed", ErrBadTemplate)
	}
	return nil
}
