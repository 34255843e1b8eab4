package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// statusView is the live status block: redrawn in place on a terminal, one line every few
// seconds otherwise. Messages (say) are printed above the block.
type statusView struct {
	w     io.Writer
	tty   bool
	every time.Duration

	mu        sync.Mutex
	drawn     int // lines of the block on screen (tty)
	lastPrint time.Time
}

func newStatusView(w io.Writer) *statusView {
	v := &statusView{w: w, every: 5 * time.Second}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			v.tty = true
		}
	}
	return v
}

// say prints a message line.
func (v *statusView) say(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.clear()
	fmt.Fprintf(v.w, format+"\n", args...)
}

// clear removes the block from a terminal (the caller holds mu).
func (v *statusView) clear() {
	if v.tty && v.drawn > 0 {
		fmt.Fprintf(v.w, "\x1b[%dA\x1b[J", v.drawn)
		v.drawn = 0
	}
}

// done leaves the last block on screen and stops redrawing over it.
func (v *statusView) done() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.drawn = 0
}

// status is what one redraw shows.
type status struct {
	phase              string
	elapsed, remaining time.Duration
	streams, started   int
	nodes              []Info
	sample             Sample
	measured           int
}

func (v *statusView) show(st status) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.tty {
		if time.Since(v.lastPrint) < v.every {
			return
		}
		v.lastPrint = time.Now()
		fmt.Fprintln(v.w, st.line())
		return
	}
	v.clear()
	lines := st.block()
	fmt.Fprint(v.w, strings.Join(lines, "\n")+"\n")
	v.drawn = len(lines)
}

func (st status) counts() string {
	ns := st.sample.Nodes
	if st.measured >= len(ns) || ns[st.measured].Metrics == nil {
		return fmt.Sprintf("streams started %d/%d", st.started, st.streams)
	}
	m := ns[st.measured].Metrics
	loss := 0.0
	if m.Packets+m.Lost > 0 {
		loss = m.Lost / (m.Packets + m.Lost) * 100
	}
	// The media socket's drops (metrics) and those of every UDP socket of the process (/proc:
	// pulls have sockets of their own).
	drops := max(m.UDPDrops, float64(ns[st.measured].UDPDrops))
	return fmt.Sprintf("streams live %.0f/%d  recording %.0f  degraded %.0f  loss %.2f%%  udp drops %.0f",
		m.StreamsIn, st.streams, m.Recording, m.Degraded, loss, drops)
}

func (st status) node(i int) string {
	n := st.sample.Nodes[i]
	if !n.Up {
		return fmt.Sprintf("%-9s DOWN", st.nodes[i].Role)
	}
	s := fmt.Sprintf("%-9s cpu %5.1f%%  rss %5.0f MB  write %6.2f MB/s %6.1f/s", st.nodes[i].Role, n.CPU*100,
		float64(n.RSS)/1e6, n.WriteRate/1e6, n.Writes)
	if n.DiskFree >= 0 {
		s += fmt.Sprintf("  free %s", mb(n.DiskFree))
		if n.TimeToFull >= 0 {
			s += ", full in " + humanSeconds(n.TimeToFull)
		}
	}
	if g := guard(n); g != "" {
		s += "  disk guard " + g
	}
	return s
}

func guard(n NodeSample) string {
	if n.Metrics == nil {
		return ""
	}
	return n.Metrics.Guard
}

func (st status) block() []string {
	out := []string{fmt.Sprintf("[%s] elapsed %s  remaining %s", st.phase, st.elapsed.Round(time.Second),
		st.remaining.Round(time.Second)), "  " + st.counts()}
	for i := range st.sample.Nodes {
		out = append(out, "  "+st.node(i))
	}
	return out
}

func (st status) line() string {
	parts := []string{fmt.Sprintf("%6.0fs %s", st.elapsed.Seconds(), st.phase), st.counts()}
	for i := range st.sample.Nodes {
		parts = append(parts, strings.Join(strings.Fields(st.node(i)), " "))
	}
	return strings.Join(parts, " | ")
}

// humanSeconds writes a span for people: 45s, 12m30s, 5.2h, 3.1d.
func humanSeconds(s float64) string {
	switch {
	case s < 3600:
		return (time.Duration(s) * time.Second).String()
	case s < 48*3600:
		return fmt.Sprintf("%.1fh", s/3600)
	}
	return fmt.Sprintf("%.1fd", s/86400)
}
