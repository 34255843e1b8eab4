package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
)

// Compare prints the figures of two runs side by side with the ratio b/a. Ratios compare runs
// made on the same machine; absolute figures from different machines do not.
func Compare(w io.Writer, a, b *Report, nameA, nameB string) error {
	// Numbers align right; the labels are padded to one width so that they read left-aligned.
	width := len("figure")
	for _, f := range figureDefs() {
		width = max(width, len(f.label))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\t%s\t%s\tB/A\t \n", width, "figure", nameA, nameB)
	fmt.Fprintf(tw, "%-*s\t%s\t%s\t\t \n", width, "run", describe(a), describe(b))
	for _, f := range figureDefs() {
		va, vb := f.get(&a.Figures), f.get(&b.Figures)
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t %s\n", width, f.label, num(va), num(vb), ratio(va, vb), f.unit)
	}
	return tw.Flush()
}

func describe(r *Report) string {
	s := r.Settings
	return fmt.Sprintf("%s %d×%s %s %.0fs", s.Topology, s.Streams, s.Codec, s.Profile, s.Duration)
}

func ratio(a, b float64) string {
	switch {
	case a == 0 && b == 0:
		return "="
	case a == 0:
		return "∞"
	}
	return fmt.Sprintf("%.2f", b/a)
}

func num(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f", v)
	case v >= 1 || v <= -1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.4f", v)
}
