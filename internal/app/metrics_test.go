package app

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/metrics"
	"github.com/vigilrec/vigil/internal/publish"
	"github.com/vigilrec/vigil/internal/testutil"
)

// scrapedMetrics is one parsed scrape of GET /metrics.
type scrapedMetrics map[string]*dto.MetricFamily

// scrapeMetrics fetches /metrics, parses it with the Prometheus text parser and fails on any
// duplicate series.
func (s *testServer) scrapeMetrics() scrapedMetrics {
	s.t.Helper()
	resp, err := s.http.Get(s.base + "/metrics")
	require.NoError(s.t, err)
	defer resp.Body.Close()
	require.Equal(s.t, http.StatusOK, resp.StatusCode)
	require.Contains(s.t, resp.Header.Get("Content-Type"), "text/plain")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(s.t, err)
	seen := map[string]bool{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := name + "{" + strings.Join(labels, ",") + "}"
			require.False(s.t, seen[key], "duplicate series %s", key)
			seen[key] = true
		}
	}
	return fams
}

// get returns the value of the series of family name whose labels include the pairs in labels;
// ok is false when there is none.
func (m scrapedMetrics) get(name string, labels ...string) (float64, bool) {
	f, ok := m[name]
	if !ok {
		return 0, false
	}
next:
	for _, s := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case s.GetGauge() != nil:
			return s.GetGauge().GetValue(), true
		case s.GetCounter() != nil:
			return s.GetCounter().GetValue(), true
		case s.GetHistogram() != nil:
			return float64(s.GetHistogram().GetSampleCount()), true
		}
		return s.GetUntyped().GetValue(), true
	}
	return 0, false
}

// value is get for a series that must exist (0 when it does not, which the caller's condition
// then sees).
func (m scrapedMetrics) value(name string, labels ...string) float64 {
	v, _ := m.get(name, labels...)
	return v
}

// has reports whether a sample named name is in the scrape (histogram and summary samples carry
// _bucket, _sum and _count suffixes).
func (m scrapedMetrics) has(name string) bool {
	if _, ok := m[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f, ok := m[base]; ok && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
				return true
			}
		}
	}
	return false
}

// Acceptance (a): five streams and three recordings show in the WCS families of a real scrape,
// the recorder's writes are counted and timed, and everything goes back to zero when it stops.
func TestMetricsCountStreamsAndRecordings(t *testing.T) {
	s := startServer(t, nil)
	names := []string{"m-1", "m-2", "m-3", "m-4", "m-5"}
	var mu sync.Mutex
	pubs := map[string]*publish.Session{}
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codec := media.H264
			if i%2 == 1 {
				codec = media.VP8
			}
			p := s.publish(name, codec)
			mu.Lock()
			pubs[name] = p
			mu.Unlock()
		}()
	}
	wg.Wait()
	s.waitFor("5 streams publishing", 30*time.Second, func() bool {
		for _, name := range names {
			if !s.publishing(name) {
				return false
			}
		}
		return true
	})
	for _, name := range names[:3] {
		status, body, _ := s.request(http.MethodPost, "/api/v1/streams/"+name+"/recording", "application/json", "{}")
		require.Equal(t, http.StatusCreated, status, body)
	}

	var m scrapedMetrics
	s.waitFor("5 streams and 3 recordings in /metrics", 20*time.Second, func() bool {
		m = s.scrapeMetrics()
		return m.value("streams_stats", "param", "streams_webrtc_in") == 5 &&
			m.value("recording_stats", "param", "recording_sessions") == 3
	})
	require.Equal(t, 5.0, m.value("vigil_streams_in"))
	require.Equal(t, 3.0, m.value("vigil_recorders_active"))
	require.Equal(t, 0.0, m.value("degraded_streams_stats", "param", "degraded_streams"))
	for _, name := range names {
		require.Positive(t, m.value("vigil_stream_packets_total", "stream", name, "kind", "video"), name)
	}
	s.waitFor("segment writes counted and timed", 20*time.Second, func() bool {
		m = s.scrapeMetrics()
		return m.value("vigil_recorder_bytes_written_total") > 0 && m.value("vigil_recorder_write_seconds") > 0
	})

	for _, name := range names[:3] {
		req, err := http.NewRequest(http.MethodDelete, s.base+"/api/v1/streams/"+name+"/recording", nil)
		require.NoError(t, err)
		resp, err := s.http.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	for _, p := range pubs {
		require.NoError(t, p.Close(t.Context()))
	}
	s.waitFor("everything back to 0 in /metrics", 30*time.Second, func() bool {
		m = s.scrapeMetrics()
		in, okIn := m.get("streams_stats", "param", "streams_webrtc_in")
		rec, okRec := m.get("recording_stats", "param", "recording_sessions")
		return okIn && okRec && in == 0 && rec == 0
	})
	require.Equal(t, 3.0, m.value("vigil_recorder_segments_closed_total"), "one segment per recording")
	_, ok := m.get("vigil_stream_packets_total")
	require.False(t, ok, "no per-stream series once the streams are gone")
}

// streamReasons returns the degraded state of stream name from the native API.
func (s *testServer) streamReasons(name string) (bool, []string) {
	s.t.Helper()
	st, ok := s.stream(name)
	require.True(s.t, ok, "stream %s is gone", name)
	var reasons []string
	for _, r := range st["reasons"].([]any) {
		reasons = append(reasons, r.(string))
	}
	return st["degraded"].(bool), reasons
}

// Acceptance (b): a publisher losing 10% of its packets for good, and a stream with a stalled
// subscriber, are each degraded with the right reason within 5 s, in the native API, the WCS API
// and /metrics; a healthy stream beside them stays clean throughout; the percentage matches.
func TestDegradedStreams(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.Hub.QueuePackets = 128 })
	s.publish("healthy", media.H264)
	s.publish("stalled", media.H264)
	s.waitFor("healthy and stalled publishing", 15*time.Second, func() bool {
		return s.publishing("healthy") && s.publishing("stalled")
	})
	lossyStart := time.Now()
	s.publishWith("lossy", media.H264, "240p", func(o *publish.Options) { o.DropEvery = 10 })
	stream, err := s.app.Hub().Get("stalled")
	require.NoError(t, err)
	stallStart := time.Now()
	stalled, err := stream.Subscribe(hub.SubscribeOptions{})
	require.NoError(t, err)
	defer stalled.Close()

	var lossyAfter, stalledAfter time.Duration
	checkHealthy := func() {
		degraded, reasons := s.streamReasons("healthy")
		require.False(t, degraded, "the healthy stream is degraded: %v", reasons)
		require.Empty(t, reasons)
	}
	s.waitFor("both impaired streams degraded", 30*time.Second, func() bool {
		checkHealthy()
		if _, reasons := s.streamReasons("lossy"); lossyAfter == 0 && slices.Contains(reasons, metrics.ReasonLoss) {
			lossyAfter = time.Since(lossyStart)
		}
		if _, reasons := s.streamReasons("stalled"); stalledAfter == 0 && slices.Contains(reasons, metrics.ReasonSubscriberDrops) {
			stalledAfter = time.Since(stallStart)
		}
		return lossyAfter > 0 && stalledAfter > 0
	})
	t.Logf("loss seen after %s, the stalled subscriber after %s", lossyAfter, stalledAfter)
	require.LessOrEqual(t, lossyAfter, 5*time.Second, "loss seen too late")
	require.LessOrEqual(t, stalledAfter, 5*time.Second, "the stalled subscriber seen too late")

	_, reasons := s.streamReasons("stalled")
	require.NotContains(t, reasons, metrics.ReasonLoss, "the stalled subscriber's stream loses nothing")
	var m scrapedMetrics
	s.waitFor("two degraded streams in /metrics", 10*time.Second, func() bool {
		m = s.scrapeMetrics()
		return m.value("degraded_streams_stats", "param", "degraded_streams") == 2
	})
	require.InDelta(t, 200.0/3, m.value("degraded_streams_stats", "param", "degraded_streams_percent"), 0.01)
	require.Equal(t, 3.0, m.value("streams_stats", "param", "streams_webrtc_in"))
	require.Equal(t, 1.0, m.value("vigil_stream_degraded", "stream", "lossy", "reason", metrics.ReasonLoss))
	require.Equal(t, 1.0, m.value("vigil_stream_degraded", "stream", "stalled", "reason", metrics.ReasonSubscriberDrops))
	_, ok := m.get("vigil_stream_degraded", "stream", "healthy")
	require.False(t, ok, "the healthy stream has no degraded series")
	require.Positive(t, m.value("vigil_stream_lost_packets", "stream", "lossy", "kind", "video"))
	require.Positive(t, m.value("vigil_stream_nacks_total", "stream", "lossy"), "the server asked for the lost packets")

	// The WCS find metrics map carries the same.
	wcs := func(name string) map[string]any {
		status, body, _ := s.request(http.MethodPost, "/rest-api/stream/find", "application/json",
			`{"name":"`+name+`","display":["metrics"]}`)
		require.Equal(t, http.StatusOK, status, body)
		var out []struct{ Metrics map[string]any }
		require.NoError(t, json.Unmarshal([]byte(body), &out))
		require.Len(t, out, 1)
		return out[0].Metrics
	}
	lossy := wcs("lossy")
	require.Equal(t, true, lossy["DEGRADED"])
	require.Contains(t, lossy["DEGRADED_REASONS"], metrics.ReasonLoss)
	healthy := wcs("healthy")
	require.Equal(t, false, healthy["DEGRADED"])
	require.Empty(t, healthy["DEGRADED_REASONS"])

	// Once the subscriber goes, its stream recovers within the window.
	stalled.Close()
	s.waitFor("the stalled stream clean again", 15*time.Second, func() bool {
		checkHealthy()
		degraded, _ := s.streamReasons("stalled")
		return !degraded
	})
	checkHealthy()
}

// Acceptance (c): every metric the shipped Grafana dashboard queries exists in a real scrape of a
// server with every feature configured (offload to a real S3 server included).
func TestDashboardSeriesExist(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "vigil.json"))
	require.NoError(t, err)
	names, err := metrics.DashboardMetricNames(data)
	require.NoError(t, err)

	s3 := testutil.StartS3(t)
	s := startServer(t, func(c *config.Config) {
		withS3(s3, false)(c)
		c.Record.Auto = "none"
		c.Hub.QueuePackets = 64
	})
	s.publish("cam", media.H264)
	s.waitFor("cam publishing", 15*time.Second, func() bool { return s.publishing("cam") })
	stream, err := s.app.Hub().Get("cam")
	require.NoError(t, err)
	stalled, err := stream.Subscribe(hub.SubscribeOptions{}) // makes a degraded stream, for its series
	require.NoError(t, err)
	defer stalled.Close()
	var m scrapedMetrics
	s.waitFor("a degraded stream in /metrics", 15*time.Second, func() bool {
		m = s.scrapeMetrics()
		return m.has("vigil_stream_degraded")
	})
	checked := 0
	for _, name := range names {
		require.True(t, m.has(name), "the dashboard queries %s, which the scrape lacks", name)
		checked++
	}
	require.Greater(t, checked, 15)
}
