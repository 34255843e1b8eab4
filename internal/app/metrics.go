package app

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilrec/vigil/internal/api"
	"github.com/vigilrec/vigil/internal/diskguard"
	"github.com/vigilrec/vigil/internal/metrics"
	"github.com/vigilrec/vigil/internal/pull"
	"github.com/vigilrec/vigil/internal/upload"
	"github.com/vigilrec/vigil/internal/webhook"
)

// setupMetrics builds the one Prometheus registry of the process and the metrics over a's
// components, and connects the recorder's write latency to it. It returns the /metrics handler
// and the degraded-stream judgement for the API; both nil when the metrics could not be built
// (the server then runs without them, which is logged).
func (a *App) setupMetrics() (http.Handler, api.StreamHealth) {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Config{
		StreamSeries: a.cfg.Metrics.StreamSeries,
		Degraded: metrics.DegradedConfig{Window: a.cfg.Metrics.DegradedWindow.D(),
			LossRatio: float64(a.cfg.Metrics.DegradedLossPercent) / 100},
	}, a.metricSources())
	if err != nil {
		a.log.Error("metrics disabled", "err", err)
		return nil, nil
	}
	if o := m.WriteObserver(); o != nil {
		a.rec.SetWriteObserver(o)
	}
	return metrics.Handler(reg, a.log.With("component", "metrics")), m.Detector()
}

// metricSources gathers what the metrics read; optional features join when configured.
func (a *App) metricSources() metrics.Sources {
	src := metrics.Sources{Streams: a.hub, Recorders: a.rec, Viewers: a.egress, Socket: a.engine,
		Disk: guardMetrics{a.guard}, Retention: guardMetrics{a.guard}, Webhooks: webhookMetrics{a.events}}
	if a.up != nil {
		src.Uploads = uploadMetrics{a.up}
	}
	if a.pulls != nil {
		src.Pulls = pullMetrics{a.pulls}
	}
	if a.refusals != nil {
		src.Limits = limitMetrics{a.refusals}
	}
	return src
}

type limitMetrics struct{ r *api.Refusals }

func (l limitMetrics) LimitRefusals() map[string]uint64 { return l.r.Snapshot() }

type pullMetrics struct{ m *pull.Manager }

// PullStates counts the pulls by state; every state is present, so series do not come and go.
func (p pullMetrics) PullStates() map[string]int {
	out := map[string]int{string(pull.StateConnecting): 0, string(pull.StatePlaying): 0,
		string(pull.StateRetrying): 0, string(pull.StateStopped): 0}
	for _, st := range p.m.List() {
		out[string(st.State)]++
	}
	return out
}

// guardMetrics, uploadMetrics and webhookMetrics translate the components' own figures.
type guardMetrics struct{ g *diskguard.Guard }

func (m guardMetrics) DiskStats() metrics.DiskStats {
	s := m.g.Snapshot()
	return metrics.DiskStats{Free: s.Free, Total: s.Total, WriteRate: s.WriteRate, TimeToFull: s.TimeToFull,
		MinFree: s.MinFree, HardFloor: s.HardFloor, Low: s.Low, Paused: s.Paused}
}

func (m guardMetrics) RetentionStats() metrics.RetentionStats {
	s := m.g.Snapshot()
	return metrics.RetentionStats{Deleted: s.Deletions, DeletedBytes: s.DeletedBytes, ByReason: s.DeletionsByReason}
}

type uploadMetrics struct{ u *upload.Uploader }

func (m uploadMetrics) UploadStats() metrics.UploadStats {
	s := m.u.Stats()
	return metrics.UploadStats{Queue: s.Queue, InFlight: s.InFlight, Uploaded: s.Uploaded, Failures: s.Failures,
		Bytes: s.Bytes, Latency: s.Latency, LatencySum: s.LatencySum, LatencyCount: s.Uploaded}
}

type webhookMetrics struct{ d *webhook.Dispatcher }

func (m webhookMetrics) WebhookStats() metrics.WebhookStats {
	s := m.d.Stats()
	return metrics.WebhookStats{Delivered: s.Delivered, Failures: s.Failures, Dropped: s.Dropped, Queue: s.Queue}
}
