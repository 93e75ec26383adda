package loadgen

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plot size: 9 x 5.5 inches.
const plotW, plotH = 9 * vg.Inch, 5.5 * vg.Inch

// Series is one latency histogram (ns) to plot by percentile.
type Series struct {
	Name string
	Hist *hdrhistogram.Histogram
}

// Curve is one line of points (x, y).
type Curve struct {
	Name string
	XY   [][2]float64
}

// PlotPercentiles draws latency (µs, log scale) against percentile, one line per series. The x
// axis is 1/(1-q) on a log scale, so 90, 99, 99.9 ... are equally spaced and the tail gets
// the room it deserves. The file type follows path's extension: .svg, .png, .pdf.
func PlotPercentiles(path, title string, series []Series) error {
	if err := checkPlotPath(path); err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency (µs)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	maxInv := 10.0
	for i, s := range series {
		if s.Hist == nil || s.Hist.TotalCount() == 0 {
			continue
		}
		var xy plotter.XYs
		total := float64(s.Hist.TotalCount())
		for _, b := range s.Hist.CumulativeDistributionWithTicks(5) {
			// The last bracket is q = 1, at infinity on this axis: end at the last value
			// instead, one sample short of it.
			q := min(b.Quantile/100, 1-1/total)
			if b.ValueAt <= 0 || q < 0 {
				continue
			}
			inv := 1 / (1 - q)
			xy = append(xy, plotter.XY{X: inv, Y: float64(b.ValueAt) / 1e3})
			maxInv = max(maxInv, inv)
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		l.LineStyle.Color = plotutil.Color(i)
		l.LineStyle.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		l.LineStyle.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.Name, l)
	}
	// Ticks at 0, 50, 90, 99, 99.9 ... as far as the data go.
	ticks := plot.ConstantTicks{{Value: 1, Label: "0"}, {Value: 2, Label: "50"}}
	for n, label := 1, "90"; ; n++ {
		inv := math.Pow(10, float64(n))
		ticks = append(ticks, plot.Tick{Value: inv, Label: label})
		if inv >= maxInv*0.999 { // maxInv is a power of ten for a count like 10^5
			break
		}
		if n == 1 {
			label = "99"
		} else if n == 2 {
			label = "99.9"
		} else {
			label += "9"
		}
	}
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = 1, ticks[len(ticks)-1].Value
	return p.Save(plotW, plotH, path)
}

// PlotCurves draws curves of y against x, with points marked, each axis linear or log
// (points <= 0 are left out of a log axis). On a log x axis the ticks sit at the points' x
// values (e.g. 1, 2, 4 ... connections).
func PlotCurves(path, title, xLabel, yLabel string, logX, logY bool, curves []Curve) error {
	if err := checkPlotPath(path); err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	}
	var xs []float64
	if logX {
		p.X.Scale = plot.LogScale{}
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	for i, c := range curves {
		var xy plotter.XYs
		for _, pt := range c.XY {
			if (logX && pt[0] <= 0) || (logY && pt[1] <= 0) || math.IsNaN(pt[0]) || math.IsNaN(pt[1]) {
				continue
			}
			xy = append(xy, plotter.XY{X: pt[0], Y: pt[1]})
			xs = append(xs, pt[0])
		}
		if len(xy) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		l.LineStyle.Color = plotutil.Color(i)
		l.LineStyle.Dashes = plotutil.Dashes(i / len(plotutil.DefaultColors))
		l.LineStyle.Width = vg.Points(1.5)
		s.GlyphStyle.Color = plotutil.Color(i)
		s.GlyphStyle.Shape = plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(c.Name, l, s)
	}
	if logX && len(xs) > 0 {
		slices.Sort(xs)
		var ticks plot.ConstantTicks
		for _, x := range slices.Compact(xs) {
			ticks = append(ticks, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'g', -1, 64)})
		}
		p.X.Tick.Marker = ticks
	}
	return p.Save(plotW, plotH, path)
}

// logTicks marks a log axis at 1..9 x 10^k, labelled at 1, 2 and 5 x 10^k, or at 10^k only
// when the axis spans more than four decades.
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(lo > 0 && hi >= lo) {
		return nil
	}
	wide := hi/lo > 1e4
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); math.Pow(10, e) <= hi; e++ {
		base := math.Pow(10, e)
		for m := 1; m <= 9; m++ {
			v := float64(m) * base
			if v < lo*0.999 || v > hi*1.001 {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (!wide && (m == 2 || m == 5)) {
				t.Label = strconv.FormatFloat(v, 'f', int(max(-e, 0)), 64)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

func checkPlotPath(path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg", ".png", ".pdf":
		return nil
	}
	return errors.New("plot " + path + ": want a .svg, .png or .pdf file")
}
