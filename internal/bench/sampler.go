package bench

import (
	"context"
	"net/http"
	"os"
	"sync"
	"time"
)

// Sample is one second of a run: a reading of every node.
type Sample struct {
	// T is seconds since the run started.
	T     float64      `json:"t"`
	Nodes []NodeSample `json:"nodes"` // in the order of Report.Nodes
	// Bench is bench's own process (its publishers run in it), to show that it stays light.
	Bench NodeSample `json:"bench"`
}

// NodeSample is one node at one moment. Process figures are zero when bench knows no PID.
type NodeSample struct {
	// Up is false once the process is gone (or, without a PID, its HTTP port stopped answering).
	Up bool `json:"up"`
	// CPU is the cores used over the last interval; CPUSeconds the total since the process started.
	CPU        float64 `json:"cpu"`
	CPUSeconds float64 `json:"cpu_seconds"`
	RSS        uint64  `json:"rss"`
	PeakRSS    uint64  `json:"peak_rss"`
	Threads    int     `json:"threads"`
	// WriteBytes, WChar and Syscw are /proc/PID/io's write_bytes, wchar and syscw (totals).
	WriteBytes uint64 `json:"write_bytes"`
	WChar      uint64 `json:"wchar"`
	Syscw      uint64 `json:"syscw"`
	// WriteRate is bytes passed to write calls per second over the last interval (wchar; it
	// counts on tmpfs too, where write_bytes stays 0); Writes the write calls per second.
	WriteRate float64 `json:"write_rate"`
	Writes    float64 `json:"writes"`
	UDPDrops  uint64  `json:"udp_drops"`
	// DiskFree is the free space of the node's recordings volume (-1 unknown); TimeToFull how
	// many seconds it lasts at the write rate of the last 10 s (-1: not filling or unknown).
	DiskFree   float64      `json:"disk_free"`
	TimeToFull float64      `json:"time_to_full"`
	Metrics    *NodeMetrics `json:"metrics,omitempty"`
}

// streamTrack accumulates what the measured node's metrics say of one stream.
type streamTrack struct {
	seen          bool
	lastSeen      float64 // T of the last scrape that listed it
	packets, lost float64
	degraded      float64 // seconds
}

// sampler reads /proc and /metrics of every node once a second.
type sampler struct {
	nodes    []*node
	measured int // index of the node whose per-stream figures are tracked
	http     *http.Client
	procRoot string
	start    time.Time
	interval time.Duration

	mu      sync.Mutex
	samples []Sample
	streams map[string]*streamTrack
	lastT   float64
	// scraped is the T of the last successful scrape of the measured node.
	scraped float64
}

func newSampler(nodes []*node, measured int, client *http.Client, start time.Time) *sampler {
	return &sampler{nodes: nodes, measured: measured, http: client, procRoot: "/proc", start: start,
		interval: time.Second, streams: map[string]*streamTrack{}}
}

// Run samples until ctx ends.
func (s *sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *sampler) tick(ctx context.Context) {
	now := time.Since(s.start).Seconds()
	sm := Sample{T: now, Nodes: make([]NodeSample, len(s.nodes))}
	var wg sync.WaitGroup
	for i, n := range s.nodes {
		wg.Go(func() { sm.Nodes[i] = s.readNode(ctx, n) })
	}
	wg.Go(func() { sm.Bench = s.readNode(ctx, &node{role: "bench", pid: os.Getpid()}) })
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) > 0 {
		prev := s.samples[len(s.samples)-1]
		for i := range sm.Nodes {
			s.rates(&sm.Nodes[i], prev.Nodes[i], now-prev.T, i)
		}
		if dt := now - prev.T; dt > 0 && sm.Bench.Up && prev.Bench.Up {
			sm.Bench.CPU = max(0, sm.Bench.CPUSeconds-prev.Bench.CPUSeconds) / dt
		}
	}
	if m := sm.Nodes[s.measured].Metrics; m != nil {
		s.track(m, now)
	}
	s.samples = append(s.samples, sm)
	s.lastT = now
}

// readNode takes one reading of n.
func (s *sampler) readNode(ctx context.Context, n *node) NodeSample {
	ns := NodeSample{DiskFree: freeBytes(n.dir), TimeToFull: -1}
	if n.pid > 0 {
		if st, err := readProc(s.procRoot, n.pid); err == nil {
			ns.Up = true
			ns.CPUSeconds, ns.RSS, ns.PeakRSS, ns.Threads = st.CPUSeconds, st.RSS, st.PeakRSS, st.Threads
			ns.WriteBytes, ns.WChar, ns.Syscw, ns.UDPDrops = st.WriteBytes, st.WChar, st.Syscw, st.UDPDrops
		}
	}
	if n.pid == 0 && !n.vigil {
		ns.Up = true // nothing to ask: assumed up
	}
	if n.vigil && (ns.Up || n.pid == 0) {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second) // a loaded server answers late
		m, err := scrapeNode(sctx, s.http, n.api.base)
		cancel()
		if err == nil {
			ns.Metrics = m
			ns.Up = true
			if ns.DiskFree < 0 {
				ns.DiskFree = m.DiskFree
			}
		}
	}
	return ns
}

// rates fills the per-second figures of cur from the previous reading of node i.
func (s *sampler) rates(cur *NodeSample, prev NodeSample, dt float64, i int) {
	if dt <= 0 || !cur.Up || !prev.Up {
		return
	}
	cur.CPU = max(0, cur.CPUSeconds-prev.CPUSeconds) / dt
	if cur.WChar >= prev.WChar {
		cur.WriteRate = float64(cur.WChar-prev.WChar) / dt
	}
	if cur.Syscw >= prev.Syscw {
		cur.Writes = float64(cur.Syscw-prev.Syscw) / dt
	}
	// Time to full at the mean write rate of the last 10 s.
	var sum float64
	var k int
	for j := len(s.samples) - 1; j >= 0 && k < 9; j-- {
		sum += s.samples[j].Nodes[i].WriteRate
		k++
	}
	rate := (sum + cur.WriteRate) / float64(k+1)
	switch {
	case cur.DiskFree >= 0 && rate > 0:
		cur.TimeToFull = cur.DiskFree / rate
	case cur.Metrics != nil:
		cur.TimeToFull = cur.Metrics.DiskTimeToFull
	}
}

func (s *sampler) track(m *NodeMetrics, now float64) {
	dt := now - s.lastT
	s.scraped = now
	for name, st := range m.PerStream {
		tr := s.streams[name]
		if tr == nil {
			tr = &streamTrack{}
			s.streams[name] = tr
		}
		tr.seen, tr.lastSeen, tr.packets, tr.lost = true, now, st.Packets, st.Lost
		if st.Degraded && len(s.samples) > 0 {
			tr.degraded += dt
		}
	}
}

// latest returns the last sample (ok false before the first).
func (s *sampler) latest() (Sample, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return Sample{}, false
	}
	return s.samples[len(s.samples)-1], true
}

// lastScrape is the T of the last scrape of the measured node that answered.
func (s *sampler) lastScrape() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.scraped
}

// stream returns a copy of what was tracked of name.
func (s *sampler) stream(name string) streamTrack {
	s.mu.Lock()
	defer s.mu.Unlock()
	if tr := s.streams[name]; tr != nil {
		return *tr
	}
	return streamTrack{}
}

// all returns every sample so far.
func (s *sampler) all() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// recent returns the last n samples (fewer at the start).
func (s *sampler) recent(n int) []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples[max(0, len(s.samples)-n):]...)
}
