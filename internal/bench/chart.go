package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH                = 640.0, 220.0
	padL, padR, padTop, padBottom = 56.0, 12.0, 12.0, 28.0
)

// chart is one inline SVG plot of series over the run's time.
type chart struct {
	Title, Unit string
	Series      []line
	YTicks      []tick
	XTicks      []tick
	// Window is the measurement window as x and width (0 width: none).
	WindowX, WindowW float64
	W, H             float64
	PlotL, PlotR     float64
	PlotT, PlotB     float64
	PlotH            float64
}

type line struct {
	Name, Color string
	// Path is the SVG path data; empty when the series has no point.
	Path string
}

type tick struct {
	Pos   float64
	Label string
}

// series is a named list of (t, v) points; NaN values break the line.
type series struct {
	name   string
	t, v   []float64
	color  string
	points int
}

func newSeries(name, color string) *series { return &series{name: name, color: color} }

func (s *series) add(t, v float64) {
	s.t = append(s.t, t)
	s.v = append(s.v, v)
	if !math.IsNaN(v) {
		s.points++
	}
}

// newChart scales the series into one plot over [0, tmax] seconds.
func newChart(title, unit string, tmax, winFrom, winTo float64, ss ...*series) chart {
	c := chart{Title: title, Unit: unit, W: chartW, H: chartH, PlotL: padL, PlotR: chartW - padR,
		PlotT: padTop, PlotB: chartH - padBottom, PlotH: chartH - padBottom - padTop}
	ymax := 0.0
	for _, s := range ss {
		for _, v := range s.v {
			if !math.IsNaN(v) {
				ymax = math.Max(ymax, v)
			}
		}
	}
	ymax = niceCeil(ymax)
	tmax = math.Max(tmax, 1)
	x := func(t float64) float64 { return c.PlotL + t/tmax*(c.PlotR-c.PlotL) }
	y := func(v float64) float64 { return c.PlotB - v/ymax*(c.PlotB-c.PlotT) }
	for _, s := range ss {
		c.Series = append(c.Series, line{Name: s.name, Color: s.color, Path: pathData(s, x, y)})
	}
	for i := range 5 {
		v := ymax * float64(i) / 4
		c.YTicks = append(c.YTicks, tick{Pos: y(v), Label: short(v)})
	}
	step := niceCeil(tmax / 6)
	for t := 0.0; t <= tmax+1e-9; t += step {
		c.XTicks = append(c.XTicks, tick{Pos: x(t), Label: strconv.FormatFloat(t, 'f', -1, 64) + " s"})
	}
	if winTo > winFrom {
		c.WindowX, c.WindowW = x(winFrom), x(winTo)-x(winFrom)
	}
	return c
}

func pathData(s *series, x, y func(float64) float64) string {
	var b strings.Builder
	pen := false
	for i, v := range s.v {
		if math.IsNaN(v) {
			pen = false
			continue
		}
		cmd := "L"
		if !pen {
			cmd = "M"
		}
		fmt.Fprintf(&b, "%s%.1f,%.1f ", cmd, x(s.t[i]), y(v))
		pen = true
	}
	return strings.TrimSpace(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for v ≤ 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*1.0000001 {
			return m * p
		}
	}
	return 10 * p
}

func short(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 3, 64) + "G"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	}
	return fmt.Sprintf("%.4g", v)
}
