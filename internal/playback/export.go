package playback

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/segment"
	"github.com/vigilrec/vigil/internal/segment/fmp4"
	"github.com/vigilrec/vigil/internal/segment/webm"
)

// Request is a range of a stream to export as one file.
type Request struct {
	// Segments are the stream's segments overlapping the range, in any order.
	Segments []Segment
	Start    time.Time
	End      time.Time
	// SkipGaps closes the gaps between spans; otherwise the file keeps real time (the last frame
	// before a gap stays on screen through it).
	SkipGaps bool
	// Format is "mp4" (the default).
	Format string
}

// Plan is what an export will produce, known before its first byte.
type Plan struct {
	Segments []Segment
	Format   string
	// Gaps are the unrecorded stretches inside the range.
	Gaps []Span
	// Origin is the time of the file's first frame (see Locate): the video keyframe at or
	// before the range's start, or the range's start for audio only.
	Origin time.Time
	// Duration is the file's length, known before it is written (see Locate): from Origin to
	// the range's end or the recording's, less the gaps when they are skipped.
	Duration time.Duration
}

// AllLocal is true when every segment of the plan is on the local disk.
func (p Plan) AllLocal() bool {
	for _, s := range p.Segments {
		if s.Remote {
			return false
		}
	}
	return true
}

// Locate finds the plan's Origin, reading the segment that holds the range's start, and so the
// file's Duration.
func (p *Plan) Locate(ctx context.Context, req Request, open Opener) error {
	origin, err := keyframeBefore(ctx, p.Segments, req.Start, open)
	if err != nil {
		return err
	}
	end := req.End
	last := p.Segments[0].End
	for _, s := range p.Segments {
		if s.End.After(last) {
			last = s.End
		}
	}
	if last.Before(end) {
		end = last
	}
	p.Origin, p.Duration = origin, end.Sub(origin)
	if req.SkipGaps {
		_, gaps := Timeline(p.Segments, origin, end)
		for _, g := range gaps {
			p.Duration -= g.Duration()
		}
	}
	return nil
}

// Prepare checks a request against its segments: a range inside recorded time, one container
// and one pair of codecs throughout, a format that holds them.
func Prepare(req Request) (Plan, error) {
	if !req.End.After(req.Start) {
		return Plan{}, fmt.Errorf("%w: end %s is not after start %s", ErrBadRange,
			req.End.Format(time.RFC3339Nano), req.Start.Format(time.RFC3339Nano))
	}
	var segs []Segment
	for _, s := range req.Segments {
		if s.End.After(req.Start) && s.Start.Before(req.End) {
			segs = append(segs, s)
		}
	}
	if len(segs) == 0 {
		return Plan{}, fmt.Errorf("%w %s – %s", ErrNoData, req.Start.Format(time.RFC3339), req.End.Format(time.RFC3339))
	}
	_, gaps := Timeline(segs, req.Start, req.End)
	segs = sortedByStart(segs)
	first := segs[0]
	for _, s := range segs[1:] {
		if s.Container != first.Container || s.VideoCodec != first.VideoCodec || s.AudioCodec != first.AudioCodec {
			return Plan{}, fmt.Errorf("%w: %s until %s, then %s from %s; export each part on its own", ErrMixed,
				describe(first), s.Start.Format(time.RFC3339Nano), describe(s), s.Start.Format(time.RFC3339Nano))
		}
	}
	format := req.Format
	if format == "" {
		format = first.Container
	}
	if format != "mp4" && format != "webm" {
		return Plan{}, fmt.Errorf("%w: %q (mp4 or webm)", ErrFormat, format)
	}
	for _, c := range []string{first.VideoCodec, first.AudioCodec} {
		if !holds(format, c) {
			return Plan{}, fmt.Errorf("%w: %s cannot go in %s; ask for format=%s", ErrFormat, c, format, first.Container)
		}
	}
	return Plan{Segments: segs, Format: format, Gaps: gaps}, nil
}

func describe(s Segment) string {
	return strings.Trim(s.Container+" "+s.VideoCodec+"+"+s.AudioCodec, " +")
}

func sortedByStart(segs []Segment) []Segment {
	out := append([]Segment(nil), segs...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Start.Before(out[j-1].Start); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// demuxer reads the samples of one segment back.
type demuxer interface {
	trackList() []segment.Track
	next() (sample, error)
	// seekBefore skips to a keyframe at or before t (from the segment's start) when the file
	// has an index to find it with; it must be called before the first next.
	seekBefore(t time.Duration) error
}

func openDemuxer(r io.Reader, container string, sizesOnly bool) (demuxer, error) {
	switch container {
	case "mp4":
		m, err := newMP4Reader(r)
		if err != nil {
			return nil, err
		}
		m.sizesOnly = sizesOnly
		return m, nil
	case "webm":
		return newWebMReader(r)
	}
	return nil, fmt.Errorf("%w: a %q segment", ErrFormat, container)
}

// holds says whether a container can carry a codec (as the catalog names them).
func holds(format, codec string) bool {
	switch codec {
	case "":
		return true
	case "h264", "h265", "hevc":
		return format == "mp4"
	case "vp8":
		return format == "webm"
	}
	return format == "mp4" || format == "webm" // vp9, av1, opus
}

// Result says what an export wrote.
type Result struct {
	// Start is the time of the file's first frame: the video keyframe at or before the range's
	// start (the range's start for audio only).
	Start time.Time
	// Duration is the file's length.
	Duration time.Duration
	Bytes    int64
}

// Export writes the plan's range of req as one file to w, fragment by fragment as it reads the
// segments (w is flushed after each when it is an http.Flusher). The file starts at the keyframe
// at or before req.Start, so it decodes from its first frame, and ends at req.End. The same
// request and plan always give the same bytes.
func Export(ctx context.Context, w io.Writer, req Request, plan Plan, open Opener) (Result, error) {
	return export(ctx, w, req, plan, open, false)
}

// Measure is the size of the file Export would write, found by reading only the segments'
// fragment headers (seeking over the media data).
func Measure(ctx context.Context, req Request, plan Plan, open Opener) (int64, error) {
	res, err := export(ctx, io.Discard, req, plan, open, true)
	return res.Bytes, err
}

// ExportRange writes bytes [from, from+n) of the file Export would write: the file is made from
// its start, what comes before from is dropped, and it stops once the n bytes are out.
func ExportRange(ctx context.Context, w io.Writer, req Request, plan Plan, open Opener, from, n int64) error {
	rw := &rangeWriter{w: w, skip: from, left: n}
	_, err := export(ctx, rw, req, plan, open, false)
	if errors.Is(err, errRangeDone) {
		return nil
	}
	return err
}

var errRangeDone = errors.New("range written")

// rangeWriter passes on one byte range of what is written to it.
type rangeWriter struct {
	w          io.Writer
	skip, left int64
}

func (r *rangeWriter) Write(p []byte) (int, error) {
	n := len(p)
	if r.skip >= int64(len(p)) {
		r.skip -= int64(len(p))
		return n, nil
	}
	p = p[r.skip:]
	r.skip = 0
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	if _, err := r.w.Write(p); err != nil {
		return 0, err
	}
	r.left -= int64(len(p))
	if r.left == 0 {
		return n, errRangeDone
	}
	return n, nil
}

func (r *rangeWriter) Flush() {
	if f, ok := r.w.(interface{ Flush() }); ok {
		f.Flush()
	}
}

func export(ctx context.Context, w io.Writer, req Request, plan Plan, open Opener, sizesOnly bool) (Result, error) {
	if plan.Origin.IsZero() {
		if err := plan.Locate(ctx, req, open); err != nil {
			return Result{}, err
		}
	}
	origin := plan.Origin
	out := &countingWriter{w: w}
	ex := &exporter{req: req, origin: origin, out: out, duration: plan.Duration, sizesOnly: sizesOnly, format: plan.Format}
	defer ex.close()
	var prevEnd time.Time
	for _, s := range plan.Segments {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		if req.SkipGaps && !prevEnd.IsZero() && s.Start.After(prevEnd.Add(Joint)) && s.Start.After(origin) {
			ex.skipped += s.Start.Sub(prevEnd)
		}
		if err := ex.segment(ctx, s, open); err != nil {
			return Result{}, err
		}
		if s.End.After(prevEnd) {
			prevEnd = s.End
		}
	}
	if ex.w == nil {
		return Result{}, fmt.Errorf("%w: the segments hold no frames in the range", ErrNoData)
	}
	if err := ex.w.CloseAt(plan.Duration); err != nil {
		if errors.Is(err, errRangeDone) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("finish the file: %w", err)
	}
	out.flush()
	return Result{Start: origin, Duration: ex.w.Duration(), Bytes: out.n}, nil
}

// keyframeBefore finds where the file starts: the last video keyframe at or before start in the
// segment that holds start (its first keyframe when start falls before it, in a gap).
func keyframeBefore(ctx context.Context, segs []Segment, start time.Time, open Opener) (time.Time, error) {
	seg := segs[0]
	for _, s := range segs {
		if !s.Start.After(start) {
			seg = s
		}
	}
	rc, err := open(ctx, seg.ID)
	if err != nil {
		return time.Time{}, fmt.Errorf("open segment %s: %w", seg.ID, err)
	}
	defer rc.Close()
	r, err := openDemuxer(rc, seg.Container, false)
	if err != nil {
		return time.Time{}, fmt.Errorf("segment %s: %w", seg.ID, err)
	}
	if err := r.seekBefore(start.Sub(seg.Start)); err != nil {
		return time.Time{}, fmt.Errorf("segment %s: %w", seg.ID, err)
	}
	video := -1
	for i, t := range r.trackList() {
		if t.Kind == media.KindVideo {
			video = i
		}
	}
	if video < 0 {
		return maxTime(start, seg.Start), nil
	}
	found := time.Time{}
	for {
		s, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("segment %s: %w", seg.ID, err)
		}
		if s.track != video {
			continue
		}
		at := seg.Start.Add(s.pts)
		if at.After(start) {
			if found.IsZero() && s.key {
				found = at // the first keyframe of a segment that starts after start
			}
			if !found.IsZero() {
				break
			}
			continue
		}
		if s.key {
			found = at
		}
	}
	if found.IsZero() {
		return time.Time{}, fmt.Errorf("%w: segment %s holds no keyframe", ErrNoData, seg.ID)
	}
	return found, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// exporter writes the samples of consecutive segments into one fMP4 writer.
type exporter struct {
	req       Request
	origin    time.Time
	duration  time.Duration
	out       *countingWriter
	sizesOnly bool
	format    string
	w         segment.Writer
	kinds     []media.Kind // the output's tracks
	skipped   time.Duration
	started   bool            // video has reached its first keyframe
	last      []time.Duration // per output track, the time of the last sample written
	written   []bool
}

func (ex *exporter) segment(ctx context.Context, seg Segment, open Opener) error {
	rc, err := open(ctx, seg.ID)
	if err != nil {
		return fmt.Errorf("open segment %s: %w", seg.ID, err)
	}
	defer rc.Close()
	r, err := openDemuxer(rc, seg.Container, ex.sizesOnly)
	if err != nil {
		return fmt.Errorf("segment %s: %w", seg.ID, err)
	}
	if seg.Start.Before(ex.origin) {
		if err := r.seekBefore(ex.origin.Sub(seg.Start)); err != nil {
			return fmt.Errorf("segment %s: %w", seg.ID, err)
		}
	}
	tracks := r.trackList()
	if ex.w == nil {
		opts := segment.Options{Duration: ex.duration, Start: ex.origin}
		var w segment.Writer
		if ex.format == "webm" {
			w, err = webm.New(nonSeeking{ex.out}, tracks, opts)
		} else {
			w, err = fmp4.New(nonSeeking{ex.out}, tracks, opts)
		}
		if err != nil {
			return fmt.Errorf("start the file: %w", err)
		}
		ex.w = w
		for _, t := range tracks {
			ex.kinds = append(ex.kinds, t.Kind)
		}
		ex.last, ex.written = make([]time.Duration, len(tracks)), make([]bool, len(tracks))
		ex.out.flush()
	}
	// The output track of each of this segment's tracks, by kind.
	mapping := make([]int, len(tracks))
	for i, t := range tracks {
		mapping[i] = -1
		for j, k := range ex.kinds {
			if k == t.Kind {
				mapping[i] = j
			}
		}
	}
	hasVideo := false
	for _, k := range ex.kinds {
		hasVideo = hasVideo || k == media.KindVideo
	}
	for {
		s, err := r.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("segment %s: %w", seg.ID, err)
		}
		at := seg.Start.Add(s.pts)
		if at.Before(ex.origin) || mapping[s.track] < 0 {
			continue
		}
		if !at.Before(ex.req.End) {
			return nil
		}
		kind := ex.kinds[mapping[s.track]]
		if hasVideo && !ex.started {
			if kind != media.KindVideo || !s.key {
				continue
			}
			ex.started = true
		}
		pts := at.Sub(ex.origin) - ex.skipped
		t := mapping[s.track]
		// Where two segments overlap at their joint, time never goes back: audio already written
		// is not written twice, and a video frame (the next segment starts at a keyframe, which
		// its followers need) moves just after the last one.
		if ex.written[t] && pts <= ex.last[t] {
			if kind != media.KindVideo {
				continue
			}
			pts = ex.last[t] + time.Millisecond
		}
		ex.last[t], ex.written[t] = pts, true
		before := ex.out.n
		if err := ex.w.WriteSample(segment.Sample{Track: t, PTS: pts, Key: s.key, Data: s.data}); err != nil {
			if errors.Is(err, errRangeDone) {
				return err
			}
			return fmt.Errorf("write the file: %w", err)
		}
		if ex.out.n != before {
			ex.out.flush()
		}
	}
}

func (ex *exporter) close() {
	if ex.w != nil {
		_ = ex.w.Close()
	}
}

// countingWriter counts what is written and flushes an http.ResponseWriter after each fragment,
// so the client gets the file as it is made.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) flush() {
	if f, ok := c.w.(interface{ Flush() }); ok {
		f.Flush()
	}
}

// nonSeeking gives the MP4 writer, which never seeks, the io.WriteSeeker it takes.
type nonSeeking struct{ io.Writer }

func (nonSeeking) Seek(int64, int) (int64, error) {
	return 0, errors.New("an export is written front to back")
}
