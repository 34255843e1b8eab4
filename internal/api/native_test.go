package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/catalog"
	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/recorder"
)

// fakeRecorder records what it is asked to start.
type fakeRecorder struct {
	mu      sync.Mutex
	started []recorder.Options
}

func (f *fakeRecorder) Start(name string, opts recorder.Options) (recorder.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, opts)
	return recorder.Status{ID: "rec-1", Stream: name, State: recorder.StateRecording, Rotation: opts.Rotation.String()}, nil
}

func (f *fakeRecorder) starts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.started)
}

func (f *fakeRecorder) StopStream(context.Context, string) (recorder.Status, error) {
	return recorder.Status{}, recorder.ErrNotRecording
}

func (f *fakeRecorder) ByStream(string) (recorder.Status, error) {
	return recorder.Status{}, recorder.ErrNotRecording
}
func (f *fakeRecorder) Active() []recorder.Status  { return nil }
func (f *fakeRecorder) Defaults() recorder.Options { return recorder.Options{} }
func (f *fakeRecorder) Recording(name string) bool { return false }

// catalogRecordings serves Recordings from a real catalog; a segment's bytes are its path.
type catalogRecordings struct{ *catalog.Catalog }

func (c catalogRecordings) Open(_ context.Context, id string) (io.ReadSeekCloser, string, string, time.Time, error) {
	seg, err := c.Get(id)
	if err != nil {
		return nil, "", "", time.Time{}, err
	}
	return nopCloser{bytes.NewReader([]byte(seg.Path))}, filepath.Base(seg.Path), seg.Container, seg.End, nil
}

func (c catalogRecordings) Delete(id string) (catalog.Segment, error) {
	return c.Update(id, func(s *catalog.Segment) { s.State, s.DeleteReason = catalog.StateDeleted, "api" })
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// liveStream puts a stream with the given tracks in h, with one packet so it is publishing.
func liveStream(t *testing.T, h *hub.Hub, name string, codecs ...media.Codec) {
	t.Helper()
	st, err := h.Create(name, degradedTestSource{})
	require.NoError(t, err)
	t.Cleanup(st.Close)
	var tracks []hub.TrackInfo
	for _, c := range codecs {
		tracks = append(tracks, hub.TrackInfo{Kind: c.Kind(), Codec: c, ClockRate: c.ClockRate()})
	}
	st.SetTracks(tracks)
	st.Write(&media.Packet{RTP: &rtp.Packet{Payload: []byte{1}}, Kind: codecs[0].Kind()})
}

// nativeServer is the API over a real hub (stream "cam", H.264 and Opus), a real catalog, and
// fakes of the recorder and the pulls that remember what they were asked to start.
type nativeServer struct {
	url   string
	hub   *hub.Hub
	rec   *fakeRecorder
	pulls *fakePulls
	cat   *catalog.Catalog
	api   *Server
}

func newNativeServer(t *testing.T) *nativeServer {
	t.Helper()
	h := hub.New(hub.Config{})
	liveStream(t, h, "cam", media.H264, media.Opus)
	cat, err := catalog.Open(filepath.Join(t.TempDir(), "catalog.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cat.Close() })
	n := &nativeServer{hub: h, rec: &fakeRecorder{}, pulls: newFakePulls(), cat: cat}
	n.api = New(Deps{Streams: h, Recorder: n.rec, Recordings: catalogRecordings{cat}, Pulls: n.pulls,
		Log: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(n.api)
	t.Cleanup(srv.Close)
	n.url = srv.URL
	return n
}

func (n *nativeServer) do(t *testing.T, method, path, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, n.url+path, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b), resp.Header
}

// requireError checks a JSON error answer of status whose message contains every one of want.
func requireError(t *testing.T, status int, body string, wantStatus int, want ...string) {
	t.Helper()
	require.Equal(t, wantStatus, status, body)
	var e errorBody
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	require.Equal(t, wantStatus, e.Status)
	for _, w := range want {
		require.Contains(t, e.Message, w)
	}
}

// Every native endpoint that takes a body refuses unknown fields, values of the wrong type and
// trailing data with 400 naming what is wrong, and starts nothing. The table must hold every
// POST, PUT and PATCH route of /api/v1, so an endpoint added later cannot be left out.
func TestNativeBodiesAreStrict(t *testing.T) {
	n := newNativeServer(t)
	type endpoint struct {
		pattern, path string
		// valid is a body that works; unknown has a misspelt field, named unknownField;
		// wrongType has a value of the wrong type for field wrongField.
		valid, unknown, unknownField, wrongType, wrongField string
		// done counts what the endpoint started or changed.
		done func() int
	}
	table := []endpoint{
		{pattern: "POST /api/v1/streams/{name}/recording", path: "/api/v1/streams/cam/recording",
			valid: `{"rotation":"10s"}`, unknown: `{"rotaton":"10s"}`, unknownField: `"rotaton"`,
			wrongType: `{"rotation":10}`, wrongField: `"rotation"`, done: n.rec.starts},
		{pattern: "POST /api/v1/pulls", path: "/api/v1/pulls",
			valid:   `{"source":"http://a:8081","remote":"cam1"}`,
			unknown: `{"source":"http://a:8081","remote":"cam1","quantity":3}`, unknownField: `"quantity"`,
			wrongType: `{"source":"http://a:8081","remote":"cam1","qty":"3"}`, wrongField: `"qty"`,
			done: func() int { return len(n.pulls.List()) }},
	}

	var bodyRoutes []string
	for _, p := range n.api.patterns {
		method, path, _ := strings.Cut(p, " ")
		if strings.HasPrefix(path, "/api/v1/") && slices.Contains([]string{"POST", "PUT", "PATCH"}, method) {
			bodyRoutes = append(bodyRoutes, p)
		}
	}
	var tested []string
	for _, e := range table {
		tested = append(tested, e.pattern)
	}
	require.ElementsMatch(t, bodyRoutes, tested, "every native route that takes a body is in the table")

	for _, e := range table {
		t.Run(e.pattern, func(t *testing.T) {
			method, _, _ := strings.Cut(e.pattern, " ")
			for _, tc := range []struct {
				name, body string
				want       []string
			}{
				{"unknown field", e.unknown, []string{"unknown field " + e.unknownField}},
				{"two unknown fields", `{"x":1,"y":2}`, []string{`unknown fields "x", "y"`}},
				{"field spelt in another case", strings.ToUpper(e.valid), []string{"unknown field"}},
				{"wrong type", e.wrongType, []string{"field " + e.wrongField}},
				{"a second object", e.valid + ` {}`, []string{"trailing data"}},
				{"trailing text", e.valid + "x", []string{"trailing data"}},
				{"not an object", `["x"]`, []string{"JSON object"}},
				{"null", `null`, []string{"JSON object"}},
				{"cut short", e.valid[:len(e.valid)-1], []string{"invalid JSON body"}},
			} {
				status, body, _ := n.do(t, method, e.path, tc.body)
				requireError(t, status, body, http.StatusBadRequest, tc.want...)
				require.Zero(t, e.done(), "%s: nothing may start", tc.name)
			}
			status, body, _ := n.do(t, method, e.path, e.valid)
			require.Equal(t, http.StatusCreated, status, body)
			require.Equal(t, 1, e.done(), "the valid body starts it")
		})
	}
}

// The Web Call Server endpoints stay lenient: scripts written for that server send extra fields.
func TestWCSBodiesStayLenient(t *testing.T) {
	n := newNativeServer(t)
	_, body, _ := n.do(t, http.MethodPost, "/rest-api/stream/find", `{"name":"cam"}`)
	var found []wcsStream
	require.NoError(t, json.Unmarshal([]byte(body), &found), body)
	status, body, _ := n.do(t, http.MethodPost, "/rest-api/stream/startRecording",
		`{"mediaSessionId":"`+found[0].MediaSessionID+`","sdp":"x","custom":{"a":1}}`)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, 1, n.rec.starts())
}

// Asking for a container the stream's video cannot go in says which one it can.
func TestRecordingFormatAdvice(t *testing.T) {
	n := newNativeServer(t)
	liveStream(t, n.hub, "vp8", media.VP8, media.Opus)
	liveStream(t, n.hub, "vp9", media.VP9)
	liveStream(t, n.hub, "voice", media.Opus)
	for _, tc := range []struct{ stream, format, want string }{
		{"cam", "webm", "H.264 cannot be recorded in WebM; use mp4"},
		{"cam", "WebM", "H.264 cannot be recorded in WebM; use mp4"},
		{"vp8", "mp4", "VP8 cannot be recorded in MP4; use webm"},
		{"vp9", "avi", `format "avi": use mp4 or webm (this stream's video is VP9)`},
		{"cam", "mkv", `format "mkv": use mp4 (this stream's video is H.264)`},
		{"voice", "webm", "stream voice has no video track"},
	} {
		status, body, _ := n.do(t, http.MethodPost, "/api/v1/streams/"+tc.stream+"/recording", `{"format":"`+tc.format+`"}`)
		requireError(t, status, body, http.StatusBadRequest, tc.want)
	}
	require.Zero(t, n.rec.starts())
	for _, tc := range []struct{ stream, format string }{{"cam", "mp4"}, {"vp8", "webm"}, {"vp9", "webm"}, {"vp9", "mp4"}} {
		status, body, _ := n.do(t, http.MethodPost, "/api/v1/streams/"+tc.stream+"/recording", `{"format":"`+tc.format+`"}`)
		require.Equal(t, http.StatusCreated, status, "%s in %s: %s", tc.stream, tc.format, body)
	}
}

// A deleted segment stays listed, with its state and reason; ?state= selects states.
func TestListedSegmentsIncludeDeleted(t *testing.T) {
	n := newNativeServer(t)
	start := time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)
	var ids []string
	for i, st := range []catalog.State{catalog.StateClosed, catalog.StateClosed, catalog.StateRecording} {
		seg, err := n.cat.Insert(catalog.Segment{RecordingID: "r1", Stream: "cam", Index: i + 1, State: st, Container: "mp4",
			Path: filepath.Join("/rec", "cam_"+string(rune('a'+i))+".mp4"), Start: start.Add(time.Duration(i) * 10 * time.Second)})
		require.NoError(t, err)
		ids = append(ids, seg.ID)
	}
	status, body, _ := n.do(t, http.MethodDelete, "/api/v1/recordings/"+ids[0], "")
	require.Equal(t, http.StatusNoContent, status, body)

	list := func(query string) (states []string, total int) {
		status, body, _ := n.do(t, http.MethodGet, "/api/v1/recordings"+query, "")
		require.Equal(t, http.StatusOK, status, body)
		var out struct {
			Recordings []catalog.Segment
			Total      int
		}
		require.NoError(t, json.Unmarshal([]byte(body), &out))
		for _, s := range out.Recordings {
			states = append(states, string(s.State))
		}
		return states, out.Total
	}
	states, total := list("")
	require.Equal(t, []string{"deleted", "closed", "recording"}, states)
	require.Equal(t, 3, total)
	states, _ = list("?state=deleted")
	require.Equal(t, []string{"deleted"}, states)
	states, total = list("?state=closed,recording")
	require.Equal(t, []string{"closed", "recording"}, states)
	require.Equal(t, 2, total)

	status, body, _ = n.do(t, http.MethodGet, "/api/v1/recordings?state=closd", "")
	requireError(t, status, body, http.StatusBadRequest, `state "closd"`)
}

// A download is named after the segment's file, so `curl -OJ` and browsers keep that name.
func TestDownloadIsNamedAfterTheFile(t *testing.T) {
	n := newNativeServer(t)
	seg, err := n.cat.Insert(catalog.Segment{Stream: "cam", State: catalog.StateClosed, Container: "webm",
		Path: "/rec/cam_2026-11-25_1.webm", Start: time.Now()})
	require.NoError(t, err)
	status, body, hdr := n.do(t, http.MethodGet, "/api/v1/recordings/"+seg.ID, "")
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, `attachment; filename=cam_2026-11-25_1.webm`, hdr.Get("Content-Disposition"))
	require.Equal(t, "video/webm", hdr.Get("Content-Type"))
	require.Equal(t, "/rec/cam_2026-11-25_1.webm", body)
}

// "off" is how answers spell no rotation; requests may say "off" or "0" (Web Call Server's way).
func TestRotationOffSpellings(t *testing.T) {
	n := newNativeServer(t)
	for i, rotation := range []string{"off", "0", "20s"} {
		status, body, _ := n.do(t, http.MethodPost, "/api/v1/streams/cam/recording", `{"rotation":"`+rotation+`"}`)
		require.Equal(t, http.StatusCreated, status, body)
		var rec recordingJSON
		require.NoError(t, json.Unmarshal([]byte(body), &rec))
		n.rec.mu.Lock()
		got := n.rec.started[i].Rotation
		n.rec.mu.Unlock()
		if rotation == "20s" {
			require.Equal(t, recorder.Rotation{Duration: 20 * time.Second}, got)
			require.Equal(t, "20s", rec.Rotation)
			continue
		}
		require.Zero(t, got, rotation)
		require.Equal(t, "off", rec.Rotation, rotation)
	}
}
