package recorder

import (
	"strings"
	"testing"
	"time"
)

// Rotation is either off or within its bounds, whatever the input: never a file per keyframe,
// never an overflowed value.
func FuzzParseRotation(f *testing.F) {
	for _, s := range []string{"20", "20s", "2m", "1.5", "10M", "512K", "2GB", "0", "off", "1ns", "inf", "NaN", "1e300", "-5", "9999999h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRotation(s)
		if err != nil {
			return
		}
		switch {
		case r.Duration == 0 && r.Bytes == 0:
		case r.Duration != 0 && (r.Duration < MinRotationDuration || r.Duration > MaxRotationDuration || r.Bytes != 0):
			t.Fatalf("%q gives %+v", s, r)
		case r.Bytes != 0 && (r.Bytes < MinRotationBytes || r.Bytes > MaxRotationBytes || r.Duration != 0):
			t.Fatalf("%q gives %+v", s, r)
		}
	})
}

// A template that validates expands to a plain, visible file name inside the directory for any
// stream name the hub accepts.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{DefaultTemplate, "{streamName}", "cam_{mediaSessionId}", "../x", "{streamName}/../x", "{nope}", "a{", ".{streamName}", "{videoCodec}"} {
		f.Add(s, "Stream-1")
	}
	f.Fuzz(func(t *testing.T, tmpl, stream string) {
		if ValidateTemplate(tmpl) != nil {
			return
		}
		if strings.ContainsAny(stream, "/\\\x00") || strings.HasPrefix(stream, ".") || strings.HasPrefix(stream, "-") {
			return // not a name the hub accepts
		}
		name, err := expand(tmpl, nameFields{stream: stream, mediaSessionID: "m", start: time.Unix(0, 0), end: time.Unix(1, 0), segment: 3})
		if err != nil {
			return
		}
		if name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, "/\\\x00") || len(name) > 200 {
			t.Fatalf("template %q with stream %q gives %q", tmpl, stream, name)
		}
	})
}
