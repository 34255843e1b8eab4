package bench

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"math"
)

//go:embed report.html.tmpl
var htmlFS embed.FS

// colors for the nodes' series, in node order.
func nodeColor(i int) string {
	return []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd"}[i%4]
}

// htmlView is what report.html.tmpl renders.
type htmlView struct {
	R        *Report
	Measured Info
	Title    string
	Charts   []chart
	Rows     [][2]string
}

// renderHTML writes a self-contained page: inline CSS and SVG, no script, nothing fetched.
func renderHTML(w io.Writer, r *Report) error {
	t, err := template.New("report.html.tmpl").Funcs(template.FuncMap{
		"pct": func(v float64) string { return fmt.Sprintf("%.2f%%", v*100) },
		"f1":  func(v float64) string { return fmt.Sprintf("%.1f", v) },
	}).ParseFS(htmlFS, "report.html.tmpl")
	if err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	v := htmlView{R: r, Measured: r.measuredNode(), Title: "vigil bench: " + describe(r), Charts: charts(r)}
	for _, f := range figureDefs() {
		v.Rows = append(v.Rows, [2]string{f.label + " (" + f.unit + ")", num(f.get(&r.Figures))})
	}
	if err := t.Execute(w, v); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	return nil
}

// charts draws CPU and RSS of every node, and the measured node's write rate, free disk,
// degraded streams and loss, over the run.
func charts(r *Report) []chart {
	var tmax float64
	if n := len(r.Samples); n > 0 {
		tmax = r.Samples[n-1].T
	}
	var cpu, rss []*series
	for i, n := range r.Nodes {
		c, m := newSeries(n.Role, nodeColor(i)), newSeries(n.Role, nodeColor(i))
		for k, s := range r.Samples {
			ns := s.Nodes[i]
			if !ns.Up || ns.RSS == 0 || k == 0 { // the first sample has no rates yet
				c.add(s.T, math.NaN())
				m.add(s.T, math.NaN())
				continue
			}
			c.add(s.T, ns.CPU*100)
			m.add(s.T, float64(ns.RSS)/1e6)
		}
		cpu, rss = append(cpu, c), append(rss, m)
	}
	bc, bm := newSeries("bench", "#7f7f7f"), newSeries("bench", "#7f7f7f")
	for k, s := range r.Samples {
		bc.add(s.T, nanIf(k == 0 || !s.Bench.Up, s.Bench.CPU*100))
		bm.add(s.T, nanIf(!s.Bench.Up, float64(s.Bench.RSS)/1e6))
	}
	cpu, rss = append(cpu, bc), append(rss, bm)
	write, free := newSeries("written", nodeColor(r.Measured)), newSeries("free", nodeColor(r.Measured))
	degraded, live := newSeries("degraded", "#d62728"), newSeries("live", "#7f7f7f")
	loss := newSeries("lost after retransmission", "#ff7f0e")
	var prev *NodeMetrics
	for k, s := range r.Samples {
		ns := s.Nodes[r.Measured]
		write.add(s.T, nanIf(k == 0 || !ns.Up, ns.WriteRate/1e6))
		free.add(s.T, nanIf(ns.DiskFree < 0, ns.DiskFree/1e6))
		m := ns.Metrics
		if m == nil {
			degraded.add(s.T, math.NaN())
			live.add(s.T, math.NaN())
			loss.add(s.T, math.NaN())
			continue
		}
		degraded.add(s.T, m.Degraded)
		live.add(s.T, m.StreamsIn)
		loss.add(s.T, intervalLoss(prev, m))
		prev = m
	}
	w0, w1 := r.WindowStart, r.WindowEnd
	return []chart{
		newChart("CPU", "% of one core", tmax, w0, w1, cpu...),
		newChart("Resident memory", "MB", tmax, w0, w1, rss...),
		newChart("Write rate ("+r.measuredNode().Role+")", "MB/s passed to write calls", tmax, w0, w1, write),
		newChart("Free disk ("+r.measuredNode().Role+")", "MB", tmax, w0, w1, free),
		newChart("Streams", "streams", tmax, w0, w1, live, degraded),
		newChart("Loss", "% of packets in each second", tmax, w0, w1, loss),
	}
}

func nanIf(cond bool, v float64) float64 {
	if cond {
		return math.NaN()
	}
	return v
}

// intervalLoss is the percentage of packets lost for good between two scrapes.
func intervalLoss(prev, cur *NodeMetrics) float64 {
	if prev == nil {
		return 0
	}
	lost := cur.Lost - prev.Lost
	all := cur.Packets - prev.Packets + lost
	if all <= 0 || lost <= 0 {
		return 0
	}
	return lost / all * 100
}
