package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// NodeMetrics are the figures read from a vigil node's /metrics (and disk guard state from
// /api/v1/storage). Another server has none: its samples carry no metrics.
type NodeMetrics struct {
	StreamsIn      float64 `json:"streams_in"`
	Recording      float64 `json:"recording"`
	Degraded       float64 `json:"degraded"`
	RecorderBytes  float64 `json:"recorder_bytes"`
	RecorderWrites float64 `json:"recorder_writes"`
	WriteErrors    float64 `json:"write_errors"`
	UDPDrops       float64 `json:"udp_drops"`
	// Packets and Lost are summed over every stream and kind; Lost counts packets missing after
	// retransmission.
	Packets float64 `json:"packets"`
	Lost    float64 `json:"lost"`
	// NACKs is the packets the node asked its publishers to retransmit, summed over streams.
	NACKs float64 `json:"nacks"`
	// DiskFree is -1 when the node does not say; DiskTimeToFull is in seconds, -1 when not filling.
	DiskFree       float64 `json:"disk_free"`
	DiskTimeToFull float64 `json:"disk_time_to_full"`
	// Guard is the disk guard's state: ok, low, refusing or paused ("" when unknown).
	Guard string `json:"guard,omitempty"`
	// PerStream holds each stream's figures; it is not kept in the report's samples.
	PerStream map[string]*StreamMetrics `json:"-"`
}

// StreamMetrics are one stream's figures in a scrape.
type StreamMetrics struct {
	Packets, Lost float64
	Degraded      bool
}

func (m *NodeMetrics) stream(name string) *StreamMetrics {
	s := m.PerStream[name]
	if s == nil {
		s = &StreamMetrics{}
		m.PerStream[name] = s
	}
	return s
}

// scrapeNode reads base/metrics and base/api/v1/storage.
func scrapeNode(ctx context.Context, client *http.Client, base string) (*NodeMetrics, error) {
	body, err := get(ctx, client, base+"/metrics")
	if err != nil {
		return nil, err
	}
	defer body.Close()
	m, err := parseMetrics(body)
	if err != nil {
		return nil, err
	}
	m.Guard = guardState(ctx, client, base)
	return m, nil
}

func get(ctx context.Context, client *http.Client, url string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("get %s: %w", url, statusError(resp.StatusCode))
	}
	return resp.Body, nil
}

// parseMetrics picks the series bench uses out of a Prometheus text exposition.
func parseMetrics(r io.Reader) (*NodeMetrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	m := &NodeMetrics{DiskFree: -1, DiskTimeToFull: -1, PerStream: map[string]*StreamMetrics{}}
	for name, dst := range map[string]*float64{
		"vigil_streams_in": &m.StreamsIn, "vigil_recorders_active": &m.Recording,
		"vigil_streams_degraded": &m.Degraded, "vigil_recorder_bytes_written_total": &m.RecorderBytes,
		"vigil_recorder_writes_total": &m.RecorderWrites, "vigil_recorder_write_errors_total": &m.WriteErrors,
		"vigil_udp_receive_drops_total": &m.UDPDrops, "vigil_disk_free_bytes": &m.DiskFree,
		"vigil_disk_time_to_full_seconds": &m.DiskTimeToFull,
	} {
		if f := fams[name]; f != nil && len(f.Metric) > 0 {
			*dst = value(f.Metric[0])
		}
	}
	if math.IsInf(m.DiskTimeToFull, 0) {
		m.DiskTimeToFull = -1
	}
	for _, s := range metricSeries(fams["vigil_stream_packets_total"]) {
		m.stream(s.label("stream")).Packets += s.v
		m.Packets += s.v
	}
	for _, s := range metricSeries(fams["vigil_stream_lost_packets"]) {
		m.stream(s.label("stream")).Lost += s.v
		m.Lost += s.v
	}
	for _, s := range metricSeries(fams["vigil_stream_nacks_total"]) {
		m.NACKs += s.v
	}
	for _, s := range metricSeries(fams["vigil_stream_degraded"]) {
		m.stream(s.label("stream")).Degraded = s.v > 0
	}
	return m, nil
}

type sample struct {
	labels []*dto.LabelPair
	v      float64
}

func (s sample) label(name string) string {
	for _, l := range s.labels {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func metricSeries(f *dto.MetricFamily) []sample {
	if f == nil {
		return nil
	}
	out := make([]sample, 0, len(f.Metric))
	for _, m := range f.Metric {
		out = append(out, sample{labels: m.Label, v: value(m)})
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// guardState reads the disk guard's state from /api/v1/storage ("" when the node does not say).
func guardState(ctx context.Context, client *http.Client, base string) string {
	body, err := get(ctx, client, base+"/api/v1/storage")
	if err != nil {
		return ""
	}
	defer body.Close()
	var st struct {
		Disk *struct {
			Low, Paused, RefusingNew bool
		}
	}
	if json.NewDecoder(body).Decode(&st) != nil || st.Disk == nil {
		return ""
	}
	switch {
	case st.Disk.Paused:
		return "paused"
	case st.Disk.RefusingNew:
		return "refusing"
	case st.Disk.Low:
		return "low"
	}
	return "ok"
}
