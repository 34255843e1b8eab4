// Package metrics exposes vigil to Prometheus: native vigil_* series, the Web Call Server style
// families with a "param" label that existing dashboards query, the Go runtime and the process.
// Everything about streams and recordings is read at scrape time from hub snapshots and recorder
// statuses by one custom collector, so the media path pays nothing for it and no label is ever
// created or deleted as streams come and go. It also owns the degraded-stream judgement (Detector)
// that the API shows.
//
// metrics reads the pipeline through the small interfaces in sources.go; nothing in the pipeline
// imports it. It never touches prometheus.DefaultRegisterer: app builds the registry and passes it.
package metrics

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigilrec/vigil/internal/buildinfo"
	"github.com/vigilrec/vigil/internal/recorder"
)

// Errors of the metrics.
var (
	// ErrNoStreamSource means New was given no stream source.
	ErrNoStreamSource = errors.New("metrics: a stream source is required")
	errNoMeminfo      = errors.New("no MemTotal in /proc/meminfo")
)

// DefaultStreamSeries is the default cap on streams with per-stream series.
const DefaultStreamSeries = 500

// Config tunes the metrics.
type Config struct {
	// StreamSeries caps the per-stream series: only the first StreamSeries streams by name get
	// them (aggregates always count every stream). 0 exports none.
	StreamSeries int
	// Degraded tunes the degraded-stream judgement.
	Degraded DegradedConfig
}

// Sources are what the metrics read. Streams is required; every other source may be nil, and
// then its series are not registered at all (they appear once the feature is configured).
type Sources struct {
	Streams   Streams
	Recorders Recorders
	Viewers   Viewers
	Socket    Socket
	// Features built elsewhere (disk guard, retention, uploads, webhooks, pulls).
	Disk      Disk
	Retention Retention
	Uploads   Uploads
	Webhooks  Webhooks
	Pulls     Pulls
	Limits    Limits
}

// Metrics are the registered collectors.
type Metrics struct {
	detector *Detector
	latency  *WriteLatency
}

// New registers every collector on reg. Registering twice on one registry fails.
func New(reg prometheus.Registerer, cfg Config, src Sources) (*Metrics, error) {
	if src.Streams == nil {
		return nil, ErrNoStreamSource
	}
	var health RecorderHealth
	if h, ok := src.Recorders.(RecorderHealth); ok {
		health = h
	}
	m := &Metrics{detector: NewDetector(cfg.Degraded, health)}
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newCore(cfg, src, m.detector),
		buildInfo(buildinfo.Read()),
	}
	if src.Recorders != nil {
		m.latency = NewWriteLatency()
		cs = append(cs, m.latency.hist)
	}
	if c := newFeatures(src); c != nil {
		cs = append(cs, c)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// buildInfo is the constant series saying which build runs, so dashboards can show versions
// across a fleet and mark upgrades.
func buildInfo(info buildinfo.Info) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "vigil_build_info",
		Help: "Always 1; the labels say which build of vigil runs.",
		ConstLabels: prometheus.Labels{"version": info.Version, "commit": info.Commit,
			"goversion": info.Go},
	})
	g.Set(1)
	return g
}

// Detector is the degraded-stream judgement the collector uses, for the API to show the same.
func (m *Metrics) Detector() *Detector { return m.detector }

// WriteObserver feeds the write latency histogram; nil without a recorder source.
func (m *Metrics) WriteObserver() recorder.WriteObserver {
	if m.latency == nil {
		return nil
	}
	return m.latency
}

// Handler serves the registry in the format the scraper asks for in Accept: the Prometheus text
// format, OpenMetrics (which carries exemplars and units) or protobuf. A collector that fails is
// logged and the rest is still served.
func Handler(g prometheus.Gatherer, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:          slogErrorLog{log},
		ErrorHandling:     promhttp.ContinueOnError,
		Timeout:           10 * time.Second,
		EnableOpenMetrics: true,
	})
}

// slogErrorLog adapts slog to promhttp's logger.
type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Warn("metrics scrape", "err", fmt.Sprint(v...)) }

// WriteLatency is the histogram of segment write calls, fed by the recorder through
// recorder.WriteObserver.
type WriteLatency struct{ hist prometheus.Histogram }

// NewWriteLatency returns an unregistered histogram.
func NewWriteLatency() *WriteLatency {
	return &WriteLatency{hist: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "vigil_recorder_write_seconds",
		Help: "Duration of each write call on a segment file (one per fragment, about one second of media).",
		// 100 µs … 6.5 s: page-cache writes are well under a millisecond, a disk falling
		// behind shows in the top buckets.
		Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
	})}
}

// ObserveWrite implements recorder.WriteObserver.
func (w *WriteLatency) ObserveWrite(d time.Duration, _ int, _ error) { w.hist.Observe(d.Seconds()) }

var _ recorder.WriteObserver = (*WriteLatency)(nil)
