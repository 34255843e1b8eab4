package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// A stream whose pull reconnected has a new mediaSessionId: the stop finds it again by name.
func TestStopFindsAReconnectedStreamAgain(t *testing.T) {
	var mu sync.Mutex
	var stopped []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		switch r.URL.Path {
		case "/rest-api/stream/find":
			fmt.Fprintf(w, `[{"mediaSessionId":"new-%s","name":%q,"status":"PUBLISHING"}]`, body["name"], body["name"])
		case "/rest-api/stream/stopRecording":
			id, _ := body["mediaSessionId"].(string)
			if id == "old" {
				http.Error(w, `{"status":404}`, http.StatusNotFound)
				return
			}
			mu.Lock()
			stopped = append(stopped, id)
			mu.Unlock()
		}
	}))
	defer srv.Close()
	p := &pullTopology{recorder: &node{api: nodeAPI{base: srv.URL, http: srv.Client()}}}
	r := &runner{streams: []*streamRun{{name: "Stream-1", mediaSessionID: "old"}, {name: "Stream-2", mediaSessionID: "kept"},
		{name: "Stream-3", err: errNotStarted}}}
	require.Empty(t, p.stopStreams(context.Background(), r))
	require.ElementsMatch(t, []string{"new-Stream-1", "kept"}, stopped)
	require.Equal(t, "new-Stream-1", r.streams[0].mediaSessionID)
}
