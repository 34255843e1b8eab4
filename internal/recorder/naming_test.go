package recorder

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func testFields() nameFields {
	start := time.Date(2025, 1, 2, 3, 4, 5, 678e6, time.UTC)
	return nameFields{stream: "cam-1.main", mediaSessionID: "4f1c2b9e-0d7a-4c55-9d0e-5a1b2c3d4e5f",
		videoCodec: "h264", audioCodec: "opus", start: start, end: start.Add(20500 * time.Millisecond), segment: 7}
}

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		name, tmpl, want string
		// A name made only of codecs is empty for a stream without that track: refused up front.
		codecsOnly bool
	}{
		{"default", "", "cam-1.main_20250102-030405-678_0007", false},
		{"default spelled out", DefaultTemplate, "cam-1.main_20250102-030405-678_0007", false},
		{"streamName", "{streamName}", "cam-1.main", false},
		{"mediaSessionId", "{mediaSessionId}", "4f1c2b9e-0d7a-4c55-9d0e-5a1b2c3d4e5f", false},
		{"startTime", "{startTime}", "20250102-030405-678", false},
		{"endTime", "{endTime}", "20250102-030426-178", false},
		{"startTimeMillis", "{startTimeMillis}", "1735787045678", false},
		{"endTimeMillis", "{endTimeMillis}", "1735787066178", false},
		{"duration", "{duration}", "20500", false},
		{"videoCodec", "{videoCodec}", "h264", true},
		{"audioCodec", "{audioCodec}", "opus", true},
		{"segment", "{segment}", "0007", false},
		{"literal text", "rec-{streamName}.part.{segment}_x", "rec-cam-1.main.part.0007_x", false},
		{"adjacent placeholders", "{videoCodec}{audioCodec}", "h264opus", true},
		{"codecs with the stream", "{streamName}_{videoCodec}_{audioCodec}", "cam-1.main_h264_opus", false},
		{"no placeholder", "fixed_name", "fixed_name", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := expand(tc.tmpl, testFields())
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			if tc.codecsOnly {
				require.ErrorIs(t, ValidateTemplate(tc.tmpl), ErrBadTemplate)
			} else {
				require.NoError(t, ValidateTemplate(tc.tmpl))
			}
		})
	}
}

// TestExpandTimesAreUTC checks that the time placeholders do not depend on the server's zone.
func TestExpandTimesAreUTC(t *testing.T) {
	f := testFields()
	f.start = f.start.In(time.FixedZone("UTC+5", 5*3600))
	got, err := expand("{startTime}_{startTimeMillis}", f)
	require.NoError(t, err)
	require.Equal(t, "20250102-030405-678_1735787045678", got)
}

// TestBadTemplates checks that no template can name a file outside the recordings directory, hide
// it, or leave it without a name.
func TestBadTemplates(t *testing.T) {
	for _, tc := range []struct {
		name, tmpl string
	}{
		{"unknown placeholder", "{streamName}_{bogus}"},
		{"placeholder case", "{StreamName}"},
		{"unclosed brace", "{streamName"},
		{"empty placeholder", "{}"},
		{"parent directory", "../x"},
		{"parent directory after a placeholder", "{streamName}/../../etc"},
		{"dot dot", "{streamName}..{segment}"},
		{"subdirectory", "a/b"},
		{"absolute", "/tmp/{streamName}"},
		{"backslash", `a\b`},
		{"space", "a b"},
		{"non-ASCII", "kamera-é"},
		{"closing brace alone", "a}b"},
		{"leading dot", ".{streamName}"},
		{"only a dot", "."},
		{"empty name", "{audioCodec}"},
		{"too long", strings.Repeat("a", 201)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateTemplate(tc.tmpl)
			require.ErrorIs(t, err, ErrBadTemplate)
			f := testFields()
			f.audioCodec = "" // a stream without audio
			_, err = expand(tc.tmpl, f)
			require.ErrorIs(t, err, ErrBadTemplate)
		})
	}
}

// TestExpandFieldsNeverLeaveTheName checks that the name made from the default template for
// any stream name the hub accepts is a plain file name.
func TestExpandFieldsNeverLeaveTheName(t *testing.T) {
	for _, stream := range []string{"a", "cam_1", "a.b-c", strings.Repeat("x", 128)} {
		f := testFields()
		f.stream = stream
		got, err := expand("", f)
		require.NoError(t, err)
		require.NotContains(t, got, "/")
		require.True(t, strings.HasPrefix(got, stream+"_"))
	}
}
