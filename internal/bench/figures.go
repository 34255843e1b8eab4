package bench

import "math"

// figure is one named result: the names are those --fail-on and compare use.
type figure struct {
	name, label, unit string
	get               func(*Figures) float64
	// lowerBetter is true for costs (CPU, loss…), false for counts of good things.
	lowerBetter bool
}

func figureDefs() []figure {
	return []figure{
		{"cpu_per_stream_min", "CPU per stream-minute", "CPU-s", func(f *Figures) float64 { return f.CPUPerStreamMin }, true},
		{"cpu_percent", "CPU (mean)", "% of a core", func(f *Figures) float64 { return f.CPUPercent }, true},
		{"peak_rss_mb", "peak RSS", "MB", func(f *Figures) float64 { return f.PeakRSSMB }, true},
		{"writes_per_stream_s", "writes per second per stream", "calls", func(f *Figures) float64 { return f.WritesPerStreamSec }, true},
		{"write_syscalls_per_stream_s", "write syscalls per second per stream", "calls", func(f *Figures) float64 { return f.WriteSyscallsPerStreamSec }, true},
		{"write_mbps", "write rate", "MB/s", func(f *Figures) float64 { return f.WriteMBps }, true},
		{"loss", "loss", "ratio", func(f *Figures) float64 { return f.Loss }, true},
		{"udp_drops", "kernel UDP drops", "datagrams", func(f *Figures) float64 { return f.UDPDrops }, true},
		{"nacks", "packets NACKed", "packets", func(f *Figures) float64 { return f.NACKs }, true},
		{"written_per_sent", "bytes written / bytes sent", "ratio", func(f *Figures) float64 { return f.WrittenPerSent }, false},
		{"degraded_s", "degraded time", "stream-s", func(f *Figures) float64 { return f.Degraded }, true},
		{"max_degraded", "most streams degraded at once", "streams", func(f *Figures) float64 { return f.MaxDegraded }, true},
		{"files_valid", "files valid", "files", func(f *Figures) float64 { return float64(f.FilesValid) }, false},
		{"files_total", "files", "files", func(f *Figures) float64 { return float64(f.FilesTotal) }, false},
		{"files_invalid", "files invalid", "files", func(f *Figures) float64 { return float64(f.FilesBad) }, true},
		{"streams_lost", "streams lost", "streams", func(f *Figures) float64 { return float64(f.StreamsLost) }, true},
		{"gaps", "gaps between segments", "gaps", func(f *Figures) float64 { return float64(f.Gaps) }, true},
		{"av_offset_max_s", "largest audio-to-video offset in a file", "s", func(f *Figures) float64 { return f.AVOffsetMax }, true},
		{"finalize_s", "stop calls to every file final", "s", func(f *Figures) float64 { return f.Finalize }, true},
		{"bench_cpu_percent", "bench's own CPU (mean)", "% of a core", func(f *Figures) float64 { return f.BenchCPUPercent }, true},
		{"min_free_mb", "least free disk", "MB", func(f *Figures) float64 { return f.MinFreeMB }, false},
	}
}

// window returns the first and last sample inside [from, to] where the measured node was up
// (and, with metrics true, had answered its scrape); ok is false when fewer than two are.
func window(samples []Sample, measured int, from, to float64, metrics bool) (first, last Sample, ok bool) {
	var in []Sample
	for _, s := range samples {
		if n := s.Nodes[measured]; s.T >= from-0.5 && s.T <= to+0.5 && n.Up && (!metrics || n.Metrics != nil) {
			in = append(in, s)
		}
	}
	if len(in) < 2 {
		return Sample{}, Sample{}, false
	}
	return in[0], in[len(in)-1], true
}

// computeFigures fills r.Figures from the samples and stream results (Finalize is set by the run).
func computeFigures(r *Report) {
	f := &r.Figures
	f.Streams = 0
	for _, s := range r.Streams {
		if s.Packets > 0 || len(s.Files) > 0 {
			f.Streams++
		}
	}
	f.Streams = max(f.Streams, 1)
	m := r.Measured
	if first, last, ok := window(r.Samples, m, r.WindowStart, r.WindowEnd, false); ok {
		a, b := first.Nodes[m], last.Nodes[m]
		secs := last.T - first.T
		f.Window = secs
		cpu := b.CPUSeconds - a.CPUSeconds
		f.CPUPercent = cpu / secs * 100
		f.CPUPerStreamMin = cpu / (float64(f.Streams) * secs / 60)
		f.WriteSyscallsPerStreamSec = float64(b.Syscw-a.Syscw) / secs / float64(f.Streams)
		f.WritesPerStreamSec = f.WriteSyscallsPerStreamSec
		if first, last, ok := window(r.Samples, m, r.WindowStart, r.WindowEnd, true); ok {
			f.WritesPerStreamSec = (last.Nodes[m].Metrics.RecorderWrites - first.Nodes[m].Metrics.RecorderWrites) /
				(last.T - first.T) / float64(f.Streams)
		}
		f.WriteMBps = float64(b.WChar-a.WChar) / secs / 1e6
		f.DiskWriteMBps = float64(b.WriteBytes-a.WriteBytes) / secs / 1e6
		f.BenchCPUPercent = (last.Bench.CPUSeconds - first.Bench.CPUSeconds) / secs * 100
		f.BenchRSSMB = float64(last.Bench.PeakRSS) / 1e6
		if r.Settings.Topology == "pull" && len(first.Nodes) > 1 {
			f.OriginCPUPercent = (last.Nodes[0].CPUSeconds - first.Nodes[0].CPUSeconds) / secs * 100
		}
	}
	f.MinFreeMB = -1
	var firstDrops, lastDrops float64 = -1, 0
	for _, s := range r.Samples {
		n := s.Nodes[m]
		if !n.Up {
			continue
		}
		f.PeakRSSMB = math.Max(f.PeakRSSMB, float64(max(n.PeakRSS, n.RSS))/1e6)
		f.Threads = max(f.Threads, n.Threads)
		drops := float64(n.UDPDrops)
		if n.Metrics != nil {
			drops = math.Max(drops, n.Metrics.UDPDrops)
			f.MaxDegraded = math.Max(f.MaxDegraded, n.Metrics.Degraded)
		}
		if firstDrops < 0 {
			firstDrops = drops
		}
		lastDrops = drops
		if n.DiskFree >= 0 && (f.MinFreeMB < 0 || n.DiskFree/1e6 < f.MinFreeMB) {
			f.MinFreeMB = n.DiskFree / 1e6
		}
	}
	f.UDPDrops = math.Max(0, lastDrops-firstDrops)
	f.NACKs, f.NACKRatio = 0, 0
	for _, s := range r.Samples {
		// Per-stream counters since each stream began, summed: they vanish when the streams
		// leave after the stop, so the run's total is the largest sum seen.
		if mt := s.Nodes[m].Metrics; mt != nil && mt.NACKs >= f.NACKs {
			f.NACKs = mt.NACKs
			if mt.Packets > 0 {
				f.NACKRatio = mt.NACKs / mt.Packets
			}
		}
	}
	streamFigures(r)
}

func streamFigures(r *Report) {
	f := &r.Figures
	f.FilesValid, f.FilesTotal, f.FilesBad, f.StreamsLost, f.Gaps, f.Degraded, f.AVOffsetMax = 0, 0, 0, 0, 0, 0, 0
	var lost, packets float64
	var sent, written int64
	for _, s := range r.Streams {
		if s.SentBytes > 0 {
			sent += s.SentBytes
			written += s.WrittenBytes
		}
		lost += s.Lost
		packets += s.Packets + s.Lost
		f.Degraded += s.Degraded
		f.Gaps += s.Gaps
		f.AVOffsetMax = math.Max(f.AVOffsetMax, s.AVOffset)
		if s.State == "lost" {
			f.StreamsLost++
		}
		for _, file := range s.Files {
			if file.State == "deleted" {
				continue
			}
			f.FilesTotal++
			if file.Valid {
				f.FilesValid++
			} else {
				f.FilesBad++
			}
		}
	}
	if packets > 0 {
		f.Loss = lost / packets
	}
	f.WrittenPerSent = 0
	if sent > 0 {
		f.WrittenPerSent = float64(written) / float64(sent)
	}
}
