package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Report is everything a run measured; report.json is this, and report.html is drawn from it.
type Report struct {
	Settings Settings  `json:"settings"`
	Started  time.Time `json:"started"`
	Ended    time.Time `json:"ended"`
	CPUs     int       `json:"cpus"`
	Nodes    []Info    `json:"nodes"`
	// Measured is the index in Nodes of the node the figures are about (the recorder).
	Measured int `json:"measured"`
	// WindowStart and WindowEnd bound the measurement (seconds since start): from the moment
	// every stream was recording to the first stop call.
	WindowStart float64        `json:"window_start"`
	WindowEnd   float64        `json:"window_end"`
	Samples     []Sample       `json:"samples"`
	Streams     []StreamResult `json:"streams"`
	Figures     Figures        `json:"figures"`
	// Events are notable moments (node down, recovery), Failures why the run failed.
	Events   []Event  `json:"events,omitempty"`
	Failures []string `json:"failures,omitempty"`
}

// Settings are the run's options as given.
type Settings struct {
	Topology  string  `json:"topology"`
	Streams   int     `json:"streams"`
	Codec     string  `json:"codec"`
	Profile   string  `json:"profile"`
	Duration  float64 `json:"duration"`
	Ramp      float64 `json:"ramp"`
	Rotation  string  `json:"rotation,omitempty"`
	DiskLimit int64   `json:"disk_limit,omitempty"`
	DiskNote  string  `json:"disk_note,omitempty"`
	Target    string  `json:"target,omitempty"`
}

// Event is a moment of the run worth marking.
type Event struct {
	T    float64 `json:"t"`
	What string  `json:"what"`
}

// StreamResult is one stream from start to verified files.
type StreamResult struct {
	Name string `json:"name"`
	// State is ok, or lost (never recorded, or gone during the run), or recovered (its files
	// were repaired after the recorder died).
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Loss is the share of packets missing after retransmission on the recorder; Degraded the
	// seconds it was degraded.
	Loss     float64 `json:"loss"`
	Packets  float64 `json:"packets"`
	Lost     float64 `json:"lost"`
	Degraded float64 `json:"degraded"`
	// Recorded is the sum of the file durations; Gaps the holes over 0.5 s between consecutive
	// segments, GapSeconds their total.
	Recorded float64 `json:"recorded"`
	// AVOffset is the largest audio-to-video offset of its valid files (see File.AVOffset).
	AVOffset   float64 `json:"av_offset"`
	Gaps       int     `json:"gaps"`
	GapSeconds float64 `json:"gap_seconds"`
	Files      []*File `json:"files"`
	// SentBytes is the frame bytes its publisher sent until the stop (0 for pulled copies, which
	// have no publisher of their own); WrittenBytes the size of its files.
	SentBytes    int64 `json:"sent_bytes,omitempty"`
	WrittenBytes int64 `json:"written_bytes"`
}

// Figures are the run's results, over the measurement window.
type Figures struct {
	Streams int     `json:"streams"`
	Window  float64 `json:"window"`
	// CPUPerStreamMin is the measured node's CPU-seconds / (streams × minutes); CPUPercent its
	// mean CPU in % of one core.
	CPUPerStreamMin float64 `json:"cpu_per_stream_min"`
	CPUPercent      float64 `json:"cpu_percent"`
	// OriginCPUPercent is the origin's mean CPU (pull topology).
	OriginCPUPercent float64 `json:"origin_cpu_percent,omitempty"`
	PeakRSSMB        float64 `json:"peak_rss_mb"`
	// WritesPerStreamSec is write calls on recording files per second per stream: vigil's own
	// count (vigil_recorder_writes_total) where the node has it, else WriteSyscallsPerStreamSec.
	// WriteSyscallsPerStreamSec counts every write call of the process (syscw in /proc/PID/io:
	// files, but also sockets written with write() and the Go runtime's wake-ups).
	// WriteMBps is the bytes passed to write calls (wchar), in MB/s; DiskWriteMBps what reached
	// block devices (write_bytes; 0 on tmpfs).
	WritesPerStreamSec        float64 `json:"writes_per_stream_s"`
	WriteSyscallsPerStreamSec float64 `json:"write_syscalls_per_stream_s"`
	WriteMBps                 float64 `json:"write_mbps"`
	DiskWriteMBps             float64 `json:"disk_write_mbps"`
	Threads                   int     `json:"threads"`
	Loss                      float64 `json:"loss"`
	UDPDrops                  float64 `json:"udp_drops"`
	// NACKs is how many packets the measured node asked publishers to retransmit over the run,
	// NACKRatio that count over the packets it received: a loss-free run asks for next to none,
	// and an overloaded server that asks for much more than it lost feeds its own overload.
	NACKs     float64 `json:"nacks"`
	NACKRatio float64 `json:"nack_ratio"`
	// WrittenPerSent is the bytes of the streams' files over the frame bytes their publishers
	// sent (streams with a publisher of their own only; 0 when there are none): about 1 when
	// everything sent was recorded (the container adds a little), less when video was lost.
	WrittenPerSent float64 `json:"written_per_sent"`
	// Degraded is stream-seconds degraded; MaxDegraded the most streams degraded at once.
	Degraded    float64 `json:"degraded_s"`
	MaxDegraded float64 `json:"max_degraded"`
	FilesValid  int     `json:"files_valid"`
	FilesTotal  int     `json:"files_total"`
	FilesBad    int     `json:"files_invalid"`
	StreamsLost int     `json:"streams_lost"`
	Gaps        int     `json:"gaps"`
	// AVOffsetMax is the largest audio-to-video offset of any valid file, in seconds (ffprobe).
	AVOffsetMax float64 `json:"av_offset_max_s"`
	// Finalize is seconds from the first stop call until every file was final (no .part left).
	Finalize float64 `json:"finalize_s"`
	// BenchCPUPercent and BenchRSSMB are bench's own process over the window (its publishers
	// run in it): the load generator's share of the machine.
	BenchCPUPercent float64 `json:"bench_cpu_percent"`
	BenchRSSMB      float64 `json:"bench_rss_mb"`
	// MinFreeMB is the least free space seen on the recorder's volume (-1 unknown).
	MinFreeMB float64 `json:"min_free_mb"`
}

// write saves report.json and report.html in dir.
func (r *Report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report dir: %w", err)
	}
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "report.html"))
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := renderHTML(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadReport reads a report.json.
func LoadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read report %s: %w", path, err)
	}
	return &r, nil
}

// measuredNode is the node the figures are about (a zero Info with role "server" if unknown).
func (r *Report) measuredNode() Info {
	if r.Measured >= 0 && r.Measured < len(r.Nodes) {
		return r.Nodes[r.Measured]
	}
	return Info{Role: "server"}
}
