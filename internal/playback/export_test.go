package playback

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/fmp4"
	"github.com/vigilrec/vigil/internal/segment/webm"
	"github.com/vigilrec/vigil/internal/testutil"
)

var base = time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)

// recordSegments writes the 4 s H.264 + Opus clip once per start, as rotation would: each file
// lasts 4 s from its start. It returns the segments and an opener of their files.
func recordSegments(t *testing.T, starts ...time.Duration) ([]Segment, Opener) {
	t.Helper()
	return recordClip(t, "h264", starts...)
}

// recordClip is recordSegments of the clip of video ("h264" in MP4, "vp8" in WebM).
func recordClip(t testing.TB, video string, starts ...time.Duration) ([]Segment, Opener) {
	t.Helper()
	tc := testutil.ClipCases(t, video)[0]
	container := map[string]string{"h264": "mp4", "vp8": "webm"}[video]
	dir := t.TempDir()
	var segs []Segment
	for i, at := range starts {
		path := filepath.Join(dir, string(rune('a'+i))+"."+container)
		f, err := os.Create(path)
		require.NoError(t, err)
		var w segment.Writer
		if container == "webm" {
			w, err = webm.New(f, tc.Tracks, segment.Options{})
		} else {
			w, err = fmp4.New(f, tc.Tracks, segment.Options{})
		}
		require.NoError(t, err)
		for _, s := range tc.Samples {
			require.NoError(t, w.WriteSample(s))
		}
		require.NoError(t, w.CloseAt(4*time.Second))
		require.NoError(t, f.Close())
		segs = append(segs, Segment{ID: path, Start: base.Add(at), End: base.Add(at + w.Duration()),
			Container: container, VideoCodec: video, AudioCodec: "opus"})
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

// A range across three segments and a 5 s gap comes out as one file that ffmpeg decodes, that
// starts at the keyframe at or before the range's start, keeps or closes the gap as asked, and
// whose timestamps never go back: MP4 and WebM, each also written as the other where the codecs
// fit.
func TestExportAcrossSegmentsAndAGap(t *testing.T) {
	testutil.NeedFFmpeg(t)
	for _, tc := range []struct{ video, format string }{{"h264", "mp4"}, {"vp8", "webm"}} {
		segs, open := recordClip(t, tc.video, 0, 4*time.Second, 13*time.Second)
		for _, skip := range []bool{false, true} {
			name := fmt.Sprintf("%s skip=%v", tc.video, skip)
			req := Request{Segments: segs, Start: base.Add(2500 * time.Millisecond), End: base.Add(15 * time.Second), SkipGaps: skip}
			plan, err := Prepare(req)
			require.NoError(t, err, name)
			require.Equal(t, tc.format, plan.Format)
			require.Len(t, plan.Gaps, 1)
			var out bytes.Buffer
			res, err := Export(context.Background(), &out, req, plan, open)
			require.NoError(t, err, name)
			require.False(t, res.Start.After(req.Start), "the file starts at or before the range")
			require.Less(t, req.Start.Sub(res.Start), 4*time.Second, "at the keyframe before it")
			want := req.End.Sub(res.Start)
			if skip {
				want -= segs[2].Start.Sub(segs[1].End)
			}
			require.InDelta(t, want.Seconds(), res.Duration.Seconds(), 0.05, name)
			require.Equal(t, int64(out.Len()), res.Bytes)

			path := filepath.Join(t.TempDir(), "export."+tc.format)
			require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
			p := testutil.FFprobe(t, path)
			require.InDelta(t, want.Seconds(), p.Duration, 0.1, "ffprobe's duration, %s", name)
			// The file says when it starts: at the keyframe, to the second (MP4) or better (WebM).
			created, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format_tags=creation_time,DATE_UTC",
				"-of", "default=nw=1:nk=1", path).CombinedOutput()
			require.NoError(t, err, "%s", created)
			at, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(created)))
			require.NoError(t, err, "creation time %q", created)
			require.WithinDuration(t, res.Start, at, time.Second, name)
			testutil.FFmpegDecode(t, path)

			d, err := openDemuxer(bytes.NewReader(out.Bytes()), tc.format, false)
			require.NoError(t, err)
			last := map[int]time.Duration{}
			first := true
			for {
				s, err := d.next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				if first && d.trackList()[s.track].Kind == media.KindVideo {
					require.True(t, s.key, "the first video frame is a keyframe")
					first = false
				}
				require.GreaterOrEqual(t, s.pts, last[s.track], "timestamps of track %d go back", s.track)
				last[s.track] = s.pts
			}
		}
	}
}

// countingFile counts the bytes read from a file.
type countingFile struct {
	*os.File
	read *int64
}

func (c countingFile) Read(p []byte) (int, error) {
	n, err := c.File.Read(p)
	*c.read += int64(n)
	return n, err
}

// A minute of VP8 in WebM has its Cues: ffprobe reads the file, and an export from 45 s reads a
// small part of it (the header, the index, the clusters it needs).
func TestWebMCuesMakeSeekingCheap(t *testing.T) {
	testutil.NeedFFmpeg(t)
	tc := testutil.ClipCases(t, "vp8")[0]
	path := filepath.Join(t.TempDir(), "minute.webm")
	f, err := os.Create(path)
	require.NoError(t, err)
	w, err := webm.New(f, tc.Tracks, segment.Options{})
	require.NoError(t, err)
	for loop := time.Duration(0); loop < time.Minute; loop += 4 * time.Second {
		for _, s := range tc.Samples {
			if s.PTS < 4*time.Second {
				s.PTS += loop
				require.NoError(t, w.WriteSample(s))
			}
		}
	}
	require.NoError(t, w.CloseAt(time.Minute))
	require.NoError(t, f.Close())
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.InDelta(t, 60.0, mustFloat(t, strings.TrimSpace(string(out))), 0.1)
	fi, err := os.Stat(path)
	require.NoError(t, err)

	var read int64
	open := func(_ context.Context, id string) (io.ReadSeekCloser, error) {
		f, err := os.Open(id)
		return countingFile{File: f, read: &read}, err
	}
	segs := []Segment{{ID: path, Start: base, End: base.Add(time.Minute), Container: "webm", VideoCodec: "vp8", AudioCodec: "opus"}}
	req := Request{Segments: segs, Start: base.Add(45 * time.Second), End: base.Add(46 * time.Second)}
	plan, err := Prepare(req)
	require.NoError(t, err)
	res, err := Export(context.Background(), io.Discard, req, plan, open)
	require.NoError(t, err)
	t.Logf("export of 45–46 s from the keyframe at %s read %d of %d bytes (%.1f %%)",
		res.Start.Sub(base), read, fi.Size(), 100*float64(read)/float64(fi.Size()))
	require.Less(t, float64(read), 0.10*float64(fi.Size()))
	require.Equal(t, 44*time.Second, res.Start.Sub(base), "the clip's keyframe before 45 s")
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err, s)
	return v
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
