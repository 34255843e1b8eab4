// Package playback answers for time rather than files: which spans of a stream's time are
// recorded (merged across segments and recordings, with the gaps between them), and one file of
// any range of it, remuxed from the stored frames without re-encoding and streamed as it is made.
//
// It knows segments only as this package's Segment, opened through an Opener: where the bytes
// live (a local file, an S3 object read with range requests) is the caller's business.
package playback

import (
	"context"
	"errors"
	"io"
	"sort"
	"time"
)

// Segment is one recorded file of a stream.
type Segment struct {
	ID         string
	Start, End time.Time
	Container  string // "mp4" or "webm"
	VideoCodec string
	AudioCodec string
	// Remote is true when the bytes are not on the local disk (offloaded to S3): reading them
	// costs a request per read.
	Remote bool
}

// Opener opens a segment's bytes.
type Opener func(ctx context.Context, id string) (io.ReadSeekCloser, error)

// Span is a stretch of time: recorded (a span) or not (a gap).
type Span struct {
	Start, End time.Time
}

// Duration is the span's length.
func (s Span) Duration() time.Duration { return s.End.Sub(s.Start) }

// Joint is how far apart two segments may be and still count as one span: rotation cuts tile the
// timeline to within a frame, and the catalog keeps times to the millisecond.
const Joint = 100 * time.Millisecond

// Timeline merges segments into the spans they cover and the gaps between those spans, within
// [from, to) when either is set.
func Timeline(segs []Segment, from, to time.Time) (spans, gaps []Span) {
	sorted := append([]Segment(nil), segs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	for _, s := range sorted {
		start, end := s.Start, s.End
		if !from.IsZero() && start.Before(from) {
			start = from
		}
		if !to.IsZero() && end.After(to) {
			end = to
		}
		if !end.After(start) {
			continue
		}
		if n := len(spans); n > 0 && !start.After(spans[n-1].End.Add(Joint)) {
			if end.After(spans[n-1].End) {
				spans[n-1].End = end
			}
			continue
		}
		spans = append(spans, Span{Start: start, End: end})
	}
	for i := 1; i < len(spans); i++ {
		gaps = append(gaps, Span{Start: spans[i-1].End, End: spans[i].Start})
	}
	return spans, gaps
}

// Errors of Export, for the API's statuses.
var (
	// ErrBadRange: the range is malformed (end before start, too long).
	ErrBadRange = errors.New("bad range")
	// ErrNoData: nothing is recorded in the range.
	ErrNoData = errors.New("no recording in the range")
	// ErrMixed: the range holds segments of different codecs or containers.
	ErrMixed = errors.New("the range mixes codecs")
	// ErrFormat: the output format cannot hold the recorded codecs, or is not one vigil writes.
	ErrFormat = errors.New("unsupported format")
)
