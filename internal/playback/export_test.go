package playback

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/fmp4"
	"github.com/vigilrec/vigil/internal/testutil"
)

var base = time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)

// recordSegments writes the 4 s H.264 + Opus clip once per start, as rotation would: each file
// lasts 4 s from its start. It returns the segments and an opener of their files.
func recordSegments(t *testing.T, starts ...time.Duration) ([]Segment, Opener) {
	t.Helper()
	tc := testutil.ClipCases(t, "h264")[0]
	dir := t.TempDir()
	var segs []Segment
	for i, at := range starts {
		path := filepath.Join(dir, string(rune('a'+i))+".mp4")
		f, err := os.Create(path)
		require.NoError(t, err)
		w, err := fmp4.New(f, tc.Tracks, segment.Options{})
		require.NoError(t, err)
		for _, s := range tc.Samples {
			require.NoError(t, w.WriteSample(s))
		}
		require.NoError(t, w.CloseAt(4*time.Second))
		require.NoError(t, f.Close())
		segs = append(segs, Segment{ID: path, Start: base.Add(at), End: base.Add(at + w.Duration()),
			Container: "mp4", VideoCodec: "h264", AudioCodec: "opus"})
	}
	return segs, func(_ context.Context, id string) (io.ReadSeekCloser, error) { return os.Open(id) }
}

func TestTimeline(t *testing.T) {
	segs, _ := recordSegments(t, 0, 4*time.Second, 13*time.Second)
	spans, gaps := Timeline(segs, time.Time{}, time.Time{})
	require.Len(t, spans, 2)
	require.Equal(t, base, spans[0].Start)
	require.InDelta(t, float64(8*time.Second), float64(spans[0].Duration()), float64(50*time.Millisecond))
	require.Len(t, gaps, 1)
	require.InDelta(t, float64(5*time.Second), float64(gaps[0].Duration()), float64(50*time.Millisecond))

	spans, gaps = Timeline(segs, base.Add(6*time.Second), base.Add(15*time.Second))
	require.Equal(t, []Span{{base.Add(6 * time.Second), segs[1].End}, {segs[2].Start, base.Add(15 * time.Second)}}, spans)
	require.Len(t, gaps, 1)
}

// A range across three segments and a 5 s gap comes out as one MP4 that ffmpeg decodes, that
// starts at the keyframe at or before the range's start, keeps or closes the gap as asked, and
// whose timestamps never go back.
func TestExportAcrossSegmentsAndAGap(t *testing.T) {
	testutil.NeedFFmpeg(t)
	segs, open := recordSegments(t, 0, 4*time.Second, 13*time.Second)
	for _, skip := range []bool{false, true} {
		req := Request{Segments: segs, Start: base.Add(2500 * time.Millisecond), End: base.Add(15 * time.Second), SkipGaps: skip}
		plan, err := Prepare(req)
		require.NoError(t, err)
		require.Len(t, plan.Gaps, 1)
		var out bytes.Buffer
		res, err := Export(context.Background(), &out, req, plan, open)
		require.NoError(t, err)
		require.False(t, res.Start.After(req.Start), "the file starts at or before the range")
		require.Less(t, req.Start.Sub(res.Start), 4*time.Second, "at the keyframe before it")
		want := req.End.Sub(res.Start)
		if skip {
			want -= segs[2].Start.Sub(segs[1].End)
		}
		require.InDelta(t, want.Seconds(), res.Duration.Seconds(), 0.05, "skip %v", skip)
		require.Equal(t, int64(out.Len()), res.Bytes)

		path := filepath.Join(t.TempDir(), "export.mp4")
		require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
		p := testutil.FFprobe(t, path)
		require.InDelta(t, want.Seconds(), p.Duration, 0.1, "ffprobe's duration, skip %v", skip)
		testutil.FFmpegDecode(t, path)

		r, err := newMP4Reader(bytes.NewReader(out.Bytes()))
		require.NoError(t, err)
		last := map[int]time.Duration{}
		first := true
		for {
			s, err := r.next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			if first && r.tracks[s.track].Kind == media.KindVideo {
				require.True(t, s.key, "the first video frame is a keyframe")
				first = false
			}
			require.GreaterOrEqual(t, s.pts, last[s.track], "timestamps of track %d go back", s.track)
			last[s.track] = s.pts
		}
	}
}

func TestPrepareRefuses(t *testing.T) {
	segs, _ := recordSegments(t, 0)
	_, err := Prepare(Request{Segments: segs, Start: base.Add(time.Second), End: base})
	require.ErrorIs(t, err, ErrBadRange)
	_, err = Prepare(Request{Segments: segs, Start: base.Add(time.Hour), End: base.Add(2 * time.Hour)})
	require.ErrorIs(t, err, ErrNoData)
	other := segs[0]
	other.ID, other.Start, other.End, other.VideoCodec = "x", base.Add(4*time.Second), base.Add(8*time.Second), "vp8"
	other.Container = "webm"
	_, err = Prepare(Request{Segments: append(segs, other), Start: base, End: base.Add(8 * time.Second)})
	require.ErrorIs(t, err, ErrMixed)
	require.Contains(t, err.Error(), base.Add(4*time.Second).Format(time.RFC3339Nano), "the split time")
}

// Measure knows the size of the file without reading the media, and any byte range of it is
// the same bytes as the whole file's.
func TestMeasureAndRanges(t *testing.T) {
	segs, open := recordSegments(t, 0, 4*time.Second, 13*time.Second)
	req := Request{Segments: segs, Start: base.Add(time.Second), End: base.Add(16 * time.Second)}
	plan, err := Prepare(req)
	require.NoError(t, err)
	require.NoError(t, plan.Locate(context.Background(), req, open))
	var whole bytes.Buffer
	_, err = Export(context.Background(), &whole, req, plan, open)
	require.NoError(t, err)
	size, err := Measure(context.Background(), req, plan, open)
	require.NoError(t, err)
	require.Equal(t, int64(whole.Len()), size)
	for _, r := range [][2]int64{{0, 1}, {0, size}, {100, 5000}, {size / 2, size - size/2}, {size - 7, 7}, {3000, 1}} {
		var part bytes.Buffer
		require.NoError(t, ExportRange(context.Background(), &part, req, plan, open, r[0], r[1]))
		require.Equal(t, whole.Bytes()[r[0]:r[0]+r[1]], part.Bytes(), "bytes %d+%d", r[0], r[1])
	}
}
