package playback

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/fmp4"
	"github.com/vigilrec/vigil/internal/testutil"
)

// BenchmarkExportHourOf1080p exports one hour of 1080p H.264 + Opus (twelve 5-minute segments
// made of the built-in 1080p clip, about 1.2 GB) as one file, from page cache to io.Discard:
// the remux's own cost. MB/s is of the file written.
//
//	go test -run '^$' -bench ExportHour -benchtime 3x ./internal/playback
func BenchmarkExportHourOf1080p(b *testing.B) {
	frames := testutil.H264Frames(b, "1080p-h264.h264")
	opus, channels := testutil.OpusPackets(b)
	clip := testutil.Interleave(frames, 0, opus, 1)
	clipLen := time.Duration(len(frames)) * testutil.ClipFrameDur
	tracks := []segment.Track{testutil.H264Track(b, frames[0].Data), testutil.OpusTrack(channels)}
	dir := b.TempDir()
	const segLen = 5 * time.Minute
	var segs []Segment
	for i := range 12 {
		path := filepath.Join(dir, filepathFor(i))
		f, err := os.Create(path)
		require.NoError(b, err)
		w, err := fmp4.New(f, tracks, segment.Options{})
		require.NoError(b, err)
		for loop := time.Duration(0); loop < segLen; loop += clipLen {
			for _, s := range clip {
				if s.PTS < clipLen && loop+s.PTS < segLen {
					s.PTS += loop
					require.NoError(b, w.WriteSample(s))
				}
			}
		}
		require.NoError(b, w.CloseAt(segLen))
		require.NoError(b, f.Close())
		start := base.Add(time.Duration(i) * segLen)
		segs = append(segs, Segment{ID: path, Start: start, End: start.Add(segLen), Container: "mp4", VideoCodec: "h264", AudioCodec: "opus"})
	}
	open := func(_ context.Context, id string) (io.ReadSeekCloser, error) { return os.Open(id) }
	req := Request{Segments: segs, Start: base, End: base.Add(time.Hour)}
	plan, err := Prepare(req)
	require.NoError(b, err)
	require.NoError(b, plan.Locate(context.Background(), req, open))
	size, err := Measure(context.Background(), req, plan, open)
	require.NoError(b, err)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := Export(context.Background(), io.Discard, req, plan, open)
		require.NoError(b, err)
		require.Equal(b, size, res.Bytes)
	}
	b.StopTimer()
	start := time.Now()
	_, err = Measure(context.Background(), req, plan, open)
	require.NoError(b, err)
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "measure-ms")

	// The worst first byte: a range that starts 10 s before the end of a 5-minute segment, whose
	// keyframe is found by reading the segment up to there.
	late := Request{Segments: segs, Start: base.Add(segLen - 10*time.Second), End: base.Add(time.Hour)}
	plan, err = Prepare(late)
	require.NoError(b, err)
	start = time.Now()
	require.NoError(b, plan.Locate(context.Background(), late, open))
	first := &firstWrite{}
	_, err = Export(context.Background(), first, late, plan, open)
	require.NoError(b, err)
	b.ReportMetric(float64(first.at.Sub(start).Microseconds())/1000, "first-byte-ms")
}

// firstWrite notes when the first byte was written.
type firstWrite struct{ at time.Time }

func (f *firstWrite) Write(p []byte) (int, error) {
	if f.at.IsZero() {
		f.at = time.Now()
	}
	return len(p), nil
}

func filepathFor(i int) string { return string(rune('a'+i)) + ".mp4" }
