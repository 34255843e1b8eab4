package app

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
)

// The recording-start script users run against Web Call Server, verbatim with its loop closed,
// and the matching stop loop, against the address of the test server.
const startScript = `
for i in ` + "`seq 1 $qty`" + `; do
  DATA='{"name":"Stream-'$i'", "published":true, "display":["metrics"]}'
  curl --data "$DATA" -X POST -H "Content-Type: application/json" \
       http://localhost:8081/rest-api/stream/find > stream.txt
  mediaSession=` + "`grep -P -o '(?<=\\\"mediaSessionId\\\"\\:\\\").*(?=\\\"\\,\\\"name\\\")' stream.txt`" + `
  DATA_rec='{"mediaSessionId":"'$mediaSession'", "config":{ }}'
  curl --data "$DATA_rec" -X POST -H "Content-Type: application/json" \
       http://localhost:8081/rest-api/stream/startRecording &
done
wait
`

const stopScript = `
for i in ` + "`seq 1 $qty`" + `; do
  DATA='{"name":"Stream-'$i'", "published":true}'
  curl --data "$DATA" -X POST -H "Content-Type: application/json" \
       http://localhost:8081/rest-api/stream/find > stream.txt
  mediaSession=` + "`grep -P -o '(?<=\\\"mediaSessionId\\\"\\:\\\").*(?=\\\"\\,\\\"name\\\")' stream.txt`" + `
  DATA_rec='{"mediaSessionId":"'$mediaSession'"}'
  curl --data "$DATA_rec" -X POST -H "Content-Type: application/json" \
       http://localhost:8081/rest-api/stream/stopRecording &
done
wait
`

func runScript(t *testing.T, s *testServer, script string, qty int) {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "grep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "script.sh")
	require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(script, "http://localhost:8081", s.base)), 0o600))
	cmd := exec.Command("bash", path)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "qty="+itoa(qty))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
}

// activeRecordings counts recorder/find_all entries.
func activeRecordings(t *testing.T, s *testServer) int {
	t.Helper()
	status, body, _ := s.request(http.MethodPost, "/rest-api/recorder/find_all", "application/json", "{}")
	if status == http.StatusNotFound {
		return 0
	}
	require.Equal(t, http.StatusOK, status, body)
	var list []map[string]string
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	return len(list)
}

type segmentJSON struct {
	ID, RecordingID, Stream, Path, Container, VideoCodec, AudioCodec, State, DeleteReason string
	Start, End                                                                            time.Time
	Duration                                                                              float64
	Bytes                                                                                 int64
	Segment                                                                               int
}

func (s *testServer) segments(query string) []segmentJSON {
	s.t.Helper()
	if !strings.Contains(query, "limit=") {
		query += "&limit=1000"
	}
	status, body, _ := s.request(http.MethodGet, "/api/v1/recordings?"+query, "", "")
	require.Equal(s.t, http.StatusOK, status, body)
	var out struct{ Recordings []segmentJSON }
	require.NoError(s.t, json.Unmarshal([]byte(body), &out))
	return out.Recordings
}

// Ten live streams (five H.264, five VP8), recorded by the brief's start script and stopped by the
// matching stop loop after 20 s: every file has the right codecs and container, lasts from 19 s
// to 20 s plus one GOP of pre-roll, and decodes without a single error.
func TestWCSScriptRecordsTenStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("records for 20 s")
	}
	s := startServer(t, nil)
	var wg sync.WaitGroup
	for i := 1; i <= 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codec := media.H264
			if i > 5 {
				codec = media.VP8
			}
			s.publish("Stream-"+itoa(i), codec)
		}()
	}
	wg.Wait()
	s.waitFor("10 streams publishing", 30*time.Second, func() bool {
		for i := 1; i <= 10; i++ {
			if !s.publishing("Stream-" + itoa(i)) {
				return false
			}
		}
		return true
	})

	// The 20 s count from the first start call: the script itself takes a while.
	started := time.Now()
	runScript(t, s, startScript, 10)
	s.waitFor("10 recordings", 10*time.Second, func() bool { return activeRecordings(t, s) == 10 })
	_, body, _ := s.request(http.MethodPost, "/rest-api/stream/find", "application/json", `{"name":"Stream-3"}`)
	require.Contains(t, body, `"record":true`)

	time.Sleep(time.Until(started.Add(20 * time.Second))) // the scenario: record for 20 s
	runScript(t, s, stopScript, 10)
	require.Equal(t, 0, activeRecordings(t, s))

	segs := s.segments("")
	require.Len(t, segs, 10)
	for _, seg := range segs {
		t.Run(seg.Stream, func(t *testing.T) {
			require.Equal(t, "closed", seg.State)
			path := filepath.Join(s.app.store.Dir(), seg.Path)
			p := probeFile(t, path)
			if seg.VideoCodec == "h264" {
				require.Equal(t, ".mp4", filepath.Ext(path))
				require.Equal(t, []string{"h264", "opus"}, p.Codecs())
			} else {
				require.Equal(t, ".webm", filepath.Ext(path))
				require.Equal(t, []string{"vp8", "opus"}, p.Codecs())
			}
			t.Logf("%s: %.3f s, %d bytes", seg.Path, p.Duration, seg.Bytes)
			require.GreaterOrEqual(t, p.Duration, 19.0)
			require.LessOrEqual(t, p.Duration, 22.5)
			require.Empty(t, decodeErrors(t, path))
		})
	}
}
