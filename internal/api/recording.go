package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigilrec/vigil/internal/auth"
	"github.com/vigilrec/vigil/internal/catalog"
	"github.com/vigilrec/vigil/internal/diskguard"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/recorder"
	"github.com/vigilrec/vigil/internal/upload"
)

// Recorder controls recordings.
type Recorder interface {
	Start(name string, opts recorder.Options) (recorder.Status, error)
	StopStream(ctx context.Context, name string) (recorder.Status, error)
	ByStream(name string) (recorder.Status, error)
	Active() []recorder.Status
	Defaults() recorder.Options
	Recording(name string) bool
}

// Recordings is the catalog of recorded files.
type Recordings interface {
	List(f catalog.Filter) ([]catalog.Segment, int, error)
	Get(id string) (catalog.Segment, error)
	// Open returns the segment's bytes (local or offloaded), its file name, container and time.
	Open(ctx context.Context, id string) (io.ReadSeekCloser, string, string, time.Time, error)
	Delete(id string) (catalog.Segment, error)
}

// Storage reports the disk, retention, offload and webhook state.
type Storage interface {
	StorageStatus() map[string]any
	// StorageHistory is the volume over the last hour, oldest first.
	StorageHistory() []diskguard.Sample
}

// recordingJSON is a recording in the native API.
type recordingJSON struct {
	ID             string     `json:"id"`
	Stream         string     `json:"stream"`
	MediaSessionID string     `json:"mediaSessionId"`
	State          string     `json:"state"`
	Automatic      bool       `json:"automatic"`
	StartedAt      time.Time  `json:"startedAt"`
	StoppedAt      *time.Time `json:"stoppedAt,omitempty"`
	Bytes          int64      `json:"bytes"`
	Duration       float64    `json:"duration"`
	Segments       int        `json:"segments"`
	CurrentFile    string     `json:"currentFile,omitempty"`
	Files          []string   `json:"files"`
	Rotation       string     `json:"rotation"`
	Template       string     `json:"template"`
	Error          string     `json:"error,omitempty"`
	Loss           lossJSON   `json:"loss"`
}

// lossJSON is what a recording did about lost, late and reordered packets (recorder.Loss);
// durations in seconds.
type lossJSON struct {
	PacketsLost     uint64  `json:"packetsLost"`
	PacketsLate     uint64  `json:"packetsLate"`
	Duplicates      uint64  `json:"duplicates"`
	HolesFilled     uint64  `json:"holesFilled"`
	FramesRecovered uint64  `json:"framesRecovered"`
	FramesDropped   uint64  `json:"framesDropped"`
	FramesSkipped   uint64  `json:"framesSkipped"`
	KeyframeWaits   uint64  `json:"keyframeWaits"`
	Skipped         float64 `json:"skipped"`
	LongestSkip     float64 `json:"longestSkip"`
	Discontinuities uint64  `json:"discontinuities"`
}

func toLossJSON(l recorder.Loss) lossJSON {
	return lossJSON{PacketsLost: l.PacketsLost, PacketsLate: l.PacketsLate, Duplicates: l.Duplicates,
		HolesFilled: l.HolesFilled, FramesRecovered: l.FramesRecovered, FramesDropped: l.FramesDropped,
		FramesSkipped: l.FramesSkipped, KeyframeWaits: l.KeyframeWaits, Skipped: l.Skipped.Seconds(),
		LongestSkip: l.LongestSkip.Seconds(), Discontinuities: l.Discontinuities}
}

func toRecordingJSON(s recorder.Status) recordingJSON {
	out := recordingJSON{ID: s.ID, Stream: s.Stream, MediaSessionID: s.MediaSessionID, State: string(s.State),
		Automatic: s.Automatic, StartedAt: s.Started.UTC(), Bytes: s.Bytes, Duration: s.Duration.Seconds(),
		Segments: s.Segments, CurrentFile: s.CurrentFile, Files: s.Files, Rotation: s.Rotation,
		Template: s.Template, Error: s.Error, Loss: toLossJSON(s.Loss)}
	if out.Files == nil {
		out.Files = []string{}
	}
	if !s.Stopped.IsZero() {
		t := s.Stopped.UTC()
		out.StoppedAt = &t
	}
	return out
}

// startRequest is the body of POST /api/v1/streams/{name}/recording.
type startRequest struct {
	Format   string `json:"format"`
	Rotation string `json:"rotation"`
	Template string `json:"template"`
}

func (s *Server) recordingRoutes() {
	s.handle("POST /api/v1/streams/{name}/recording", onPath(auth.Record, "name"), s.onStreamNode(byPath("name"), s.handleStartRecording))
	s.handle("GET /api/v1/streams/{name}/recording", onPath(auth.Record, "name"), s.onStreamNode(byPath("name"), s.handleGetRecording))
	s.handle("DELETE /api/v1/streams/{name}/recording", onPath(auth.Record, "name"), s.onStreamNode(byPath("name"), s.handleStopRecording))
	s.handle("GET /api/v1/recordings", perStream(auth.Record), s.handleListRecordings)
	s.handle("GET /api/v1/recordings/{id}", perStream(auth.Record), s.handleDownloadRecording)
	s.handle("DELETE /api/v1/recordings/{id}", perStream(auth.Admin), s.handleDeleteRecording)
	s.handle("GET /api/v1/storage", everyStream(auth.Admin), s.handleStorage)
	s.handle("GET /api/v1/storage/history", everyStream(auth.Admin), s.handleStorageHistory)
}

// recordingOptions turns request fields into options over the server's defaults.
func (s *Server) recordingOptions(stream, format, rotation, template string) (recorder.Options, error) {
	opts := s.deps.Recorder.Defaults()
	if rotation != "" {
		r, err := recorder.ParseRotation(rotation)
		if err != nil {
			return opts, err
		}
		opts.Rotation = r
	}
	if template != "" {
		opts.Template = template
	}
	if format != "" {
		st, err := s.deps.Streams.Get(stream)
		if err != nil {
			return opts, err
		}
		video := media.Codec("")
		for _, t := range st.Tracks() {
			if t.Kind == media.KindVideo {
				video = t.Codec
				break
			}
		}
		if video == "" {
			return opts, fmt.Errorf("%w: format %q: the format is chosen by the video codec, and stream %s has no video track",
				recorder.ErrBadOptions, format, stream)
		}
		f, err := recorder.ParseFormats(string(video) + "-" + strings.ToLower(format))
		if err != nil {
			return opts, fmt.Errorf("%w: %s", recorder.ErrBadOptions, formatAdvice(video, format))
		}
		merged := recorder.Formats{}
		for k, v := range opts.Formats {
			merged[k] = v
		}
		merged[video] = f[video]
		opts.Formats = merged
	}
	return opts, nil
}

// formatAdvice says why format does not fit a stream of video codec and which formats do.
func formatAdvice(video media.Codec, format string) string {
	var fits []string
	for _, c := range []string{"mp4", "webm"} {
		if _, err := recorder.ParseFormats(string(video) + "-" + c); err == nil {
			fits = append(fits, c)
		}
	}
	use := strings.Join(fits, " or ")
	name := codecName(video)
	lower := strings.ToLower(format)
	if lower != "mp4" && lower != "webm" {
		return fmt.Sprintf("format %q: use %s (this stream's video is %s)", format, use, name)
	}
	return fmt.Sprintf("%s cannot be recorded in %s; use %s", name, containerName(lower), use)
}

// codecName is a video codec as people write it.
func codecName(c media.Codec) string {
	switch c {
	case media.H264:
		return "H.264"
	case media.H265:
		return "H.265"
	}
	return strings.ToUpper(string(c))
}

func containerName(format string) string {
	if format == "webm" {
		return "WebM"
	}
	return "MP4"
}

func (s *Server) handleStartRecording(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req startRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	opts, err := s.recordingOptions(name, req.Format, req.Rotation, req.Template)
	if err == nil {
		var st recorder.Status
		st, err = s.deps.Recorder.Start(name, opts)
		if err == nil {
			writeJSON(w, http.StatusCreated, toRecordingJSON(st))
			return
		}
	}
	writeError(w, r, s.deps.Log, err)
}

func (s *Server) handleGetRecording(w http.ResponseWriter, r *http.Request) {
	st, err := s.deps.Recorder.ByStream(r.PathValue("name"))
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	writeJSON(w, http.StatusOK, toRecordingJSON(st))
}

// handleStopRecording answers once the recording's files are final.
func (s *Server) handleStopRecording(w http.ResponseWriter, r *http.Request) {
	st, err := s.deps.Recorder.StopStream(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	writeJSON(w, http.StatusOK, toRecordingJSON(st))
}

// Archive lists the S3 bucket, the archive of every node of a cluster, and opens its objects.
type Archive interface {
	Archive(ctx context.Context, stream string) ([]upload.Archived, error)
	OpenArchived(ctx context.Context, key string) (io.ReadSeekCloser, error)
}

// ErrNoArchive means recordings are not offloaded, so there is no bucket to list.
var ErrNoArchive = errors.New("no archive: ?cluster=true lists the S3 bucket, and s3 offload is not configured")

func (s *Server) handleListRecordings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("cluster") == "true" {
		s.listArchive(w, r)
		return
	}
	f := catalog.Filter{Stream: q.Get("stream"), RecordingID: q.Get("recording")}
	var err error
	if f.From, err = queryTime(q.Get("from")); err == nil {
		f.To, err = queryTime(q.Get("to"))
	}
	if err == nil {
		f.Offset, err = queryInt(q.Get("offset"), 0)
	}
	if err == nil {
		f.Limit, err = queryInt(q.Get("limit"), 100)
	}
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	if f.Limit > 1000 {
		f.Limit = 1000
	}
	if g := grantOf(r); !g.AllStreams() && !g.Covers(f.Stream) {
		// A token limited to some streams lists one of them at a time (totals stay exact).
		writeError(w, r, s.deps.Log, &httpError{status: http.StatusForbidden,
			msg: "the token of " + g.Who + " covers some streams only: list one with ?stream=NAME"})
		return
	}
	if f.States, err = queryStates(q.Get("state")); err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	list, total, err := s.deps.Recordings.List(f)
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	for i := range list {
		list[i].Path = filepath.Base(list[i].Path)
	}
	writeJSON(w, http.StatusOK, map[string]any{"recordings": list, "total": total, "offset": f.Offset, "limit": f.Limit})
}

// segmentStates are the states of a segment, in its life's order. A deleted segment stays listed:
// the catalog keeps it as the record of what was recorded and why it went.
var segmentStates = []catalog.State{catalog.StateRecording, catalog.StateClosed, catalog.StateRecovered, catalog.StateDeleted}

// queryStates reads ?state=closed,deleted; empty: every state.
func queryStates(v string) ([]catalog.State, error) {
	if v == "" {
		return segmentStates, nil
	}
	var out []catalog.State
	for _, st := range strings.Split(v, ",") {
		st = strings.TrimSpace(st)
		if st == "" {
			continue
		}
		if !slices.Contains(segmentStates, catalog.State(st)) {
			return nil, &httpError{status: http.StatusBadRequest,
				msg: fmt.Sprintf("state %q: use recording, closed, recovered or deleted (comma-separated)", st)}
		}
		out = append(out, catalog.State(st))
	}
	if len(out) == 0 {
		return segmentStates, nil
	}
	return out, nil
}

func queryTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	return time.Time{}, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("time %q: use RFC 3339 or epoch milliseconds", v)}
}

func queryInt(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, &httpError{status: http.StatusBadRequest, msg: fmt.Sprintf("%q is not a non-negative number", v)}
	}
	return n, nil
}

// segmentAllowed looks up segment id and checks the request's grant covers its stream for scope;
// otherwise it answers (404 or 403) and reports false.
func (s *Server) segmentAllowed(w http.ResponseWriter, r *http.Request, scope auth.Scope) bool {
	seg, err := s.deps.Recordings.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return false
	}
	return s.allowStream(w, r, scope, seg.Stream)
}

// handleDownloadRecording serves a segment file with HTTP Range support, from the local disk or,
// for an offloaded segment, from S3.
func (s *Server) handleDownloadRecording(w http.ResponseWriter, r *http.Request) {
	if !s.segmentAllowed(w, r, auth.Record) {
		return
	}
	body, name, container, mod, err := s.deps.Recordings.Open(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	defer body.Close()
	ctype := "video/mp4"
	if container == "webm" {
		ctype = "video/webm"
	}
	w.Header().Set("Content-Type", ctype)
	// The segment's own file name, so that `curl -OJ` and browsers save it under that name and
	// not under its id.
	name = filepath.Base(name)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	http.ServeContent(w, r, name, mod, body)
}

func (s *Server) handleStorage(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.deps.Storage.StorageStatus())
}

// storageSampleJSON is one point of GET /api/v1/storage/history.
type storageSampleJSON struct {
	Time       time.Time `json:"time"`
	Free       uint64    `json:"free"`
	Total      uint64    `json:"total"`
	WriteRate  float64   `json:"writeRate"`
	TimeToFull *float64  `json:"timeToFull"` // seconds; null while nothing is being written
}

func (s *Server) handleStorageHistory(w http.ResponseWriter, _ *http.Request) {
	hist := s.deps.Storage.StorageHistory()
	out := make([]storageSampleJSON, 0, len(hist))
	for _, h := range hist {
		j := storageSampleJSON{Time: h.Time.UTC(), Free: h.Free, Total: h.Total, WriteRate: h.WriteRate}
		if h.TimeToFull >= 0 {
			ttf := h.TimeToFull.Seconds()
			j.TimeToFull = &ttf
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"interval": diskguard.HistoryStep.Seconds(), "samples": out})
}

func (s *Server) handleDeleteRecording(w http.ResponseWriter, r *http.Request) {
	if !s.segmentAllowed(w, r, auth.Admin) {
		return
	}
	if _, err := s.deps.Recordings.Delete(r.PathValue("id")); err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listArchive serves GET /api/v1/recordings?cluster=true: the finished segments of every node, as
// the S3 bucket describes them (it outlives any node), optionally of one stream and time range.
func (s *Server) listArchive(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err := queryTime(q.Get("from"))
	var to time.Time
	if err == nil {
		to, err = queryTime(q.Get("to"))
	}
	stream := q.Get("stream")
	if g := grantOf(r); err == nil && !g.AllStreams() && !g.Covers(stream) {
		err = &httpError{status: http.StatusForbidden,
			msg: "the token of " + g.Who + " covers some streams only: list one with ?stream=NAME"}
	}
	archive, ok := s.deps.Recordings.(Archive)
	var list []upload.Archived
	switch {
	case err != nil:
	case !ok:
		err = &httpError{status: http.StatusBadRequest, msg: ErrNoArchive.Error()}
	default:
		list, err = archive.Archive(r.Context(), stream)
	}
	if errors.Is(err, ErrNoArchive) {
		err = &httpError{status: http.StatusBadRequest, msg: err.Error()}
	}
	if err != nil {
		writeError(w, r, s.deps.Log, err)
		return
	}
	out := []upload.Archived{}
	for _, a := range list {
		if (from.IsZero() || !a.End.Before(from)) && (to.IsZero() || !a.Start.After(to)) {
			out = append(out, a)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"recordings": out, "total": len(out), "source": "bucket"})
}
