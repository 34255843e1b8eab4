package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrFailOn is a malformed --fail-on expression.
var ErrFailOn = errors.New("bad --fail-on")

// Threshold is one --fail-on condition: the run fails when Figure Op Value holds.
type Threshold struct {
	Figure string
	Op     string // ">", ">=", "<", "<="
	Value  float64
}

func (t Threshold) String() string {
	return t.Figure + t.Op + strconv.FormatFloat(t.Value, 'g', -1, 64)
}

// ParseFailOn parses "cpu_per_stream_min>0.3,loss>0.01": comma-separated figure names (see
// docs/bench.md) with >, >=, < or <= and a number.
func ParseFailOn(s string) ([]Threshold, error) {
	var out []Threshold
	names := map[string]bool{}
	for _, f := range figureDefs() {
		names[f.name] = true
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.IndexAny(part, "<>")
		if i <= 0 {
			return nil, fmt.Errorf("%w: %q: want FIGURE>VALUE or FIGURE<VALUE", ErrFailOn, part)
		}
		t := Threshold{Figure: strings.TrimSpace(part[:i]), Op: part[i : i+1]}
		rest := part[i+1:]
		if strings.HasPrefix(rest, "=") {
			t.Op += "="
			rest = rest[1:]
		}
		if !names[t.Figure] {
			return nil, fmt.Errorf("%w: %q: unknown figure %q (known: %s)", ErrFailOn, part, t.Figure, figureNames())
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrFailOn, part, err)
		}
		t.Value = v
		out = append(out, t)
	}
	return out, nil
}

func figureNames() string {
	var names []string
	for _, f := range figureDefs() {
		names = append(names, f.name)
	}
	return strings.Join(names, ", ")
}

// crossed returns a message for each threshold the figures cross.
func crossed(ts []Threshold, f *Figures) []string {
	get := map[string]func(*Figures) float64{}
	for _, d := range figureDefs() {
		get[d.name] = d.get
	}
	var out []string
	for _, t := range ts {
		v := get[t.Figure](f)
		hit := map[string]bool{">": v > t.Value, ">=": v >= t.Value, "<": v < t.Value, "<=": v <= t.Value}[t.Op]
		if hit {
			out = append(out, fmt.Sprintf("--fail-on %s: %s is %.4g", t, t.Figure, v))
		}
	}
	return out
}
