package app

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/media"
)

// The find half of the recording-start script users run against Web Call Server, verbatim but
// for the address: with Stream-1 … Stream-12 live, it must extract exactly Stream-1's id (and
// Stream-1 must not match Stream-10, 11 or 12).
const findScript = `
for i in ` + "`seq 1 $qty`" + `; do
  DATA='{"name":"Stream-'$i'", "published":true, "display":["metrics"]}'
  curl --data "$DATA" -X POST -H "Content-Type: application/json" \
       http://localhost:8081/rest-api/stream/find > stream.txt
  mediaSession=` + "`grep -P -o '(?<=\\\"mediaSessionId\\\"\\:\\\").*(?=\\\"\\,\\\"name\\\")' stream.txt`" + `
  echo "$i $mediaSession"
done
`

func TestWCSFindScript(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "grep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	s := startServer(t, nil)
	var wg sync.WaitGroup
	for i := 1; i <= 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codec := media.H264
			if i%2 == 0 {
				codec = media.VP8
			}
			s.publish("Stream-"+itoa(i), codec)
		}()
	}
	wg.Wait()
	ids := map[string]string{}
	s.waitFor("12 streams publishing", 30*time.Second, func() bool {
		status, body, _ := s.request(http.MethodGet, "/api/v1/streams", "", "")
		require.Equal(t, http.StatusOK, status)
		var list struct {
			Streams []struct{ ID, Name, Status string }
		}
		require.NoError(t, json.Unmarshal([]byte(body), &list))
		n := 0
		for _, st := range list.Streams {
			ids[st.Name] = st.ID
			if st.Status == "publishing" {
				n++
			}
		}
		return n == 12
	})

	dir := t.TempDir()
	script := strings.ReplaceAll(findScript, "http://localhost:8081", s.base)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "find.sh"), []byte(script), 0o600))
	cmd := exec.Command("bash", "find.sh")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "qty=12")
	var stderr strings.Builder
	cmd.Stderr = &stderr // curl's progress meter
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 12, string(out))
	for i, line := range lines {
		name := "Stream-" + itoa(i+1)
		require.Equal(t, itoa(i+1)+" "+ids[name], line, "script extracted the wrong id for %s", name)
	}

	// The answer is one compact line with mediaSessionId then name first.
	status, body, _ := s.request(http.MethodPost, "/rest-api/stream/find", "application/json",
		`{"name":"Stream-1","published":true,"display":["metrics"]}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 1, strings.Count(strings.TrimSpace(body), "\n")+1)
	require.True(t, strings.HasPrefix(body, `[{"mediaSessionId":"`+ids["Stream-1"]+`","name":"Stream-1",`), body)
	var found []map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &found))
	require.Len(t, found, 1)
	require.Equal(t, "PUBLISHING", found[0]["status"])
	require.Equal(t, "H264", found[0]["videoCodec"])
	require.Equal(t, "opus", found[0]["audioCodec"])
	require.Equal(t, false, found[0]["record"])
	metrics, ok := found[0]["metrics"].(map[string]any)
	require.True(t, ok, "display metrics adds the metrics map")
	for _, key := range []string{"VIDEO_WIDTH", "VIDEO_HEIGHT", "VIDEO_RATE", "VIDEO_FPS", "VIDEO_NACK", "VIDEO_PLI",
		"VIDEO_CODEC", "VIDEO_K_FRAMES", "VIDEO_P_FRAMES", "VIDEO_B_FRAMES", "VIDEO_GOP_SIZE", "VIDEO_LOST",
		"AUDIO_RATE", "AUDIO_LOST", "AUDIO_CODEC"} {
		require.Contains(t, metrics, key)
	}
	require.EqualValues(t, 320, metrics["VIDEO_WIDTH"])

	// find_all answers GET and POST; unknown names are 404 with a JSON message.
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		status, body, _ = s.request(method, "/rest-api/stream/find_all", "", "")
		require.Equal(t, http.StatusOK, status, body)
		require.NoError(t, json.Unmarshal([]byte(body), &found))
		require.Len(t, found, 12)
	}
	status, body, _ = s.request(http.MethodPost, "/rest-api/stream/find", "application/json", `{"name":"Stream-99"}`)
	require.Equal(t, http.StatusNotFound, status)
	requireJSONMessage(t, body)

	// terminate by id disconnects the publisher.
	status, body, _ = s.request(http.MethodPost, "/rest-api/stream/terminate", "application/json",
		`{"mediaSessionId":"`+ids["Stream-3"]+`"}`)
	require.Equal(t, http.StatusOK, status, body)
	_, gone := s.stream("Stream-3")
	require.False(t, gone)
	status, _, _ = s.request(http.MethodPost, "/rest-api/stream/terminate", "application/json", `{"name":"Stream-3"}`)
	require.Equal(t, http.StatusNotFound, status)
}

func itoa(i int) string { return strconv.Itoa(i) }

func requireJSONMessage(t *testing.T, body string) {
	t.Helper()
	var e struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &e), "error body is not JSON: %s", body)
	require.NotEmpty(t, e.Message, body)
}
