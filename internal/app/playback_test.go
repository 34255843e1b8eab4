package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/catalog"
	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/testutil"
)

type playbackList struct {
	Spans, Gaps []struct {
		Start, End time.Time
		Duration   float64
	}
}

// export asks GET /api/v1/playback with query and keeps the file; it returns the status, the
// file's path (or the error body) and the header.
func (s *testServer) export(t *testing.T, query url.Values) (int, string, http.Header) {
	t.Helper()
	resp, err := s.http.Get(s.base + "/api/v1/playback?" + query.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, string(body), resp.Header
	}
	path := filepath.Join(t.TempDir(), "export.mp4")
	require.NoError(t, os.WriteFile(path, body, 0o644))
	return resp.StatusCode, path, resp.Header
}

// Acceptance of playback: a stream recorded with 5 s rotation for 30 s in all (22 s, a 5 s
// absence, 8 s): the list shows the gap; a 12 s range from the middle of a segment is one clean
// file of 12 s and one GOP at most, A/V together; a range across the gap keeps it or closes it;
// Chromium knows its length and seeks in it; bad ranges are refused with a message; the curl
// examples of docs/playback.md work.
func TestPlayback(t *testing.T) {
	if testing.Short() {
		t.Skip("records for 30 s")
	}
	s := startServer(t, func(c *config.Config) { c.Playback.MaxRange = config.Duration(time.Hour) })
	const cam = "pb-cam"
	record := func(seconds float64) {
		pub := s.publish(cam, media.H264)
		s.waitFor(cam+" publishing", 15*time.Second, func() bool { return s.publishing(cam) })
		status, body, _ := s.request(http.MethodPost, "/api/v1/streams/"+cam+"/recording", "application/json", `{"rotation":"5s"}`)
		require.Equal(t, http.StatusCreated, status, body)
		s.waitFor("the recording to last long enough", 60*time.Second, func() bool {
			_, body, _ := s.request(http.MethodGet, "/api/v1/streams/"+cam+"/recording", "", "")
			return recordedSeconds(t, body) >= seconds
		})
		status, body, _ = s.request(http.MethodDelete, "/api/v1/streams/"+cam+"/recording", "", "")
		require.Equal(t, http.StatusOK, status, body)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, pub.Close(ctx))
		s.waitFor(cam+" gone", 15*time.Second, func() bool { _, ok := s.stream(cam); return !ok })
	}
	record(22)
	left := time.Now()
	for time.Since(left) < 5*time.Second {
		time.Sleep(100 * time.Millisecond) // the absence is what is being recorded
	}
	record(8)

	status, body, _ := s.request(http.MethodGet, "/api/v1/playback/list?stream="+cam, "", "")
	require.Equal(t, http.StatusOK, status, body)
	var list playbackList
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list.Spans, 2, body)
	require.Len(t, list.Gaps, 1, body)
	require.GreaterOrEqual(t, list.Gaps[0].Duration, 5.0, body)
	first, second, gap := list.Spans[0], list.Spans[1], list.Gaps[0]

	t.Run("mid-segment", func(t *testing.T) {
		start := first.Start.Add(2500 * time.Millisecond)
		status, path, h := s.export(t, url.Values{"stream": {cam}, "start": {start.Format(time.RFC3339Nano)}, "duration": {"12s"}})
		require.Equal(t, http.StatusOK, status, path)
		origin, err := time.Parse(time.RFC3339Nano, h.Get("X-Playback-Start"))
		require.NoError(t, err)
		require.False(t, origin.After(start), "the file starts at the keyframe at or before the range")
		require.Less(t, start.Sub(origin), 4*time.Second, "one GOP of the clip at most")
		p := probeFile(t, path)
		t.Logf("12 s from %s: file of %.3f s from the keyframe at %s", start.Format("15:04:05.000"), p.Duration, origin.Format("15:04:05.000"))
		require.InDelta(t, start.Add(12*time.Second).Sub(origin).Seconds(), p.Duration, 0.1)
		require.Equal(t, []string{"h264", "opus"}, p.Codecs())
		require.True(t, firstFrameIsKey(t, path))
		require.Empty(t, decodeErrors(t, path))
		require.InDelta(t, p.Stream("h264").StartTime, p.Stream("opus").StartTime, 0.040, "A/V offset")
		// Its size is known in advance: byte ranges of it are the whole file's bytes.
		require.Equal(t, "bytes", h.Get("Accept-Ranges"))
		whole, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Empty(t, h.Get("Content-Length"), "a plain GET is streamed at once")
		req, err := http.NewRequest(http.MethodGet, s.base+"/api/v1/playback?"+url.Values{"stream": {cam},
			"start": {start.Format(time.RFC3339Nano)}, "duration": {"12s"}}.Encode(), nil)
		require.NoError(t, err)
		for _, tc := range []struct {
			rng          string
			status       int
			from, to     int
			contentRange string
		}{
			{"bytes=1000-1999", http.StatusPartialContent, 1000, 2000, fmt.Sprintf("bytes 1000-1999/%d", len(whole))},
			{"bytes=0-", http.StatusOK, 0, len(whole), ""},
			{"bytes=-500", http.StatusPartialContent, len(whole) - 500, len(whole), fmt.Sprintf("bytes %d-%d/%d", len(whole)-500, len(whole)-1, len(whole))},
			{fmt.Sprintf("bytes=%d-", len(whole)), http.StatusRequestedRangeNotSatisfiable, 0, 0, fmt.Sprintf("bytes */%d", len(whole))},
		} {
			req.Header.Set("Range", tc.rng)
			resp, err := s.http.Do(req)
			require.NoError(t, err)
			part, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, tc.status, resp.StatusCode, tc.rng)
			require.Equal(t, tc.contentRange, resp.Header.Get("Content-Range"), tc.rng)
			if tc.status != http.StatusRequestedRangeNotSatisfiable {
				require.Equal(t, strconv.Itoa(tc.to-tc.from), resp.Header.Get("Content-Length"), tc.rng)
				require.Equal(t, whole[tc.from:tc.to], part, tc.rng)
			}
		}
	})

	t.Run("across the gap", func(t *testing.T) {
		start, end := first.End.Add(-3*time.Second), second.Start.Add(3*time.Second)
		for _, gaps := range []string{"keep", "skip"} {
			status, path, h := s.export(t, url.Values{"stream": {cam}, "start": {start.Format(time.RFC3339Nano)},
				"end": {end.Format(time.RFC3339Nano)}, "gaps": {gaps}})
			require.Equal(t, http.StatusOK, status, path)
			origin, err := time.Parse(time.RFC3339Nano, h.Get("X-Playback-Start"))
			require.NoError(t, err)
			want := end.Sub(origin)
			if gaps == "skip" {
				want -= gap.End.Sub(gap.Start)
			}
			p := probeFile(t, path)
			t.Logf("gaps=%s: %.3f s (want %.3f s)", gaps, p.Duration, want.Seconds())
			require.InDelta(t, want.Seconds(), p.Duration, 0.15, "gaps=%s", gaps)
			require.Empty(t, decodeErrors(t, path))
		}
	})

	t.Run("in Chromium", func(t *testing.T) {
		chromium, err := exec.LookPath("chromium")
		if err != nil {
			t.Skipf("chromium is not installed (%v); CI installs it", err)
		}
		b := testutil.StartChromium(t, chromium)
		defer b.Stop(t)
		page := newTab(t, b)
		page.open(s.base + "/console/console.css") // any page of the server's origin
		start := first.Start.Add(2500 * time.Millisecond)
		src := "/api/v1/playback?" + url.Values{"stream": {cam}, "start": {start.Format(time.RFC3339Nano)}, "duration": {"12s"}}.Encode()
		_, _, h := s.export(t, url.Values{"stream": {cam}, "start": {start.Format(time.RFC3339Nano)}, "duration": {"12s"}})
		origin, err := time.Parse(time.RFC3339Nano, h.Get("X-Playback-Start"))
		require.NoError(t, err)
		want := start.Add(12 * time.Second).Sub(origin).Seconds()
		var got struct {
			Duration float64 `json:"duration"`
			Target   float64 `json:"target"`
			Current  float64 `json:"current"`
			Error    string  `json:"error"`
		}
		require.NoError(t, page.eval(fmt.Sprintf(`new Promise((resolve) => {
			const v = document.createElement("video");
			v.muted = true;
			document.body.append(v);
			const out = {};
			v.addEventListener("error", () => resolve({error: v.error ? v.error.message || String(v.error.code) : "error"}));
			v.addEventListener("loadedmetadata", () => {
				out.duration = v.duration;
				out.target = v.duration / 2;
				v.addEventListener("seeked", () => { out.current = v.currentTime; resolve(out); }, {once: true});
				v.currentTime = out.target;
			}, {once: true});
			v.src = %q;
		})`, src), &got))
		require.Empty(t, got.Error)
		t.Logf("<video>: duration %.3f s at loadedmetadata (file %.3f s), seeked to %.3f s for %.3f s", got.Duration, want, got.Current, got.Target)
		require.InDelta(t, want, got.Duration, 0.1, "duration at loadedmetadata")
		require.InDelta(t, got.Target, got.Current, 1.0, "currentTime after seeked")
	})

	t.Run("bad ranges", func(t *testing.T) {
		at := first.Start.Format(time.RFC3339Nano)
		for _, tc := range []struct {
			query  url.Values
			status int
			says   string
		}{
			{url.Values{"stream": {cam}, "start": {at}, "end": {first.Start.Add(-time.Second).Format(time.RFC3339Nano)}}, 400, "is not after start"},
			{url.Values{"stream": {cam}, "start": {at}, "duration": {"2h"}}, 400, "playback.max_range"},
			{url.Values{"stream": {cam}, "start": {first.Start.Add(-30 * time.Minute).Format(time.RFC3339Nano)}, "duration": {"1m"}}, 404, "no recording in the range"},
			{url.Values{"stream": {"nosuch"}, "start": {at}, "duration": {"10s"}}, 404, "has no recordings"},
			{url.Values{"stream": {cam}, "duration": {"10s"}}, 400, "start is required"},
			{url.Values{"stream": {cam}, "start": {at}}, 400, "end or duration"},
			{url.Values{"stream": {cam}, "start": {at}, "duration": {"10s"}, "gaps": {"fill"}}, 400, "keep or skip"},
		} {
			status, body, _ := s.export(t, tc.query)
			require.Equal(t, tc.status, status, "%s: %s", tc.query.Encode(), body)
			require.Contains(t, body, tc.says, tc.query.Encode())
			requireJSONMessage(t, body)
		}
	})

	t.Run("docs/playback.md", func(t *testing.T) {
		doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "playback.md"))
		require.NoError(t, err)
		urls := regexp.MustCompile(`curl (?:-OJ )?'(http://localhost:8081[^']+)'`).FindAllStringSubmatch(string(doc), -1)
		require.GreaterOrEqual(t, len(urls), 4)
		// The examples' times, in order, stand for times of this recording: a window around it,
		// then ranges inside its first span.
		times := regexp.MustCompile(`\d{4}-\d\d-\d\dT[\d:.]+Z`)
		for _, m := range urls {
			i := 0
			u := times.ReplaceAllStringFunc(m[1], func(string) string {
				i++
				switch {
				case strings.Contains(m[1], "/list"):
					return first.Start.Add(time.Duration(2*i-3) * time.Minute).UTC().Format(time.RFC3339)
				default:
					return first.Start.Add(time.Duration(2*i) * time.Second).UTC().Format(time.RFC3339Nano)
				}
			})
			u = strings.Replace(strings.Replace(u, "http://localhost:8081", s.base, 1), "stream=cam1", "stream="+cam, 1)
			resp, err := s.http.Get(u)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, u)
		}
	})
}

// framemd5 is ffmpeg's hash of every decoded frame of path, without its header lines.
func framemd5(t *testing.T, path string) string {
	t.Helper()
	requireFFmpeg(t)
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "framemd5", "-").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var keep []string
	for line := range strings.Lines(string(out)) {
		if !strings.HasPrefix(line, "#") {
			keep = append(keep, line)
		}
	}
	require.NotEmpty(t, keep)
	return strings.Join(keep, "")
}

// A range whose segments are all offloaded to S3 (their local copies deleted) is read from the
// bucket and gives the same decoded frames as when they were on disk.
func TestPlaybackFromS3(t *testing.T) {
	s3 := testutil.StartS3(t)
	s := startServer(t, func(c *config.Config) {
		withS3(s3, false)(c)
		c.Record.Rotation = "2s"
	})
	const cam = "s3-cam"
	s.publish(cam, media.H264)
	s.waitFor("8 s recorded", 60*time.Second, func() bool {
		_, body, _ := s.request(http.MethodGet, "/api/v1/streams/"+cam+"/recording", "", "")
		return strings.Contains(body, `"duration"`) && recordedSeconds(t, body) >= 8
	})
	status, body, _ := s.request(http.MethodDelete, "/api/v1/streams/"+cam+"/recording", "", "")
	require.Equal(t, http.StatusOK, status, body)
	s.waitFor("every segment uploaded", 60*time.Second, func() bool { return allUploaded(s.uploads()) })

	status, body, _ = s.request(http.MethodGet, "/api/v1/playback/list?stream="+cam, "", "")
	require.Equal(t, http.StatusOK, status, body)
	var list playbackList
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	require.Len(t, list.Spans, 1, body)
	query := url.Values{"stream": {cam}, "start": {list.Spans[0].Start.Add(1500 * time.Millisecond).Format(time.RFC3339Nano)},
		"duration": {"5s"}}
	status, local, h := s.export(t, query)
	require.Equal(t, http.StatusOK, status, local)
	require.Equal(t, "bytes", h.Get("Accept-Ranges"))

	// Offload every segment as the uploader does with delete_local_after_upload.
	for _, seg := range s.uploads() {
		require.NoError(t, os.Remove(filepath.Join(s.app.store.Dir(), seg.Path)))
		_, err := s.app.cat.Update(seg.ID, func(c *catalog.Segment) { c.Offloaded = true })
		require.NoError(t, err)
	}
	status, remote, h := s.export(t, query)
	require.Equal(t, http.StatusOK, status, remote)
	require.Equal(t, "none", h.Get("Accept-Ranges"), "streamed, its size unknown")
	require.Empty(t, decodeErrors(t, remote))
	require.Equal(t, framemd5(t, local), framemd5(t, remote), "the same frames from disk and from S3")
}
