package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const testMetrics = `# TYPE vigil_streams_in gauge
vigil_streams_in 2
# TYPE vigil_recorders_active gauge
vigil_recorders_active 2
# TYPE vigil_streams_degraded gauge
vigil_streams_degraded 1
# TYPE vigil_recorder_writes_total counter
vigil_recorder_writes_total 40
# TYPE vigil_recorder_bytes_written_total counter
vigil_recorder_bytes_written_total 1.5e+06
# TYPE vigil_udp_receive_drops_total counter
vigil_udp_receive_drops_total 3
# TYPE vigil_disk_free_bytes gauge
vigil_disk_free_bytes 5e+09
# TYPE vigil_disk_time_to_full_seconds gauge
vigil_disk_time_to_full_seconds +Inf
# TYPE vigil_stream_packets_total counter
vigil_stream_packets_total{kind="video",stream="Stream-1"} 900
vigil_stream_packets_total{kind="audio",stream="Stream-1"} 100
vigil_stream_packets_total{kind="video",stream="Stream-2"} 1000
# TYPE vigil_stream_lost_packets gauge
vigil_stream_lost_packets{kind="video",stream="Stream-2"} 10
# TYPE vigil_stream_degraded gauge
vigil_stream_degraded{reason="loss",stream="Stream-2"} 1
`

func TestScrapeNode(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/metrics":
			fmt.Fprint(w, testMetrics)
		case "/api/v1/storage":
			fmt.Fprint(w, `{"disk":{"free":1,"low":true,"paused":false,"refusingNew":false}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	m, err := scrapeNode(context.Background(), srv.Client(), srv.URL)
	require.NoError(t, err)
	require.Equal(t, []float64{2, 2, 1, 40, 1.5e6, 3, 5e9, -1}, []float64{m.StreamsIn, m.Recording, m.Degraded,
		m.RecorderWrites, m.RecorderBytes, m.UDPDrops, m.DiskFree, m.DiskTimeToFull})
	require.Equal(t, 2000.0, m.Packets)
	require.Equal(t, 10.0, m.Lost)
	require.Equal(t, &StreamMetrics{Packets: 1000}, m.PerStream["Stream-1"])
	require.Equal(t, &StreamMetrics{Packets: 1000, Lost: 10, Degraded: true}, m.PerStream["Stream-2"])
	require.Equal(t, "low", m.Guard)

	api := nodeAPI{base: srv.URL, http: srv.Client()}
	require.True(t, api.isVigil(context.Background()))
	_, err = scrapeNode(context.Background(), srv.Client(), srv.URL+"/nothing")
	require.ErrorIs(t, err, ErrStatus)
	_, err = parseMetrics(strings.NewReader("not metrics {"))
	require.Error(t, err)
}

// The brief's script finds the id with grep; bench uses the same pattern on find's answer.
func TestFindUsesTheScriptsPattern(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rest-api/stream/find":
			fmt.Fprint(w, `[{"mediaSessionId":"abc-1","name":"Stream-1","published":true,"status":"PUBLISHING"}]`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	api := nodeAPI{base: srv.URL, http: srv.Client()}
	id, err := api.find(context.Background(), "Stream-1")
	require.NoError(t, err)
	require.Equal(t, "abc-1", id)
	err = api.stopRecording(context.Background(), "abc-1")
	require.ErrorIs(t, err, ErrStatus)
	require.ErrorContains(t, err, "404")
}

func TestScriptMediaSessionID(t *testing.T) {
	for _, tc := range []struct {
		body, id string
		ok       bool
	}{
		{`[{"mediaSessionId":"a-1","name":"Stream-1","published":true}]`, "a-1", true},
		{`[{"mediaSessionId":"a-1","name":"Stream-1"},{"mediaSessionId":"b-2","name":"Stream-2"}]`, "a-1", true},
		{`[{"name":"Stream-1","mediaSessionId":"a-1"}]`, "", false}, // the order scripts rely on
		{`[]`, "", false},
	} {
		id, ok := scriptMediaSessionID([]byte(tc.body))
		require.Equal(t, tc.ok, ok, tc.body)
		require.Equal(t, tc.id, id, tc.body)
	}
}
