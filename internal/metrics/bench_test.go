package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilrec/vigil/internal/hub"
	"github.com/vigilrec/vigil/internal/recorder"
)

// BenchmarkScrape200Streams serves whole scrapes of 200 live streams (H.264 video at 30 fps and
// Opus audio, 20 s of history each, every tenth stream lossy), every stream with its per-stream
// series, through the real handler, uncompressed. exposition-bytes is the size of one answer.
func BenchmarkScrape200Streams(b *testing.B) {
	const n = 200
	h := hub.New(hub.Config{})
	health := map[string]recorder.Health{}
	var active []recorder.Status
	for i := range n {
		name := fmt.Sprintf("Stream-%d", i+1)
		f := newFeeder(b, h, name)
		if i%10 == 0 {
			f.dropEvery = 10
		}
		f.live(20 * time.Second)
		if i%2 == 0 {
			active = append(active, recorder.Status{Stream: name, State: recorder.StateRecording})
			health[name] = recorder.Health{}
		}
	}
	reg := prometheus.NewRegistry()
	m, err := New(reg, Config{StreamSeries: DefaultStreamSeries}, Sources{Streams: h,
		Recorders: &fakeRecorders{active: active, health: health}, Viewers: fakeViewers(10), Socket: fakeSocket{}})
	if err != nil {
		b.Fatal(err)
	}
	m.WriteObserver().ObserveWrite(time.Millisecond, 1000, nil)
	handler := Handler(reg, slog.New(slog.DiscardHandler))
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	size := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "exposition-bytes")
}
