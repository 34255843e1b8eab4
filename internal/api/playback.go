package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/catalog"
	"github.com/vigilrec/vigil/internal/playback"
)

func (s *Server) playbackRoutes() {
	s.handle("GET /api/v1/playback/list", perStream(auth.Record), s.handlePlaybackList)
	s.handle("GET /api/v1/playback", perStream(auth.Record), s.handlePlayback)
}

type spanJSON struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Duration float64   `json:"duration"` // seconds
}

func spansJSON(spans []playback.Span) []spanJSON {
	out := make([]spanJSON, 0, len(spans))
	for _, sp := range spans {
		out = append(out, spanJSON{Start: sp.Start.UTC(), End: sp.End.UTC(), Duration: sp.Duration().Seconds()})
	}
	return out
}

// playbackSegments are the finished segments of stream overlapping [from, to) (either may be
// zero); 404 when the stream has never been recorded.
func (s *Server) playbackSegments(stream string, from, to time.Time) ([]playback.Segment, error) {
	if stream == "" {
		return nil, &httpError{status: http.StatusBadRequest, msg: "stream is required (?stream=NAME)"}
	}
	var out []playback.Segment
	for offset := 0; ; {
		page, total, err := s.deps.Recordings.List(catalog.Filter{Stream: stream, From: from, To: to, Offset: offset, Limit: 1000,
			States: []catalog.State{catalog.StateClosed, catalog.StateRecovered}})
		if err != nil {
			return nil, err
		}
		for _, seg := range page {
			if seg.End.After(seg.Start) {
				out = append(out, playback.Segment{ID: seg.ID, Start: seg.Start, End: seg.End, Container: seg.Container,
					VideoCodec: seg.VideoCodec, AudioCodec: seg.AudioCodec, Remote: seg.Offloaded})
			}
		}
		offset += len(page)
		if len(page) == 0 || offset >= total {
			break
		}
	}
	if len(out) == 0 {
		if _, total, err := s.deps.Recordings.List(catalog.Filter{Stream: stream, Limit: 1, States: segmentStatesAll}); err == nil && total == 0 {
			return nil, &httpError{status: http.StatusNotFound, msg: "stream " + stream + " has no recordings"}
		}
	}
	return out, nil
}

// segmentSource is where a playback reads: this node's catalog, or with ?cluster=true the S3
// bucket, the archive of every node of a cluster.
type segmentSource struct {
	list func(stream string, from, to time.Time) ([]playback.Segment, error)
	open func(ctx context.Context, id string) (io.ReadSeekCloser, error)
}

func (s *Server) segmentSource(r *http.Request) (segmentSource, error) {
	if r.URL.Query().Get("cluster") != "true" {
		return segmentSource{list: s.playbackSegments, open: s.openSegment}, nil
	}
	archive, ok := s.deps.Recordings.(Archive)
	if !ok {
		return segmentSource{}, &httpError{status: http.StatusBadRequest, msg: ErrNoArchive.Error()}
	}
	keys := map[string]string{} // segment id → object key
	return segmentSource{
		list: func(stream string, from, to time.Time) ([]playback.Segment, error) {
			if stream == "" {
				return nil, &httpError{status: http.StatusBadRequest, msg: "stream is required (?stream=NAME)"}
			}
			all, err := archive.Archive(r.Context(), stream)
			if errors.Is(err, ErrNoArchive) {
				err = &httpError{status: http.StatusBadRequest, msg: err.Error()}
			}
			if err != nil {
				return nil, err
			}
			if len(all) == 0 {
				return nil, &httpError{status: http.StatusNotFound, msg: "stream " + stream + " has no recordings in the bucket"}
			}
			var out []playback.Segment
			for _, a := range all {
				if !a.End.After(a.Start) || (!from.IsZero() && !a.End.After(from)) || (!to.IsZero() && !a.Start.Before(to)) {
					continue
				}
				keys[a.ID] = a.Key
				out = append(out, playback.Segment{ID: a.ID, Start: a.Start, End: a.End, Container: a.Container,
					VideoCodec: a.VideoCodec, AudioCodec: a.AudioCodec, Remote: true})
			}
			return out, nil
		},
		open: func(ctx context.Context, id string) (io.ReadSeekCloser, error) {
			key, ok := keys[id]
			if !ok {
				return nil, fmt.Errorf("segment %s: %w", id, catalog.ErrNotFound)
			}
			return archive.OpenArchived(ctx, key)
		},
	}, nil
}

var segmentStatesAll = []catalog.State{catalog.StateRecording, catalog.StateClosed, catalog.StateRecovered, catalog.StateDeleted}

func (s *Server) handlePlaybackList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	stream := q.Get("stream")
	if stream != "" && !s.allowStream(w, r, auth.Record, stream) {
		return
	}
	from, err := queryTime(q.Get("start"))
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	to, err := queryTime(q.Get("end"))
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	src, err := s.segmentSource(r)
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	segs, err := src.list(stream, from, to)
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	spans, gaps := playback.Timeline(segs, from, to)
	writeJSON(w, http.StatusOK, map[string]any{"stream": stream, "spans": spansJSON(spans), "gaps": spansJSON(gaps)})
}

// playbackRequest reads the query of GET /api/v1/playback.
func (s *Server) playbackRequest(r *http.Request) (playback.Request, error) {
	q := r.URL.Query()
	bad := func(format string, args ...any) error {
		return &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
	}
	var req playback.Request
	if q.Get("start") == "" {
		return req, bad("start is required (RFC 3339 or epoch milliseconds)")
	}
	var err error
	if req.Start, err = queryTime(q.Get("start")); err != nil {
		return req, err
	}
	switch {
	case q.Get("end") != "" && q.Get("duration") != "":
		return req, bad("give end or duration, not both")
	case q.Get("end") != "":
		if req.End, err = queryTime(q.Get("end")); err != nil {
			return req, err
		}
	case q.Get("duration") != "":
		d, err := time.ParseDuration(q.Get("duration"))
		if err != nil || d <= 0 {
			return req, bad("duration %q: a positive Go duration such as 90s or 1h30m", q.Get("duration"))
		}
		req.End = req.Start.Add(d)
	default:
		return req, bad("end or duration is required")
	}
	if !req.End.After(req.Start) {
		return req, bad("end %s is not after start %s", req.End.UTC().Format(time.RFC3339Nano), req.Start.UTC().Format(time.RFC3339Nano))
	}
	if max := s.deps.PlaybackMaxRange; max > 0 && req.End.Sub(req.Start) > max {
		return req, bad("the range lasts %s, over playback.max_range (%s)", req.End.Sub(req.Start), max)
	}
	switch g := q.Get("gaps"); g {
	case "", "keep":
	case "skip":
		req.SkipGaps = true
	default:
		return req, bad("gaps %q: keep or skip", g)
	}
	switch f := strings.ToLower(q.Get("format")); f {
	case "", "mp4", "webm":
		req.Format = f
	default:
		return req, bad("format %q: mp4 or webm", f)
	}
	return req, nil
}

func (s *Server) handlePlayback(w http.ResponseWriter, r *http.Request) {
	stream := r.URL.Query().Get("stream")
	if stream != "" && !s.allowStream(w, r, auth.Record, stream) {
		return
	}
	req, err := s.playbackRequest(r)
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	src, err := s.segmentSource(r)
	if err == nil {
		req.Segments, err = src.list(stream, req.Start, req.End)
	}
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	plan, err := playback.Prepare(req)
	if err == nil {
		err = plan.Locate(r.Context(), req, src.open)
	}
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "video/"+plan.Format)
	h.Set("X-Playback-Start", plan.Origin.UTC().Format(time.RFC3339Nano))
	name := fmt.Sprintf("%s_%s.%s", stream, plan.Origin.UTC().Format("20060102T150405.000Z"), plan.Format)
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": name}))

	// With every segment on the local disk the file's size can be known before it is made (its
	// fragment headers are read, not its media: about 200 ms an hour of media), so byte ranges
	// are served and players seek in it as in a finished segment. That is done when a range is
	// asked for (media elements always ask); a plain GET is streamed at once. Segments in S3
	// would cost a request per fragment: the file is then only streamed.
	local := plan.AllLocal()
	rng := r.Header.Get("Range")
	from, n, status := int64(0), int64(-1), http.StatusOK
	switch {
	case !local:
		h.Set("Accept-Ranges", "none")
	case rng == "":
		h.Set("Accept-Ranges", "bytes")
	default:
		h.Set("Accept-Ranges", "bytes")
		size, err := playback.Measure(r.Context(), req, plan, src.open)
		if err != nil {
			writeError(w, r, s.deps.Log, err)
			return
		}
		var ok bool
		if from, n, ok = parseRange(rng, size); !ok {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			writeError(w, r, s.deps.Log, &httpError{status: http.StatusRequestedRangeNotSatisfiable,
				msg: fmt.Sprintf("range %q is not within the file's %d bytes", rng, size)})
			return
		}
		if n < size {
			status = http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, from+n-1, size))
		}
		h.Set("Content-Length", strconv.FormatInt(n, 10))
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if n < 0 {
		_, err = playback.Export(r.Context(), w, req, plan, src.open)
	} else {
		err = playback.ExportRange(r.Context(), w, req, plan, src.open, from, n)
	}
	if err != nil {
		// The answer has begun: all that is left is to say so in the log and cut it short.
		s.deps.Log.Warn("export cut short", "stream", stream, "start", req.Start, "end", req.End, "err", err)
		if errors.Is(err, context.Canceled) {
			return
		}
		panic(http.ErrAbortHandler)
	}
}

// parseRange reads a Range header of one byte range within size: "bytes=a-b", "bytes=a-" or
// "bytes=-n". Several ranges, or another unit, are not ranges vigil serves here: the whole file
// (ok, full size) is the answer then, as RFC 9110 allows.
func parseRange(h string, size int64) (from, n int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, size, true
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, size, true
	}
	switch {
	case a == "":
		last, err := strconv.ParseInt(b, 10, 64)
		if err != nil || last <= 0 {
			return 0, 0, false
		}
		from = max(size-last, 0)
		return from, size - from, size > 0
	default:
		first, err := strconv.ParseInt(a, 10, 64)
		if err != nil || first < 0 || first >= size {
			return 0, 0, false
		}
		end := size - 1
		if b != "" {
			if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < first {
				return 0, 0, false
			}
			end = min(end, size-1)
		}
		return first, end - first + 1, true
	}
}

func (s *Server) openSegment(ctx context.Context, id string) (io.ReadSeekCloser, error) {
	body, _, _, _, err := s.deps.Recordings.Open(ctx, id)
	return body, err
}
