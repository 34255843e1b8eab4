package app

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
)

// Fifty recordings stopped at once: every stop call returns and every file is final and valid.
// A load test: .ci/run runs it without the race detector, which would starve fifty publishers
// on a small machine.
// (How long the stops take is measured by BenchmarkStopRecordings, not asserted here.)
func TestFiftyStopsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 50 publishers")
	}
	if raceEnabled {
		t.Skip("a load test: run without -race (.ci/run does)")
	}
	s := startServer(t, nil)
	const n = 50
	var wg sync.WaitGroup
	// Publishers connect one after the other: fifty DTLS handshakes at once under the race
	// detector on two cores is a test of the machine, not of stopping.
	for i := range n {
		s.publishWith(fmt.Sprintf("many-%02d", i), media.H264, "240p", nil)
	}
	for i := range n {
		name := fmt.Sprintf("many-%02d", i)
		s.waitFor(name+" publishing", 60*time.Second, func() bool { return s.publishing(name) })
		status, body, _ := s.request(http.MethodPost, "/api/v1/streams/"+name+"/recording", "application/json", "{}")
		require.Equal(t, http.StatusCreated, status, body)
	}
	s.waitFor("every recording has media", 60*time.Second, func() bool {
		for i := range n {
			_, body, _ := s.request(http.MethodGet, fmt.Sprintf("/api/v1/streams/many-%02d/recording", i), "", "")
			if recordedSeconds(t, body) < 1 {
				return false
			}
		}
		return true
	})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/api/v1/streams/many-%02d/recording", s.base, i), nil)
			resp, err := s.http.Do(req)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
				}
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "stop %d", i)
	}
	// One segment per stream on a quiet machine; an overloaded one may starve a publisher for
	// seconds, and the gap rightly starts a new segment. What counts here: every stream has its
	// media and every file is final and valid once the stops have returned.
	segs := s.segments("")
	streams := map[string]bool{}
	for _, seg := range segs {
		streams[seg.Stream] = true
	}
	require.Len(t, streams, n)
	t.Logf("%d segments for %d streams", len(segs), n)
	for _, seg := range segs {
		require.Equal(t, "closed", seg.State)
		path := filepath.Join(s.app.store.Dir(), seg.Path)
		require.False(t, strings.HasSuffix(path, ".part"))
		p := probeFile(t, path)
		require.Equal(t, []string{"h264", "opus"}, p.Codecs())
		require.Empty(t, decodeErrors(t, path))
	}
}

// A name published twice gives two recordings, never one overwriting the other; templates and
// names that try to leave the recordings directory are refused.
func TestRepublishedNameAndUnsafeNames(t *testing.T) {
	hookOut := filepath.Join(t.TempDir(), "hook.log")
	script := filepath.Join(t.TempDir(), "hook.sh")
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho \"$1 $2\" >> "+hookOut+"\n"), 0o755))
	s := startServer(t, func(c *config.Config) {
		c.Record.Auto = "match"
		c.Record.Streams = []string{"same*"}
		c.Record.Template = "{streamName}" // the same name every time, on purpose
		c.Record.OnRecordHookScript = script
	})
	for round := range 2 {
		pub := s.publish("same", media.VP8)
		s.waitFor("automatic recording", 15*time.Second, func() bool {
			_, body, _ := s.request(http.MethodGet, "/api/v1/streams/same/recording", "", "")
			return strings.Contains(body, `"state":"recording"`) && recordedSeconds(t, body) >= 1
		})
		status, body, _ := s.request(http.MethodDelete, "/api/v1/streams/same/recording", "", "")
		require.Equal(t, http.StatusOK, status, body)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		require.NoError(t, pub.Close(ctx))
		cancel()
		s.waitFor("stream gone", 10*time.Second, func() bool { _, ok := s.stream("same"); return !ok })
		require.Len(t, s.segments("stream=same"), round+1)
	}
	segs := s.segments("stream=same")
	require.NotEqual(t, segs[0].Path, segs[1].Path)
	for _, seg := range segs {
		require.FileExists(t, filepath.Join(s.app.store.Dir(), seg.Path))
	}
	s.waitFor("hook ran for both files", 10*time.Second, func() bool {
		b, _ := os.ReadFile(hookOut)
		return strings.Count(string(b), "\n") == 2
	})
	b, err := os.ReadFile(hookOut)
	require.NoError(t, err)
	for _, seg := range segs {
		require.Contains(t, string(b), "same "+filepath.Join(s.app.store.Dir(), seg.Path)+"\n")
	}

	s.publish("other", media.H264)
	s.waitFor("other publishing", 15*time.Second, func() bool { return s.publishing("other") })
	for _, tmpl := range []string{"../escape", "{streamName}/../../x", "/etc/passwd", "a/b", ".hidden", "{nope}"} {
		status, body, _ := s.request(http.MethodPost, "/api/v1/streams/other/recording", "application/json",
			`{"template":"`+tmpl+`"}`)
		require.Equal(t, http.StatusBadRequest, status, "template %q: %s", tmpl, body)
		requireJSONMessage(t, body)
	}
	status, body, _ := s.request(http.MethodPost, "/rest-api/stream/startRecording", "application/json",
		`{"mediaSessionId":"`+s.streamID("other")+`","fileName":"../../etc/cron.d/x"}`)
	require.Equal(t, http.StatusBadRequest, status, body)
	entries, err := os.ReadDir(filepath.Dir(s.app.store.Dir()))
	require.NoError(t, err)
	for _, e := range entries {
		require.NotEqual(t, "x", e.Name())
	}
}

// The recordings API: listing with filters, download with Range, delete, and conflicts.
func TestRecordingsAPI(t *testing.T) {
	s := startServer(t, nil)
	s.publish("api-cam", media.H264)
	s.waitFor("publishing", 15*time.Second, func() bool { return s.publishing("api-cam") })
	status, body, _ := s.request(http.MethodPost, "/api/v1/streams/api-cam/recording", "application/json", `{"rotation":"1s"}`)
	require.Equal(t, http.StatusCreated, status, body)
	status, body, _ = s.request(http.MethodPost, "/api/v1/streams/api-cam/recording", "application/json", `{}`)
	require.Equal(t, http.StatusConflict, status, body)
	s.waitFor("two segments", 20*time.Second, func() bool { return len(s.segments("stream=api-cam")) >= 3 })

	open := s.segments("stream=api-cam&state=recording")
	require.Len(t, open, 1)
	status, body, _ = s.request(http.MethodDelete, "/api/v1/recordings/"+open[0].ID, "", "")
	require.Equal(t, http.StatusConflict, status, body)

	status, body, _ = s.request(http.MethodDelete, "/api/v1/streams/api-cam/recording", "", "")
	require.Equal(t, http.StatusOK, status, body)
	segs := s.segments("stream=api-cam")
	require.GreaterOrEqual(t, len(segs), 3)
	require.Empty(t, s.segments("stream=nobody"))
	require.Len(t, s.segments("stream=api-cam&limit=1&offset=1"), 1)
	from := segs[1].Start.Add(100 * time.Millisecond).Format(time.RFC3339Nano) // past the last frame of segment 1
	require.Len(t, s.segments("stream=api-cam&from="+from), len(segs)-1)

	// Download whole and by range.
	seg := segs[0]
	local, err := os.ReadFile(filepath.Join(s.app.store.Dir(), seg.Path))
	require.NoError(t, err)
	status, whole, hdr := s.request(http.MethodGet, "/api/v1/recordings/"+seg.ID, "", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "video/mp4", hdr.Get("Content-Type"))
	require.Equal(t, "attachment; filename="+seg.Path, hdr.Get("Content-Disposition"), "curl -OJ saves it under its name")
	require.Equal(t, sha256.Sum256(local), sha256.Sum256([]byte(whole)))
	req, _ := http.NewRequest(http.MethodGet, s.base+"/api/v1/recordings/"+seg.ID, nil)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := s.http.Do(req)
	require.NoError(t, err)
	part, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusPartialContent, resp.StatusCode)
	require.Equal(t, local[100:200], part)

	status, body, _ = s.request(http.MethodDelete, "/api/v1/recordings/"+seg.ID, "", "")
	require.Equal(t, http.StatusNoContent, status, body)
	require.NoFileExists(t, filepath.Join(s.app.store.Dir(), seg.Path))
	status, _, _ = s.request(http.MethodGet, "/api/v1/recordings/"+seg.ID, "", "")
	require.Equal(t, http.StatusNotFound, status)
	require.Len(t, s.segments("stream=api-cam&state=deleted"), 1, "the catalog records the deletion")
	listed := s.segments("stream=api-cam")
	require.Len(t, listed, len(segs), "a deleted segment stays listed")
	require.Equal(t, "deleted", listed[0].State)
	require.Equal(t, seg.ID, listed[0].ID)
	status, _, _ = s.request(http.MethodGet, "/api/v1/recordings/999999", "", "")
	require.Equal(t, http.StatusNotFound, status)
	status, body, _ = s.request(http.MethodGet, "/api/v1/recordings?from=yesterday", "", "")
	require.Equal(t, http.StatusBadRequest, status, body)
	status, body, _ = s.request(http.MethodDelete, "/api/v1/streams/api-cam/recording", "", "")
	require.Equal(t, http.StatusNotFound, status, body)
	status, body, _ = s.request(http.MethodPost, "/api/v1/streams/nobody/recording", "application/json", "{}")
	require.Equal(t, http.StatusNotFound, status, body)
	status, body, _ = s.request(http.MethodPost, "/api/v1/streams/api-cam/recording", "application/json", `{"rotation":"soon"}`)
	require.Equal(t, http.StatusBadRequest, status, body)
	status, body, _ = s.request(http.MethodPost, "/api/v1/streams/api-cam/recording", "application/json", `{"format":"webm"}`)
	require.Equal(t, http.StatusBadRequest, status, body, "H.264 cannot go to WebM")
	require.Contains(t, body, "H.264 cannot be recorded in WebM; use mp4")
}
