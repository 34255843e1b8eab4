package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/media"
	"github.com/vigilrec/vigil/internal/recorder"
	"github.com/vigilrec/vigil/internal/rtc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type quietSource struct{}

func (quietSource) RequestKeyframe() {}
func (quietSource) Disconnect()      {}

// feeder writes a synthetic stream into the hub with arrival times it chooses, so a test can lay
// down seconds of history at once: video at 30 fps (three 1000-byte packets a frame, a keyframe
// every keyEvery frames) and Opus audio at 50 packets a second.
type feeder struct {
	st         *hub.Stream
	vseq, aseq uint16
	frame      uint32
	sent       int
	keyEvery   int
	dropEvery  int // drop every n-th video and audio packet
	videoFPS   int
	payload    int
}

func newFeeder(tb testing.TB, h *hub.Hub, name string) *feeder {
	tb.Helper()
	st, err := h.Create(name, quietSource{})
	require.NoError(tb, err)
	st.SetTracks([]hub.TrackInfo{
		{Kind: media.KindVideo, Codec: media.H264, ClockRate: 90000},
		{Kind: media.KindAudio, Codec: media.Opus, ClockRate: 48000, Channels: 2},
	})
	tb.Cleanup(st.Close)
	return &feeder{st: st, keyEvery: 60, videoFPS: 30, payload: 1000}
}

func (f *feeder) drop() bool {
	f.sent++
	return f.dropEvery > 0 && f.sent%f.dropEvery == 0
}

// run writes the media of [from, from+d).
func (f *feeder) run(from time.Time, d time.Duration) {
	payload := make([]byte, f.payload)
	audio := []byte{0xfc, 1, 2, 3}
	step := 20 * time.Millisecond
	nextFrame := time.Duration(0)
	for at := time.Duration(0); at < d; at += step {
		for ; nextFrame <= at && f.videoFPS > 0; nextFrame += time.Second / time.Duration(f.videoFPS) {
			for i := range 3 {
				f.vseq++
				if f.drop() {
					continue
				}
				f.st.Write(&media.Packet{RTP: &rtp.Packet{Header: rtp.Header{SequenceNumber: f.vseq,
					Timestamp: f.frame * 3000, Marker: i == 2}, Payload: payload}, Track: 0, Kind: media.KindVideo,
					KeyframeStart: i == 0 && int(f.frame)%f.keyEvery == 0, Arrival: from.Add(nextFrame)})
			}
			f.frame++
		}
		f.aseq++
		if f.drop() {
			continue
		}
		f.st.Write(&media.Packet{RTP: &rtp.Packet{Header: rtp.Header{SequenceNumber: f.aseq,
			Timestamp: uint32(f.aseq) * 960}, Payload: audio}, Track: 1, Kind: media.KindAudio, Arrival: from.Add(at)})
	}
}

// live lays down d of history ending now.
func (f *feeder) live(d time.Duration) { f.run(time.Now().Add(-d), d) }

// fakeRecorders serves fixed recordings.
type fakeRecorders struct {
	active []recorder.Status
	stats  recorder.Stats
	health map[string]recorder.Health
}

func (f *fakeRecorders) Active() []recorder.Status          { return f.active }
func (f *fakeRecorders) Stats() recorder.Stats              { return f.stats }
func (f *fakeRecorders) Health() map[string]recorder.Health { return f.health }
func (f *fakeRecorders) StreamHealth(name string) (recorder.Health, bool) {
	h, ok := f.health[name]
	return h, ok
}

type fakeViewers int

func (v fakeViewers) Count() int { return int(v) }

type fakeSocket struct{}

func (fakeSocket) UDPStats() (rtc.UDPStats, error) {
	return rtc.UDPStats{ReceiveBuffer: 8 << 20, Drops: 12}, nil
}

type fakeDisk struct{}

func (fakeDisk) DiskStats() DiskStats {
	return DiskStats{Free: 25 << 30, Total: 100 << 30, WriteRate: 6.5e6, TimeToFull: -1}
}

type fakeRetention struct{}

func (fakeRetention) RetentionStats() RetentionStats {
	return RetentionStats{Deleted: 3, DeletedBytes: 3 << 20, ByReason: map[string]uint64{"max_age": 1, "min_free": 2}}
}

type fakeUploads struct{}

func (fakeUploads) UploadStats() UploadStats {
	return UploadStats{Queue: 4, InFlight: 2, Uploaded: 10, Failures: 1, Bytes: 10 << 20, Latency: time.Second,
		LatencySum: 12 * time.Second, LatencyCount: 10}
}

type fakeWebhooks struct{}

func (fakeWebhooks) WebhookStats() WebhookStats {
	return WebhookStats{Delivered: 5, Failures: 1, Queue: 2}
}

type fakePulls struct{}

func (fakePulls) PullStates() map[string]int { return map[string]int{"playing": 3, "connecting": 1} }

func allFeatures(src Sources) Sources {
	src.Disk, src.Retention, src.Uploads, src.Webhooks, src.Pulls = fakeDisk{}, fakeRetention{}, fakeUploads{},
		fakeWebhooks{}, fakePulls{}
	return src
}

// scrape serves GET /metrics from a fresh registry and parses the answer.
func scrape(t *testing.T, cfg Config, src Sources) (map[string]*dto.MetricFamily, *Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(reg, cfg, src)
	require.NoError(t, err)
	return scrapeHandler(t, Handler(reg, slog.New(slog.DiscardHandler))), m
}

func scrapeHandler(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return ParseExposition(t, rec.Body)
}

// ParseExposition parses the text format and fails on any duplicate series.
func ParseExposition(t *testing.T, r io.Reader) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	require.NoError(t, err)
	seen := map[string]bool{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := make([]string, 0, len(m.GetLabel()))
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := name + "{" + strings.Join(labels, ",") + "}"
			require.False(t, seen[key], "duplicate series %s", key)
			seen[key] = true
		}
	}
	return fams
}

// value returns the value of the series of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if have[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		}
		return 0, true
	}
	return 0, false
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := value(t, fams, name, labels...)
	require.True(t, ok, "no series %s%v", name, labels)
	return v
}

func TestScrape(t *testing.T) {
	h := hub.New(hub.Config{})
	for _, name := range []string{"a", "b", "c"} {
		newFeeder(t, h, name).live(20 * time.Second)
	}
	lossy := newFeeder(t, h, "d")
	lossy.dropEvery = 10
	lossy.live(20 * time.Second)
	_, err := h.Create("pending", quietSource{})
	require.NoError(t, err)
	recs := &fakeRecorders{
		active: []recorder.Status{{Stream: "a", State: recorder.StateRecording}, {Stream: "b", State: recorder.StateRecording},
			{Stream: "gone", State: recorder.StateWaiting}},
		stats:  recorder.Stats{Writes: 10, BytesWritten: 1000, SegmentsClosed: 2, WriteErrors: 1},
		health: map[string]recorder.Health{"a": {}, "b": {}},
	}
	fams, m := scrape(t, Config{StreamSeries: 2}, Sources{Streams: h, Recorders: recs, Viewers: fakeViewers(7),
		Socket: fakeSocket{}})

	// The WCS families.
	require.Equal(t, 4.0, mustValue(t, fams, "streams_stats", "param", "streams_webrtc_in"))
	require.Equal(t, 7.0, mustValue(t, fams, "streams_stats", "param", "streams_webrtc_out"))
	require.Equal(t, 7.0, mustValue(t, fams, "streams_stats", "param", "streams_viewers"))
	require.Equal(t, 1.0, mustValue(t, fams, "degraded_streams_stats", "param", "degraded_streams"))
	require.Equal(t, 25.0, mustValue(t, fams, "degraded_streams_stats", "param", "degraded_streams_percent"))
	require.Equal(t, 2.0, mustValue(t, fams, "recording_stats", "param", "recording_sessions"))
	require.Positive(t, mustValue(t, fams, "core_stats", "param", "core_java_totalPhysicalMemorySize"))
	require.Positive(t, mustValue(t, fams, "core_stats", "param", "core_java_freePhysicalMemorySize"))
	require.Positive(t, mustValue(t, fams, "core_stats", "param", "core_threads"))
	_ = mustValue(t, fams, "gc_stats", "param", "gc_last_pause_ms")

	// Native aggregates count every stream.
	require.Equal(t, 4.0, mustValue(t, fams, "vigil_streams_in"))
	require.Equal(t, 1.0, mustValue(t, fams, "vigil_streams_pending"))
	require.Equal(t, 1.0, mustValue(t, fams, "vigil_streams_degraded"))
	require.Equal(t, 1.0, mustValue(t, fams, "vigil_streams_degraded_by_reason", "reason", ReasonLoss))
	require.Equal(t, 0.0, mustValue(t, fams, "vigil_streams_degraded_by_reason", "reason", ReasonFPSDrop))
	require.Equal(t, 3.0, mustValue(t, fams, "vigil_metrics_streams_omitted"))
	require.Positive(t, mustValue(t, fams, "vigil_media_in_bits_per_second"))
	require.Equal(t, 2.0, mustValue(t, fams, "vigil_recorders_active"))
	require.Equal(t, 1.0, mustValue(t, fams, "vigil_recorders", "state", "waiting"))
	require.Equal(t, 1000.0, mustValue(t, fams, "vigil_recorder_bytes_written_total"))
	require.Equal(t, 2.0, mustValue(t, fams, "vigil_recorder_segments_closed_total"))
	require.Equal(t, 1.0, mustValue(t, fams, "vigil_recorder_write_errors_total"))
	require.Equal(t, 12.0, mustValue(t, fams, "vigil_udp_receive_drops_total"))
	require.Contains(t, fams, "vigil_recorder_write_seconds")
	require.Contains(t, fams, "go_goroutines")
	require.Contains(t, fams, "process_cpu_seconds_total")

	// Per-stream series for the first two streams by name only.
	require.Positive(t, mustValue(t, fams, "vigil_stream_packets_total", "stream", "a", "kind", "video"))
	require.Positive(t, mustValue(t, fams, "vigil_stream_packets_total", "stream", "b", "kind", "audio"))
	require.InDelta(t, 30, mustValue(t, fams, "vigil_stream_fps", "stream", "a"), 1)
	require.Equal(t, 1.0, mustValue(t, fams, "vigil_stream_info", "stream", "a", "video_codec", "h264", "audio_codec", "opus"))
	_, ok := value(t, fams, "vigil_stream_packets_total", "stream", "c")
	require.False(t, ok, "stream c is past the cap")
	_, ok = value(t, fams, "vigil_stream_degraded")
	require.False(t, ok, "the degraded stream d is past the cap")

	// Features absent without their sources.
	for name := range fams {
		for _, prefix := range []string{"vigil_disk_", "vigil_upload_", "vigil_retention_", "vigil_webhook_", "vigil_pulls"} {
			require.False(t, strings.HasPrefix(name, prefix), "%s without its source", name)
		}
	}
	require.NotNil(t, m.WriteObserver())

	// With the cap raised, the degraded stream shows its reason.
	fams, _ = scrape(t, Config{StreamSeries: 500}, Sources{Streams: h})
	require.Equal(t, 1.0, mustValue(t, fams, "vigil_stream_degraded", "stream", "d", "reason", ReasonLoss))
	require.Equal(t, 0.0, mustValue(t, fams, "vigil_metrics_streams_omitted"))
	_, ok = value(t, fams, "vigil_recorders_active")
	require.False(t, ok, "no recorder source, no recorder series")
	_, ok = value(t, fams, "vigil_streams_out")
	require.False(t, ok)
	require.Equal(t, 0.0, mustValue(t, fams, "recording_stats", "param", "recording_sessions"))
}

func TestFeatureSeries(t *testing.T) {
	fams, _ := scrape(t, Config{}, allFeatures(Sources{Streams: hub.New(hub.Config{})}))
	require.Equal(t, 0.75, mustValue(t, fams, "vigil_disk_used_ratio"))
	require.Equal(t, float64(25<<30), mustValue(t, fams, "vigil_disk_free_bytes"))
	ttf := mustValue(t, fams, "vigil_disk_time_to_full_seconds")
	require.True(t, ttf > 1e300, "not filling: +Inf, got %v", ttf)
	require.Equal(t, 2.0, mustValue(t, fams, "vigil_retention_deleted_by_reason_total", "reason", "min_free"))
	require.Equal(t, 4.0, mustValue(t, fams, "vigil_upload_queue"))
	require.Equal(t, 1.0, mustValue(t, fams, "vigil_upload_failures_total"))
	require.EqualValues(t, 10, fams["vigil_upload_duration_seconds"].GetMetric()[0].GetSummary().GetSampleCount())
	require.Equal(t, 5.0, mustValue(t, fams, "vigil_webhook_deliveries_total"))
	require.Equal(t, 3.0, mustValue(t, fams, "vigil_pulls", "state", "playing"))
	// No streams: no division by zero.
	require.Equal(t, 0.0, mustValue(t, fams, "degraded_streams_stats", "param", "degraded_streams_percent"))
}

func TestNewNeedsStreams(t *testing.T) {
	_, err := New(prometheus.NewRegistry(), Config{}, Sources{})
	require.ErrorIs(t, err, ErrNoStreamSource)
	reg := prometheus.NewRegistry()
	_, err = New(reg, Config{}, Sources{Streams: hub.New(hub.Config{})})
	require.NoError(t, err)
	_, err = New(reg, Config{}, Sources{Streams: hub.New(hub.Config{})})
	require.Error(t, err, "registering twice on one registry")
}

func TestWriteLatencyObserved(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg, Config{}, Sources{Streams: hub.New(hub.Config{}), Recorders: &fakeRecorders{}})
	require.NoError(t, err)
	m.WriteObserver().ObserveWrite(3*time.Millisecond, 100, nil)
	m.WriteObserver().ObserveWrite(2*time.Second, 100, nil)
	fams := scrapeHandler(t, Handler(reg, slog.New(slog.DiscardHandler)))
	hist := fams["vigil_recorder_write_seconds"].GetMetric()[0].GetHistogram()
	require.EqualValues(t, 2, hist.GetSampleCount())
	require.InDelta(t, 2.003, hist.GetSampleSum(), 1e-9)
}

// Every metric the shipped dashboard queries exists in a scrape with every source present.
func TestDashboardUsesExistingSeries(t *testing.T) {
	names := shippedDashboardNames(t)
	h := hub.New(hub.Config{})
	newFeeder(t, h, "cam").live(5 * time.Second)
	lossy := newFeeder(t, h, "lossy")
	lossy.dropEvery = 10
	lossy.live(5 * time.Second)
	reg := prometheus.NewRegistry()
	m, err := New(reg, Config{StreamSeries: 10}, allFeatures(Sources{Streams: h, Viewers: fakeViewers(1),
		Socket: fakeSocket{}, Recorders: &fakeRecorders{health: map[string]recorder.Health{}}}))
	require.NoError(t, err)
	m.WriteObserver().ObserveWrite(time.Millisecond, 1, nil)
	fams := scrapeHandler(t, Handler(reg, slog.New(slog.DiscardHandler)))
	for _, name := range names {
		require.True(t, HasSeries(fams, name), "the dashboard queries %s, which no scrape has", name)
	}
}

// shippedDashboardNames reads deploy/grafana/vigil.json and returns its metric names.
func shippedDashboardNames(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "vigil.json"))
	require.NoError(t, err)
	names, err := DashboardMetricNames(data)
	require.NoError(t, err)
	require.Greater(t, len(names), 20, "names: %v", names)
	for _, want := range []string{"process_cpu_seconds_total", "core_stats", "gc_stats", "streams_stats",
		"degraded_streams_stats", "recording_stats", "vigil_disk_used_ratio", "vigil_disk_time_to_full_seconds",
		"vigil_recorder_write_seconds_bucket", "vigil_upload_queue", "vigil_upload_failures_total"} {
		require.Contains(t, names, want)
	}
	return names
}

// HasSeries reports whether a sample called name is in fams (histogram and summary samples
// carry _bucket, _sum and _count suffixes).
func HasSeries(fams map[string]*dto.MetricFamily, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f, ok := fams[base]; ok && (f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
				return true
			}
		}
	}
	return false
}

func TestPromQLMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`core_stats{param="core_java_freePhysicalMemorySize"}`, []string{"core_stats"}},
		{`rate(process_cpu_seconds_total{instance=~"$instance"}[$__rate_interval])`, []string{"process_cpu_seconds_total"}},
		{`histogram_quantile(0.99, sum by (le, instance) (rate(vigil_recorder_write_seconds_bucket[5m])))`,
			[]string{"vigil_recorder_write_seconds_bucket"}},
		{`1000 * rate(a_sum[1m]) / clamp_min(rate(a_count[1m]), 1e-9)`, []string{"a_sum", "a_count"}},
		{`topk(10, x{kind="video"}) > 0 and on (stream) y`, []string{"x", "y"}},
		{`label_values(vigil_streams_in, instance)`, []string{"vigil_streams_in"}},
		{`sum without (reason) (z) offset 5m`, []string{"z"}},
	} {
		t.Run(tc.expr, func(t *testing.T) { require.Equal(t, tc.want, PromQLMetricNames(tc.expr)) })
	}
}

func TestParseMeminfo(t *testing.T) {
	m, err := parseMeminfo([]byte("MemTotal:       16384 kB\nMemFree:         1024 kB\nMemAvailable:    8192 kB\n"))
	require.NoError(t, err)
	require.Equal(t, meminfo{free: 8192 << 10, total: 16384 << 10}, m)
	m, err = parseMeminfo([]byte("MemTotal: 2048 kB\nMemFree: 1024 kB\n"))
	require.NoError(t, err)
	require.EqualValues(t, 1024<<10, m.free, "MemFree without MemAvailable")
	_, err = parseMeminfo([]byte("garbage"))
	require.Error(t, err)
}

func TestAllReasonsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	require.NoError(t, err)
	for _, r := range AllReasons() {
		require.True(t, strings.Contains(string(doc), "| `"+r+"` |"), "docs/metrics.md lacks reason %s", r)
	}
}

// docs/metrics.md describes every vigil series and WCS family (the Go and process collectors'
// standard series are described as groups).
func TestEverySeriesDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	require.NoError(t, err)
	h := hub.New(hub.Config{})
	newFeeder(t, h, "cam").live(time.Second)
	fams, _ := scrape(t, Config{StreamSeries: 10}, allFeatures(Sources{Streams: h, Viewers: fakeViewers(1),
		Socket: fakeSocket{}, Recorders: &fakeRecorders{}}))
	var names []string
	for name := range fams {
		if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	require.Greater(t, len(names), 40)
	for _, name := range names {
		require.True(t, strings.Contains(string(doc), "`"+name+"`") || strings.Contains(string(doc), "`"+name+"{"),
			"docs/metrics.md lacks %s", name)
	}
}

// The recorder's loss figures: totals over every recording, and per recorded stream.
func TestRecorderLossSeries(t *testing.T) {
	loss := recorder.Loss{PacketsLost: 7, HolesFilled: 40, FramesRecovered: 30, FramesDropped: 2, FramesSkipped: 9,
		KeyframeWaits: 2, Skipped: 1500 * time.Millisecond, Discontinuities: 1}
	rec := &fakeRecorders{stats: recorder.Stats{Loss: loss},
		active: []recorder.Status{{Stream: "cam", State: recorder.StateRecording, Loss: loss}}}
	fams, _ := scrape(t, Config{StreamSeries: 10}, Sources{Streams: hub.New(hub.Config{}), Recorders: rec})
	for name, want := range map[string]float64{
		"vigil_recorder_packets_lost_total": 7, "vigil_recorder_holes_filled_total": 40,
		"vigil_recorder_frames_recovered_total": 30, "vigil_recorder_frames_dropped_total": 2,
		"vigil_recorder_frames_skipped_total": 9, "vigil_recorder_keyframe_waits_total": 2,
		"vigil_recorder_skipped_seconds_total": 1.5, "vigil_recorder_discontinuities_total": 1,
	} {
		got, ok := value(t, fams, name)
		require.True(t, ok, name)
		require.InDelta(t, want, got, 1e-9, name)
	}
	for name, want := range map[string]float64{
		"vigil_recording_frames_dropped_total": 2, "vigil_recording_frames_recovered_total": 30,
		"vigil_recording_skipped_seconds_total": 1.5,
	} {
		got, ok := value(t, fams, name, "stream", "cam")
		require.True(t, ok, name)
		require.InDelta(t, want, got, 1e-9, name)
	}
}

// A scraper that asks for OpenMetrics gets it, every family encoded; one that asks for nothing
// gets the Prometheus text format.
func TestHandlerNegotiatesOpenMetrics(t *testing.T) {
	h := hub.New(hub.Config{})
	newFeeder(t, h, "a").live(5 * time.Second)
	reg := prometheus.NewRegistry()
	_, err := New(reg, Config{}, allFeatures(Sources{Streams: h, Recorders: &fakeRecorders{}, Viewers: fakeViewers(1), Socket: fakeSocket{}}))
	require.NoError(t, err)
	handler := Handler(reg, slog.New(slog.DiscardHandler))

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"+
		"text/plain;version=0.0.4;q=0.5,*/*;q=0.1") // what Prometheus sends
	handler.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "application/openmetrics-text"),
		rec.Header().Get("Content-Type"))
	body := rec.Body.String()
	require.True(t, strings.HasSuffix(body, "# EOF\n"), "an OpenMetrics exposition ends with # EOF")
	// OpenMetrics names a counter's family without _total and its sample with it.
	require.Contains(t, body, "# TYPE vigil_upload_failures counter\nvigil_upload_failures_total 1.0\n")
	require.Contains(t, body, "\nvigil_streams_in 1.0\n")
	// Every family of vigil's own is named once (a counter X_total next to a gauge X would clash
	// there; the Go runtime's go_memstats_alloc_bytes does, which Prometheus tolerates).
	families := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok && !strings.HasPrefix(name, "go_") {
			name, _, _ = strings.Cut(name, " ")
			require.False(t, families[name], "family %s twice", name)
			families[name] = true
		}
	}

	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.True(t, strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4"),
		rec.Header().Get("Content-Type"))
	require.NotContains(t, rec.Body.String(), "# EOF")
}
