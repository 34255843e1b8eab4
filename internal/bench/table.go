package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// PrintTable writes the run's result: the figures, then the streams (all of them up to 20,
// otherwise those with a problem), then why the run failed.
func PrintTable(w io.Writer, r *Report) {
	f := &r.Figures
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	measured := r.measuredNode()
	fmt.Fprintf(tw, "\n%s: %s, measured on the %s node (pid %d) over %.0f s with %d streams\n",
		"vigil bench", describe(r), measured.Role, measured.PID, f.Window, f.Streams)
	rows := [][2]string{
		{"CPU per stream-minute", fmt.Sprintf("%.3f CPU-s  (mean %.1f%% of one core; %d cores)", f.CPUPerStreamMin, f.CPUPercent, r.CPUs)},
		{"peak RSS", fmt.Sprintf("%.0f MB  (%d threads at most)", f.PeakRSSMB, f.Threads)},
		{"writes per second per stream", fmt.Sprintf("%.2f  (write syscalls of any kind %.2f; %.2f MB/s written, %.2f MB/s to block devices)",
			f.WritesPerStreamSec, f.WriteSyscallsPerStreamSec, f.WriteMBps, f.DiskWriteMBps)},
		{"loss", fmt.Sprintf("%.3f%%  (kernel UDP drops %.0f)", f.Loss*100, f.UDPDrops)},
		{"packets NACKed", fmt.Sprintf("%.0f  (%.3f%% of the packets received)", f.NACKs, f.NACKRatio*100)},
		{"degraded time", fmt.Sprintf("%.0f stream-s  (at most %.0f streams at once)", f.Degraded, f.MaxDegraded)},
		{"files valid / total", fmt.Sprintf("%d / %d", f.FilesValid, f.FilesTotal)},
		{"streams lost", fmt.Sprintf("%d", f.StreamsLost)},
		{"gaps between segments", fmt.Sprintf("%d", f.Gaps)},
		{"audio-to-video offset", fmt.Sprintf("%.2f s at most%s", f.AVOffsetMax, avNote(f.AVOffsetMax))},
		{"stop calls to every file final", fmt.Sprintf("%.2f s", f.Finalize)},
	}
	if f.WrittenPerSent > 0 {
		rows = append(rows, [2]string{"bytes written / bytes sent", fmt.Sprintf("%.3f  (files over the frames their publishers sent)", f.WrittenPerSent)})
	}
	if f.OriginCPUPercent > 0 {
		rows = append(rows, [2]string{"origin CPU", fmt.Sprintf("%.1f%% of one core", f.OriginCPUPercent)})
	}
	rows = append(rows, [2]string{"bench itself", fmt.Sprintf("%.1f%% of one core, %.0f MB (its publishers run in it)", f.BenchCPUPercent, f.BenchRSSMB)})
	if f.MinFreeMB >= 0 {
		rows = append(rows, [2]string{"least free disk", fmt.Sprintf("%.0f MB", f.MinFreeMB)})
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "  %s\t%s\n", row[0], row[1])
	}
	tw.Flush()
	printStreams(w, r)
	for _, e := range r.Events {
		fmt.Fprintf(w, "  at %5.1f s: %s\n", e.T, e.What)
	}
	if len(r.Failures) == 0 {
		fmt.Fprintln(w, "\nPASS")
		return
	}
	fmt.Fprintln(w, "\nFAIL")
	for _, msg := range r.Failures {
		fmt.Fprintln(w, "  "+msg)
	}
}

func printStreams(w io.Writer, r *Report) {
	all := len(r.Streams) <= 20
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := false
	for _, s := range r.Streams {
		bad := s.State != "ok" || s.Gaps > 0 || s.AVOffset > 0.2
		for _, file := range s.Files {
			bad = bad || !file.Valid && file.State != "deleted"
		}
		if !all && !bad {
			continue
		}
		if !header {
			fmt.Fprintln(tw, "\n  stream\tstate\tloss\tdegraded\trecorded\tfiles\t")
			header = true
		}
		fmt.Fprintf(tw, "  %s\t%s\t%.2f%%\t%.0f s\t%.1f s\t%s\t\n", s.Name, stateText(s), s.Loss*100, s.Degraded, s.Recorded, filesText(s.Files))
	}
	tw.Flush()
}

func stateText(s StreamResult) string {
	if s.Reason == "" {
		return s.State
	}
	return s.State + " (" + s.Reason + ")"
}

func filesText(files []*File) string {
	if len(files) == 0 {
		return "none"
	}
	var parts []string
	for _, f := range files {
		name := f.Path[strings.LastIndexByte(f.Path, '/')+1:]
		switch {
		case f.State == "deleted":
			parts = append(parts, name+" deleted by retention")
		case f.Valid:
			av := ""
			if f.AVOffset > 0.2 {
				av = fmt.Sprintf(", audio %.1f s off the video", f.AVOffset)
			}
			parts = append(parts, fmt.Sprintf("%s %s %.1f s ok%s", name, f.State, f.mediaSeconds(), av))
		default:
			parts = append(parts, fmt.Sprintf("%s %s INVALID: %s", name, f.State, f.Problem))
		}
	}
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("… %d files", len(files)))
	}
	return strings.Join(parts, "; ")
}

// avNote flags an offset that a viewer would notice.
func avNote(offset float64) string {
	if offset > 0.2 {
		return "  (audio and video out of step in some files: see the streams below)"
	}
	return ""
}
