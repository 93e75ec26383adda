package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"text/tabwriter"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Comparison is the outcome of Compare: every round's reports, and each figure as the ratio
// B/A with its spread over the rounds.
type Comparison struct {
	A       string  `json:"a"`
	B       string  `json:"b"`
	Floor   string  `json:"floor,omitempty"`
	Options Options `json:"options"`
	Rounds  []Round `json:"rounds"`
	// Figures compare A and B; OverFloor is each target's latency minus the floor's.
	Figures   []Figure    `json:"figures"`
	OverFloor []OverFloor `json:"over_floor,omitempty"`
}

// Round is one run of each target, in the order A, B, floor.
type Round struct {
	A     *Report `json:"a"`
	B     *Report `json:"b"`
	Floor *Report `json:"floor,omitempty"`
}

// Figure is one figure of A and B: medians over the rounds, and the ratio B/A of the same
// round (the runs of a round are as close in time as they can be) as median, min and max.
type Figure struct {
	Name     string  `json:"name"`
	A        float64 `json:"a"`
	B        float64 `json:"b"`
	Ratio    float64 `json:"ratio"`
	RatioMin float64 `json:"ratio_min"`
	RatioMax float64 `json:"ratio_max"`
}

// OverFloor is the latency a target adds over the floor at one percentile: target minus floor
// of the same round, in µs, as median, min and max over the rounds.
type OverFloor struct {
	Name string  `json:"name"` // "p50", "p99"
	A    float64 `json:"a_us"`
	AMin float64 `json:"a_min_us"`
	AMax float64 `json:"a_max_us"`
	B    float64 `json:"b_us"`
	BMin float64 `json:"b_min_us"`
	BMax float64 `json:"b_max_us"`
}

// Compare runs A, B and the floor (if not nil) in turn, rounds times, so that drift of the
// machine over time hits all of them alike. With o.Prefill the keys are set in the first
// round only. A line per run goes to progress, if set.
func Compare(ctx context.Context, a, b, floor Target, o Options, rounds int, progress io.Writer) (*Comparison, error) {
	rounds = max(rounds, 1)
	if err := o.normalize(); err != nil {
		return nil, err
	}
	c := &Comparison{A: a.Name(), B: b.Name(), Options: o}
	if floor != nil {
		c.Floor = floor.Name()
	}
	one := func(round int, role string, t Target) (*Report, error) {
		r, err := Run(ctx, t, o)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			fmt.Fprintf(progress, "round %d/%d %-5s %-20s p50 %8sµs p99 %8sµs %9.0f ops/s\n",
				round+1, rounds, role, t.Name(), fmtUs(r.Latency.P50), fmtUs(r.Latency.P99), r.OpsPerSec)
		}
		return r, nil
	}
	for i := range rounds {
		var rd Round
		var err error
		if rd.A, err = one(i, "A", a); err != nil {
			return nil, err
		}
		if rd.B, err = one(i, "B", b); err != nil {
			return nil, err
		}
		if floor != nil {
			if rd.Floor, err = one(i, "floor", floor); err != nil {
				return nil, err
			}
		}
		c.Rounds = append(c.Rounds, rd)
		o.Prefill = false
	}
	c.summarise()
	return c, nil
}

// figures are the compared figures and how to read each from a report.
var figures = []struct {
	name string
	get  func(*Report) float64
}{
	{"ops/s", func(r *Report) float64 { return r.OpsPerSec }},
	{"p50 µs", func(r *Report) float64 { return r.Latency.P50 }},
	{"p90 µs", func(r *Report) float64 { return r.Latency.P90 }},
	{"p99 µs", func(r *Report) float64 { return r.Latency.P99 }},
	{"p99.9 µs", func(r *Report) float64 { return r.Latency.P999 }},
	{"p99.99 µs", func(r *Report) float64 { return r.Latency.P9999 }},
	{"max µs", func(r *Report) float64 { return r.Latency.Max }},
	{"client CPU %", func(r *Report) float64 { return r.ClientCPUPercent }},
}

func (c *Comparison) summarise() {
	c.Figures, c.OverFloor = nil, nil
	for _, f := range figures {
		var as, bs, ratios []float64
		for _, rd := range c.Rounds {
			av, bv := f.get(rd.A), f.get(rd.B)
			as, bs = append(as, av), append(bs, bv)
			if av != 0 {
				ratios = append(ratios, bv/av)
			}
		}
		fig := Figure{Name: f.name, A: median(as), B: median(bs)}
		fig.Ratio, fig.RatioMin, fig.RatioMax = spread(ratios)
		c.Figures = append(c.Figures, fig)
	}
	if c.Floor == "" {
		return
	}
	for _, f := range []struct {
		name string
		get  func(*Report) float64
	}{
		{"p50", func(r *Report) float64 { return r.Latency.P50 }},
		{"p99", func(r *Report) float64 { return r.Latency.P99 }},
	} {
		var as, bs []float64
		for _, rd := range c.Rounds {
			fl := f.get(rd.Floor)
			as, bs = append(as, f.get(rd.A)-fl), append(bs, f.get(rd.B)-fl)
		}
		of := OverFloor{Name: f.name}
		of.A, of.AMin, of.AMax = spread(as)
		of.B, of.BMin, of.BMax = spread(bs)
		c.OverFloor = append(c.OverFloor, of)
	}
}

// Merged returns the latency histograms of every round merged per target; floor is nil
// without a floor.
func (c *Comparison) Merged() (a, b, floor *hdrhistogram.Histogram) {
	var as, bs, fs []*hdrhistogram.Histogram
	for _, rd := range c.Rounds {
		as, bs = append(as, rd.A.Hist), append(bs, rd.B.Hist)
		if rd.Floor != nil {
			fs = append(fs, rd.Floor.Hist)
		}
	}
	a, b = Merge(as...), Merge(bs...)
	if c.Floor != "" {
		floor = Merge(fs...)
	}
	return a, b, floor
}

// Print writes the comparison: a figure a line with A's and B's medians, the ratio B/A and
// its spread, then the latency each target adds over the floor.
func (c *Comparison) Print(w io.Writer) {
	o := c.Options
	loop := "closed loop"
	if o.Rate > 0 {
		loop = fmt.Sprintf("open loop at %.0f ops/s", o.Rate)
	}
	fmt.Fprintf(w, "A = %s, B = %s", c.A, c.B)
	if c.Floor != "" {
		fmt.Fprintf(w, ", floor = %s", c.Floor)
	}
	fmt.Fprintf(w, "\n%d rounds of %v (after %v warm-up) per target, %d conns, pipeline %d, %s\n\n",
		len(c.Rounds), o.Duration, o.Warmup, o.Conns, o.Pipeline, loop)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "figure\tA (median)\tB (median)\tB/A\tspread (min .. max)\t")
	for _, f := range c.Figures {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s .. %s\t\n", f.Name, fmtUs(f.A), fmtUs(f.B), fmtRatio(f.Ratio), fmtRatio(f.RatioMin), fmtRatio(f.RatioMax))
	}
	tw.Flush()
	if len(c.OverFloor) == 0 {
		return
	}
	fmt.Fprintf(w, "\nadded latency over the floor (target − floor of the same round, µs: median (min .. max)):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "\t")
	for _, of := range c.OverFloor {
		fmt.Fprintf(tw, "%s\t", of.Name)
	}
	fmt.Fprintln(tw)
	for _, side := range []string{"A", "B"} {
		name := c.A
		if side == "B" {
			name = c.B
		}
		fmt.Fprintf(tw, "%s %s\t", side, name)
		for _, of := range c.OverFloor {
			m, lo, hi := of.A, of.AMin, of.AMax
			if side == "B" {
				m, lo, hi = of.B, of.BMin, of.BMax
			}
			fmt.Fprintf(tw, "%s (%s .. %s)\t", fmtUs(m), fmtUs(lo), fmtUs(hi))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func median(v []float64) float64 {
	m, _, _ := spread(v)
	return m
}

// spread returns the median (the mean of the middle two of an even count), min and max of v;
// zeros for none.
func spread(v []float64) (med, lo, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	return (s[(n-1)/2] + s[n/2]) / 2, s[0], s[n-1]
}

// fmtRatio prints a ratio with three significant digits, without an exponent.
func fmtRatio(r float64) string {
	if math.Abs(r) >= 100 {
		return fmt.Sprintf("%.0f", r)
	}
	return strconv.FormatFloat(r, 'g', 3, 64)
}
