package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigilrec/vigil/internal/storage"
)

// finish collects and verifies the files, judges the run, writes the reports and prints the
// table.
func (r *runner) finish(ctx context.Context, stdout io.Writer) (*Report, error) {
	r.setPhase("verifying")
	died := r.nodeDown()
	if died != "" {
		r.recover(ctx)
	}
	files := r.collect(ctx)
	for _, n := range r.nodes {
		if err := n.stop(30 * time.Second); err != nil {
			r.rep.Failures = append(r.rep.Failures, err.Error())
		}
	}
	var all []*File
	for _, fs := range files {
		all = append(all, fs...)
	}
	r.view.say("verifying %d files…", len(all))
	verifyCtx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	newVerifier(r.cfg.Verify, videoCodecName(r.video.Codec)).verifyAll(verifyCtx, all)

	r.rep.Ended = time.Now()
	r.rep.Samples = r.smp.all()
	r.rep.Measured = r.measured
	for _, s := range r.streams {
		r.rep.Streams = append(r.rep.Streams, r.result(s, files[s.name], died != ""))
	}
	computeFigures(r.rep)
	r.judge()
	if err := r.rep.write(r.cfg.Out); err != nil {
		return r.rep, err
	}
	PrintTable(stdout, r.rep)
	fmt.Fprintf(stdout, "\nreport: %s, %s\n", filepath.Join(r.cfg.Out, "report.json"), filepath.Join(r.cfg.Out, "report.html"))
	if len(r.rep.Failures) > 0 {
		return r.rep, fmt.Errorf("%w: %d problems, listed above", ErrFailed, len(r.rep.Failures))
	}
	return r.rep, nil
}

// recover restarts bench's own measured node after it died, so that it repairs the files the
// crash left unfinished (they are listed as "recovered").
func (r *runner) recover(ctx context.Context) {
	n := r.nodes[r.measured]
	if n.cmd == nil {
		return
	}
	select {
	case <-n.exited:
	default:
		return // it was another node that died
	}
	r.view.say("restarting the %s node to recover its unfinished files…", n.role)
	if err := n.restart(ctx, r.cfg.Exe); err != nil {
		r.event("could not restart the %s node: %v", n.role, err)
		n.vigil = false // its files are read from its directory as they are
		return
	}
	r.event("%s node restarted (pid %d) to recover its files", n.role, n.pid)
}

// collect lists each stream's files: from the measured node's recordings API (vigil), else from
// --files or the node's directory.
func (r *runner) collect(ctx context.Context) map[string][]*File {
	n := r.nodes[r.measured]
	out := map[string][]*File{}
	if !n.vigil && r.cfg.Files == "" && n.dir == "" {
		r.noFiles = true
		r.event("files not checked: give --files with the server's recordings directory")
		return out
	}
	dlDir := filepath.Join(r.work, "downloads")
	for _, s := range r.streams {
		var segs []segment
		var err error
		if n.vigil && n.nodeUp() {
			segs, err = n.api.segments(ctx, s.name)
		}
		switch {
		case err == nil && len(segs) > 0:
			out[s.name] = r.segmentFiles(ctx, n, s.name, segs, dlDir)
		case r.cfg.Files != "":
			out[s.name] = filesIn(r.cfg.Files, s.name)
		case n.dir != "":
			out[s.name] = filesIn(n.dir, s.name)
		}
	}
	return out
}

func (r *runner) segmentFiles(ctx context.Context, n *node, stream string, segs []segment, dlDir string) []*File {
	var files []*File
	for _, seg := range segs {
		f := &File{Stream: stream, Path: filepath.Join(n.dir, seg.Path), State: seg.State, Bytes: seg.Bytes,
			Duration: seg.Duration, Start: r.since(seg.Start), End: r.since(seg.End)}
		if n.dir == "" && seg.State != "deleted" {
			_ = os.MkdirAll(dlDir, 0o755)
			f.Path = filepath.Join(dlDir, seg.Path)
			if err := n.api.download(ctx, seg.ID, f.Path); err != nil {
				f.Problem = err.Error()
			}
		}
		files = append(files, f)
	}
	return files
}

func (r *runner) since(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return t.Sub(r.start).Seconds()
}

// nodeUp reports whether a node can be asked: a child that runs, or any other node.
func (n *node) nodeUp() bool {
	if n.exited == nil {
		return true
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// result judges one stream.
func (r *runner) result(s *streamRun, files []*File, died bool) StreamResult {
	tr := r.smp.stream(s.name)
	res := StreamResult{Name: s.name, State: "ok", Packets: tr.packets, Lost: tr.lost, Degraded: tr.degraded, Files: files,
		SentBytes: int64(s.sentBytes)}
	for _, f := range files {
		res.WrittenBytes += f.Bytes
	}
	if tr.packets+tr.lost > 0 {
		res.Loss = tr.lost / (tr.packets + tr.lost)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Start < files[j].Start })
	valid := 0
	for i, f := range files {
		if f.Valid {
			valid++
			res.Recorded += f.mediaSeconds()
			res.AVOffset = max(res.AVOffset, f.AVOffset)
		}
		if i > 0 && f.Start > 0 && files[i-1].End > 0 && f.Start-files[i-1].End > 0.5 {
			res.Gaps++
			res.GapSeconds += f.Start - files[i-1].End
		}
	}
	recovered := slices.ContainsFunc(files, func(f *File) bool { return f.Valid && (f.State == "recovered" || f.State == "part") })
	short := r.shortBy(files, res.Recorded)
	switch {
	case s.err != nil:
		res.State, res.Reason = "lost", s.err.Error()
	case died && recovered:
		res.State, res.Reason = "recovered", "the node died; its files were recovered"
	case died:
		res.State, res.Reason = "lost", "the node died and no file of it survived"
	case s.dropped != "":
		res.State, res.Reason = "lost", s.dropped
	case tr.seen && tr.lastSeen < min(r.rep.WindowEnd, r.smp.lastScrape())-3:
		// Not listed by a later scrape that answered, before the stop: it left.
		res.State, res.Reason = "lost", fmt.Sprintf("left the %s at %.0f s", r.nodes[r.measured].role, tr.lastSeen)
	case r.noFiles:
		res.Reason = "files not checked"
	case valid == 0 && len(files) == 0:
		res.State, res.Reason = "lost", "no file"
	case valid == 0:
		res.State, res.Reason = "lost", "no valid file"
	case short != "":
		res.State, res.Reason = "lost", short
	}
	return res
}

// shortBy checks that the files hold the media of the whole recording: from the first file's
// start (catalog time) to the end of the window, less at most a second and 5%. Segments deleted by
// retention count with the duration the catalog gave them. "" when complete or unknown.
func (r *runner) shortBy(files []*File, recorded float64) string {
	if len(files) == 0 || files[0].Start <= 0 {
		return ""
	}
	for _, f := range files {
		if f.State == "deleted" {
			recorded += f.Duration
		}
	}
	want := r.rep.WindowEnd - files[0].Start
	if recorded >= want*0.95-1 {
		return ""
	}
	return fmt.Sprintf("media missing: %.1f s recorded of %.1f s", recorded, want)
}

// judge lists why the run fails: invalid files, lost streams, thresholds.
func (r *runner) judge() {
	f := &r.rep.Figures
	var bad, lost []string
	for _, s := range r.rep.Streams {
		if s.State != "ok" {
			lost = append(lost, s.Name+" "+s.State+" ("+s.Reason+")")
		}
		for _, file := range s.Files {
			if !file.Valid && file.State != "deleted" {
				bad = append(bad, filepath.Base(file.Path)+": "+file.Problem)
			}
		}
	}
	if len(bad) > 0 {
		r.rep.Failures = append(r.rep.Failures, fmt.Sprintf("%d of %d files invalid: %s", f.FilesBad, f.FilesTotal, clip(bad, 5)))
	}
	if len(lost) > 0 {
		r.rep.Failures = append(r.rep.Failures, fmt.Sprintf("%d of %d streams not recorded in full: %s", len(lost), len(r.rep.Streams), clip(lost, 5)))
	}
	r.rep.Failures = append(r.rep.Failures, crossed(r.cfg.FailOn, f)...)
}

func clip(list []string, n int) string {
	if len(list) > n {
		return strings.Join(list[:n], "; ") + fmt.Sprintf("; … %d more", len(list)-n)
	}
	return strings.Join(list, "; ")
}

// partFiles lists the unfinished files under dir.
func partFiles(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, storage.PartSuffix) {
			out = append(out, filepath.Base(path))
		}
		return nil
	})
	return out
}

// mediaSeconds is the file's video time where known (the container's duration also counts audio
// that runs past the video), else its duration.
func (f *File) mediaSeconds() float64 {
	if f.VideoDuration > 0 {
		return f.VideoDuration
	}
	return f.Duration
}
