package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/rtc"
)

// These tests run two servers in one process: A has the published stream, B pulls it. Each is a
// whole App with its own HTTP listener, media socket, hub and recordings directory; they only
// talk to each other over loopback WHEP, as two processes would.

// errorCounter is a slog handler that counts records at level error (and passes everything to
// next, the usual test handler).
type errorCounter struct {
	next   slog.Handler
	errors *atomic.Int64
	mu     *sync.Mutex
	first  *[]string
}

func newErrorCounter(next slog.Handler) *errorCounter {
	return &errorCounter{next: next, errors: &atomic.Int64{}, mu: &sync.Mutex{}, first: &[]string{}}
}

func (h *errorCounter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || h.next.Enabled(ctx, l)
}

func (h *errorCounter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.errors.Add(1)
		h.mu.Lock()
		if len(*h.first) < 5 {
			msg := r.Message
			r.Attrs(func(a slog.Attr) bool { msg += " " + a.String(); return true })
			*h.first = append(*h.first, msg)
		}
		h.mu.Unlock()
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *errorCounter) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	return &c
}

func (h *errorCounter) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

func (h *errorCounter) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), *h.first...)
}

// startServerCounting is startServer with a logger that counts error records.
func startServerCounting(t *testing.T, mutate func(*config.Config)) (*testServer, *errorCounter) {
	t.Helper()
	next := slog.Handler(slog.DiscardHandler)
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		next = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	counter := newErrorCounter(next)
	cfg := config.Default()
	cfg.HTTP, cfg.UDP, cfg.Dir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	if mutate != nil {
		mutate(&cfg)
	}
	require.NoError(t, cfg.Validate())
	a, err := New(cfg, slog.New(counter))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30 s")
		}
	})
	api, err := rtc.NewClientAPI(testLogger(t))
	require.NoError(t, err)
	s := &testServer{t: t, app: a, base: "http://" + a.HTTPAddr().String(), api: api,
		http: &http.Client{Transport: &http.Transport{}}}
	t.Cleanup(s.http.CloseIdleConnections)
	s.waitFor("server ready", 10*time.Second, func() bool {
		status, _, _ := s.request(http.MethodGet, "/readyz", "", "")
		return status == http.StatusOK
	})
	return s, counter
}

type pullJSON struct {
	Local, Source, Remote, Endpoint, State, LastError, MediaSessionID, Resource string
	Attempts, Sessions                                                          int
}

// pulls lists GET /api/v1/pulls by local name.
func (s *testServer) pulls() map[string]pullJSON {
	s.t.Helper()
	status, body, _ := s.request(http.MethodGet, "/api/v1/pulls", "", "")
	require.Equal(s.t, http.StatusOK, status, body)
	var out struct{ Pulls []pullJSON }
	require.NoError(s.t, json.Unmarshal([]byte(body), &out), body)
	m := map[string]pullJSON{}
	for _, p := range out.Pulls {
		m[p.Local] = p
	}
	return m
}

// startPull posts a pull request and returns the status and body.
func (s *testServer) startPull(source, remote, local string, qty int) (int, string) {
	s.t.Helper()
	body, err := json.Marshal(map[string]any{"source": source, "remote": remote, "local": local, "qty": qty})
	require.NoError(s.t, err)
	status, resp, _ := s.request(http.MethodPost, "/api/v1/pulls", "application/json", string(body))
	return status, resp
}

// receiving reports whether stream name is publishing with video and audio frames counted.
func (s *testServer) receiving(name string) bool {
	st, ok := s.stream(name)
	if !ok || st["status"] != "publishing" {
		return false
	}
	for _, kind := range []string{"video", "audio"} {
		tr, _ := st[kind].(map[string]any)
		if frames, _ := tr["frames"].(float64); frames <= 0 {
			return false
		}
	}
	return true
}

// requireValidRecording checks one recorded file: codecs, duration range, clean decode.
func requireValidRecording(t *testing.T, path string, minDur, maxDur float64) {
	t.Helper()
	p := probeFile(t, path)
	require.Equal(t, ".mp4", filepath.Ext(path))
	require.Equal(t, []string{"h264", "opus"}, p.Codecs())
	t.Logf("%s: %.3f s", filepath.Base(path), p.Duration)
	require.GreaterOrEqual(t, p.Duration, minDur)
	require.LessOrEqual(t, p.Duration, maxDur)
	require.Empty(t, decodeErrors(t, path))
}

// Acceptance a: one H.264 + Opus stream on A, pulled 20 times by B as Stream-1 … Stream-20; the
// brief's start script records all 20 on B, the stop loop ends them after 20 s, and every file is
// valid.
func TestPullTwentyCopiesRecordedByScript(t *testing.T) {
	if testing.Short() {
		t.Skip("records for 20 s")
	}
	a := startServer(t, nil)
	b, errs := startServerCounting(t, nil)
	a.publish("cam", media.H264)
	a.waitFor("cam publishing on A", 20*time.Second, func() bool { return a.receiving("cam") })

	asked := time.Now()
	status, body := b.startPull(a.base, "cam", "Stream-", 20)
	require.Equal(t, http.StatusCreated, status, body)
	b.waitFor("Stream-1 … Stream-20 receiving on B", 10*time.Second, func() bool {
		for i := 1; i <= 20; i++ {
			if !b.receiving("Stream-" + itoa(i)) {
				return false
			}
		}
		return true
	})
	t.Logf("20 pulls receiving %.1f s after the request", time.Since(asked).Seconds())
	pulls := b.pulls()
	require.Len(t, pulls, 20)
	for i := 1; i <= 20; i++ {
		p := pulls["Stream-"+itoa(i)]
		require.Equal(t, "playing", p.State, "Stream-%d: %+v", i, p)
		require.Equal(t, a.base+"/whep/cam", p.Endpoint)
	}

	// The 20 s count from the first start call: the script itself takes a while.
	started := time.Now()
	runScript(t, b, startScript, 20)
	allStarted := time.Now()
	b.waitFor("20 recordings", 10*time.Second, func() bool { return activeRecordings(t, b) == 20 })
	time.Sleep(time.Until(started.Add(20 * time.Second))) // the scenario: record for 20 s
	stopping := time.Now()
	runScript(t, b, stopScript, 20)
	stopped := time.Now()
	require.Equal(t, 0, activeRecordings(t, b))
	// Each file lasts at least from the last start call to the first stop call, and at most from
	// the first start call to the last stop call plus a GOP of pre-roll: the scripts are slow on a
	// busy machine, and what is checked is that nothing between the calls is missing.
	minDur, maxDur := stopping.Sub(allStarted).Seconds()-1, stopped.Sub(started).Seconds()+2.5
	t.Logf("start script %.1f s, stop script %.1f s: files must last %.1f–%.1f s",
		allStarted.Sub(started).Seconds(), stopped.Sub(stopping).Seconds(), minDur, maxDur)

	segs := b.segments("")
	require.Len(t, segs, 20)
	seen := map[string]bool{}
	for _, seg := range segs {
		seen[seg.Stream] = true
		t.Run(seg.Stream, func(t *testing.T) {
			require.Equal(t, "closed", seg.State)
			requireValidRecording(t, filepath.Join(b.app.store.Dir(), seg.Path), minDur, maxDur)
		})
	}
	require.Len(t, seen, 20)
	require.Zero(t, errs.errors.Load(), "errors logged on B: %v", errs.messages())
}

// Acceptance b (and the record policy on pulled streams): B pulls cam as Auto-1, recorded by
// record.auto=match, and as Man, recorded on request. The publisher on A leaves and comes back
// 5 s later: both pulls reconnect by themselves, the local streams stay (same media session), and
// each recording goes on as a new segment of the same recording. Nothing is logged at error
// level on B and every file is valid.
func TestPullReconnectsAndRecordingContinues(t *testing.T) {
	if testing.Short() {
		t.Skip("waits through a 5 s outage")
	}
	a := startServer(t, nil)
	b, errs := startServerCounting(t, func(c *config.Config) {
		c.Record.Auto, c.Record.Streams = "match", []string{"Auto-*"}
	})
	pub := a.publish("cam", media.H264)
	a.waitFor("cam publishing on A", 20*time.Second, func() bool { return a.receiving("cam") })

	status, body := b.startPull(a.base, "cam", "Auto-", 1)
	require.Equal(t, http.StatusCreated, status, body)
	status, body = b.startPull(a.base+"/whep/cam", "", "Man", 0) // a full WHEP endpoint
	require.Equal(t, http.StatusCreated, status, body)
	b.waitFor("both pulls receiving", 10*time.Second, func() bool { return b.receiving("Auto-1") && b.receiving("Man") })
	status, body, _ = b.request(http.MethodPost, "/api/v1/streams/Man/recording", "application/json", "{}")
	require.Equal(t, http.StatusCreated, status, body)
	b.waitFor("the automatic recording of Auto-1", 5*time.Second, func() bool {
		st, _, _ := b.request(http.MethodGet, "/api/v1/streams/Auto-1/recording", "", "")
		return st == http.StatusOK
	})
	ids := map[string]string{"Auto-1": b.streamID("Auto-1"), "Man": b.streamID("Man")}
	recording := func(name string) map[string]any {
		st, body, _ := b.request(http.MethodGet, "/api/v1/streams/"+name+"/recording", "", "")
		require.Equal(t, http.StatusOK, st, body)
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &r))
		return r
	}
	b.waitFor("3 s recorded", 10*time.Second, func() bool {
		return recording("Auto-1")["duration"].(float64) >= 3 && recording("Man")["duration"].(float64) >= 3
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	require.NoError(t, pub.Close(ctx))
	cancel()
	b.waitFor("both pulls retrying", 15*time.Second, func() bool {
		p := b.pulls()
		return p["Auto-1"].State == "retrying" && p["Man"].State == "retrying"
	})
	p := b.pulls()
	t.Logf("while A has no publisher: %+v", p["Man"])
	require.NotEmpty(t, p["Man"].LastError)
	for name, id := range ids { // the local streams are held, their recordings go on
		require.Equal(t, id, b.streamID(name), name)
		require.Equal(t, "recording", recording(name)["state"], name)
	}
	time.Sleep(5 * time.Second) // the scenario: the publisher comes back 5 s later
	a.publish("cam", media.H264)

	b.waitFor("both pulls playing again", 30*time.Second, func() bool {
		p := b.pulls()
		return p["Auto-1"].State == "playing" && p["Auto-1"].Sessions == 2 &&
			p["Man"].State == "playing" && p["Man"].Sessions == 2
	})
	for name, id := range ids {
		require.Equal(t, id, b.streamID(name), "%s kept its media session", name)
	}
	b.waitFor("a second segment with 3 s in it", 20*time.Second, func() bool {
		for _, name := range []string{"Auto-1", "Man"} {
			r := recording(name)
			if r["segments"].(float64) < 2 || r["state"] != "recording" {
				return false
			}
		}
		return len(b.segments("stream=Auto-1")) == 2 && len(b.segments("stream=Man")) == 2
	})
	time.Sleep(3 * time.Second) // a few seconds of the new session
	for _, name := range []string{"Auto-1", "Man"} {
		status, body, _ := b.request(http.MethodDelete, "/api/v1/streams/"+name+"/recording", "", "")
		require.Equal(t, http.StatusOK, status, body)
		var r struct {
			State, Error, ID string
			Segments         int
		}
		require.NoError(t, json.Unmarshal([]byte(body), &r))
		require.Equal(t, "stopped", r.State, body)
		require.Empty(t, r.Error)
		require.Equal(t, 2, r.Segments, body)
		segs := b.segments("recording=" + r.ID)
		require.Len(t, segs, 2)
		for _, seg := range segs {
			require.Equal(t, "closed", seg.State)
			requireValidRecording(t, filepath.Join(b.app.store.Dir(), seg.Path), 2, 15)
		}
	}
	require.Zero(t, errs.errors.Load(), "errors logged on B: %v", errs.messages())
}

// Acceptance c: terminating a pull removes its local stream and closes its recording cleanly; a
// pull of a node or a stream that does not exist retries with its error in view; the Web Call
// Server pull API does the same.
func TestPullTerminateAndUnreachableRemotes(t *testing.T) {
	a := startServer(t, nil)
	b := startServer(t, nil)
	a.publish("cam", media.H264)
	a.waitFor("cam publishing on A", 20*time.Second, func() bool { return a.receiving("cam") })

	status, body := b.startPull(a.base, "cam", "Term", 0)
	require.Equal(t, http.StatusCreated, status, body)
	require.Contains(t, body, `"state":"playing"`, "the answer waits for the first attempt's outcome")
	b.waitFor("Term receiving", 10*time.Second, func() bool { return b.receiving("Term") })
	status, body = b.startPull(a.base, "cam", "Term", 0)
	require.Equal(t, http.StatusConflict, status, body)
	status, body = b.startPull(a.base, "cam", "", 0) // local defaults to the remote name
	require.Equal(t, http.StatusCreated, status, body)
	status, body = b.startPull(a.base, "cam", "cam", 0)
	require.Equal(t, http.StatusConflict, status, body)

	status, body, _ = b.request(http.MethodPost, "/api/v1/streams/Term/recording", "application/json", "{}")
	require.Equal(t, http.StatusCreated, status, body)
	b.waitFor("2 s recorded", 10*time.Second, func() bool {
		_, body, _ := b.request(http.MethodGet, "/api/v1/streams/Term/recording", "", "")
		return recordedSeconds(t, body) >= 2
	})
	status, body, _ = b.request(http.MethodDelete, "/api/v1/pulls/Term", "", "")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `"state":"stopped"`)
	_, found := b.stream("Term")
	require.False(t, found, "the local stream is gone")
	require.NotContains(t, b.pulls(), "Term")
	segs := b.segments("stream=Term")
	require.Len(t, segs, 1)
	require.Equal(t, "closed", segs[0].State, "the file is final when DELETE answers")
	requireValidRecording(t, filepath.Join(b.app.store.Dir(), segs[0].Path), 1.5, 10)
	status, body, _ = b.request(http.MethodDelete, "/api/v1/pulls/Term", "", "")
	require.Equal(t, http.StatusNotFound, status, body)

	// A stream A does not have, and a node that does not exist.
	status, body = b.startPull(a.base, "nosuch", "Missing", 0)
	require.Equal(t, http.StatusCreated, status, body)
	require.Contains(t, body, `"state":"retrying"`, body)
	status, body, _ = b.request(http.MethodPost, "/rest-api/pull/pull", "application/json",
		`{"uri":"http://127.0.0.1:1","localStreamName":"Nowhere","remoteStreamName":"cam"}`)
	require.Equal(t, http.StatusOK, status, body)
	b.waitFor("both retried twice", 15*time.Second, func() bool {
		p := b.pulls()
		return p["Missing"].Attempts >= 2 && p["Nowhere"].Attempts >= 2
	})
	p := b.pulls()
	t.Logf("missing stream: %s", p["Missing"].LastError)
	t.Logf("missing node: %s", p["Nowhere"].LastError)
	require.Equal(t, "retrying", p["Missing"].State)
	require.Contains(t, p["Missing"].LastError, "404: Not Found") // the status only: no remote page is echoed
	require.Equal(t, "retrying", p["Nowhere"].State)
	require.Contains(t, p["Nowhere"].LastError, "connection refused")
	_, found = b.stream("Missing")
	require.False(t, found, "no local stream before media")

	status, body, _ = b.request(http.MethodPost, "/rest-api/pull/find_all", "application/json", "")
	require.Equal(t, http.StatusOK, status, body)
	require.NotContains(t, strings.TrimSpace(body), "\n", "compact JSON on one line")
	var list []map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	byName := map[string]map[string]string{}
	for _, e := range list {
		byName[e["localStreamName"]] = e
	}
	require.Equal(t, "PLAYING", byName["cam"]["status"])
	require.Equal(t, b.streamID("cam"), byName["cam"]["localMediaSessionId"])
	require.NotEmpty(t, byName["cam"]["remoteMediaSessionId"])
	require.Equal(t, "FAILED", byName["Nowhere"]["status"])
	require.Equal(t, "http://127.0.0.1:1", byName["Nowhere"]["uri"])
	status, body, _ = b.request(http.MethodPost, "/rest-api/pull/pull", "application/json",
		`{"uri":"`+a.base+`","localStreamName":"Nowhere","remoteStreamName":"cam"}`)
	require.Equal(t, http.StatusConflict, status, body)
	status, body, _ = b.request(http.MethodPost, "/rest-api/pull/pull", "application/json", `{"uri":"wss://x:8443"}`)
	require.Equal(t, http.StatusBadRequest, status, body)
	for _, name := range []string{"Nowhere", "Missing", "cam"} {
		status, body, _ = b.request(http.MethodPost, "/rest-api/pull/terminate", "application/json",
			`{"localStreamName":"`+name+`"}`)
		require.Equal(t, http.StatusOK, status, body)
	}
	status, body, _ = b.request(http.MethodGet, "/rest-api/pull/find_all", "", "")
	require.Equal(t, http.StatusNotFound, status, body)
	status, body, _ = b.request(http.MethodPost, "/rest-api/pull/terminate", "application/json", `{"localStreamName":"cam"}`)
	require.Equal(t, http.StatusNotFound, status, body)
}
