package bench

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testReport is a small run: two nodes, 30 samples, one node down for a while, two streams.
func testReport() *Report {
	r := &Report{Settings: Settings{Topology: "pull", Streams: 2, Codec: "h264", Profile: "240p", Duration: 20},
		Started: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), CPUs: 2, Measured: 1,
		Nodes:       []Info{{Role: "origin", PID: 10, Own: true}, {Role: "recorder", PID: 11, Own: true, Dir: "/tmp/x"}},
		WindowStart: 3, WindowEnd: 25}
	for i := range 30 {
		t := float64(i)
		rec := NodeSample{Up: i < 20 || i > 24, CPU: 0.1, CPUSeconds: 0.1 * t, RSS: 50e6 + uint64(i)*1e6, PeakRSS: 80e6,
			WChar: uint64(i) * 130e3, Syscw: uint64(i) * 3, WriteRate: 130e3, DiskFree: 1e9 - t*130e3, TimeToFull: 7000,
			Metrics: &NodeMetrics{StreamsIn: 2, Recording: 2, Degraded: float64(i % 2), Packets: t * 200, Lost: t,
				RecorderWrites: t * 2, DiskFree: -1, DiskTimeToFull: -1, NACKs: t * 2}}
		if i >= 27 { // the streams left after the stop: their counters are gone
			rec.Metrics.Packets, rec.Metrics.NACKs = 0, 0
		}
		origin := NodeSample{Up: true, CPU: 0.05, CPUSeconds: 0.05 * t, RSS: 30e6, DiskFree: -1, TimeToFull: -1}
		self := NodeSample{Up: true, CPU: 0.02, CPUSeconds: 0.02 * t, RSS: 20e6, PeakRSS: 21e6}
		r.Samples = append(r.Samples, Sample{T: t, Nodes: []NodeSample{origin, rec}, Bench: self})
	}
	r.Streams = []StreamResult{
		{Name: "Stream-1", State: "ok", SentBytes: 1000, WrittenBytes: 990, Files: []*File{{Path: "/tmp/x/Stream-1_1.mp4", State: "closed", Duration: 20, Valid: true, Codecs: []string{"h264", "opus"}, AVOffset: 2}}},
		{Name: "Stream-2", State: "lost", Reason: "no valid file", Files: []*File{{Path: "/tmp/x/Stream-2_1.mp4", State: "closed", Problem: "decode errors: <b>bad</b>"}}},
	}
	computeFigures(r)
	r.Failures = []string{"1 of 2 files invalid"}
	return r
}

func TestRenderHTML(t *testing.T) {
	r := testReport()
	var out bytes.Buffer
	require.NoError(t, renderHTML(&out, r))
	page := out.String()

	paths := regexp.MustCompile(`<path class="series" d="(M[^"]+)"`).FindAllStringSubmatch(page, -1)
	// CPU and RSS: two nodes and bench each; write rate, free disk, loss: one; streams: two
	// (live, degraded).
	require.Len(t, paths, 3+3+1+1+2+1)
	for _, p := range paths {
		require.Regexp(t, `^M[0-9.]+,[0-9.]+( [ML][0-9.]+,[0-9.]+)+$`, p[1])
	}
	// The recorder was down from 20 s to 24 s: its CPU line is broken in two.
	require.Equal(t, 2, strings.Count(paths[1][1], "M"), paths[1][1])
	require.Contains(t, page, "<svg")
	require.Contains(t, page, "Stream-2")
	require.Contains(t, page, "decode errors: &lt;b&gt;bad&lt;/b&gt;", "text is escaped")
	require.Contains(t, page, "FAIL")
	require.NotContains(t, page, "<script")
	require.NotContains(t, page, "http", "nothing is fetched")
	require.Contains(t, page, ">1000</text>")
	require.Contains(t, page, "&#9632; bench</span>")
	require.Contains(t, page, "audio 2.0 s off the video")
}

func TestComputeFigures(t *testing.T) {
	f := testReport().Figures
	require.Equal(t, 2, f.Streams)
	require.InDelta(t, 10.0, f.CPUPercent, 0.01)
	require.InDelta(t, 0.1*60/2, f.CPUPerStreamMin, 0.01, "0.1 CPU-s per second, 2 streams")
	require.InDelta(t, 1.0, f.WritesPerStreamSec, 0.01, "vigil's own count: 2 writes per second for 2 streams")
	require.InDelta(t, 1.5, f.WriteSyscallsPerStreamSec, 0.01)
	require.InDelta(t, 0.13, f.WriteMBps, 0.001)
	require.InDelta(t, 80, f.PeakRSSMB, 0.01)
	require.Equal(t, 1.0, f.MaxDegraded)
	require.Equal(t, []int{1, 2, 1}, []int{f.FilesValid, f.FilesTotal, f.FilesBad})
	require.Equal(t, 1, f.StreamsLost)
	require.InDelta(t, 26*2, f.NACKs, 1e-9, "the most the node counted, before its streams left")
	require.InDelta(t, 0.01, f.NACKRatio, 1e-9)
	require.InDelta(t, 0.99, f.WrittenPerSent, 1e-9, "streams without a publisher of their own do not count")
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {0.07, 0.1}, {1, 1}, {1.2, 2}, {3, 5}, {7, 10}, {420, 500}} {
		require.InDelta(t, tc.want, niceCeil(tc.in), 1e-9, "%v", tc.in)
	}
}
