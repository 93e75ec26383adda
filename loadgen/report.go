package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 ns .. 100 s at 3 significant digits, so every value is kept within 0.1%
// and nothing a run can see is out of range (longer values are recorded as 100 s).
const (
	histMin     = 1
	histMax     = int64(100 * time.Second)
	histSigFigs = 3
)

// NewHist returns an empty histogram of the load generator's range, in nanoseconds.
func NewHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histSigFigs) }

// record adds one latency in ns, clamped to the histogram's range.
func record(h *hdrhistogram.Histogram, ns int64) {
	h.RecordValue(min(max(ns, histMin), histMax))
}

// Merge returns a new histogram holding every value of hs (nil entries are skipped).
func Merge(hs ...*hdrhistogram.Histogram) *hdrhistogram.Histogram {
	m := NewHist()
	for _, h := range hs {
		if h != nil {
			m.Merge(h)
		}
	}
	return m
}

// Percentiles summarise a histogram, in microseconds. Quantiles are the highest value
// equivalent to the recorded one at the histogram's precision (as .hgrm files print them).
type Percentiles struct {
	Count int64   `json:"count"`
	Min   float64 `json:"min_us"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p99_9_us"`
	P9999 float64 `json:"p99_99_us"`
	Max   float64 `json:"max_us"`
}

// PercentilesOf summarises h (values in ns); a nil or empty h gives zeros.
func PercentilesOf(h *hdrhistogram.Histogram) Percentiles {
	if h == nil || h.TotalCount() == 0 {
		return Percentiles{}
	}
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Percentiles{
		Count: h.TotalCount(),
		Min:   us(h.Min()),
		Mean:  h.Mean() / 1e3,
		P50:   us(h.ValueAtQuantile(50)),
		P90:   us(h.ValueAtQuantile(90)),
		P99:   us(h.ValueAtQuantile(99)),
		P999:  us(h.ValueAtQuantile(99.9)),
		P9999: us(h.ValueAtQuantile(99.99)),
		Max:   us(h.Max()),
	}
}

// Report is the outcome of one run against one target. Counts and figures cover the measured
// part of the run only (not warm-up or prefill).
type Report struct {
	Target   string        `json:"target"`
	Workload Workload      `json:"workload"`
	Conns    int           `json:"conns"`
	Pipeline int           `json:"pipeline"`
	Rate     float64       `json:"rate,omitempty"` // open loop: ops/s intended over all connections
	Elapsed  time.Duration `json:"elapsed_ns"`     // the measured span

	Ops       int64   `json:"ops"`
	Gets      int64   `json:"gets"`
	Hits      int64   `json:"hits"` // GETs that found their key
	Sets      int64   `json:"sets"`
	Errors    int64   `json:"errors"` // error replies
	Prefilled int64   `json:"prefilled,omitempty"`
	OpsPerSec float64 `json:"ops_per_sec"`
	HitRate   float64 `json:"hit_rate"` // Hits / Gets
	// CacheHits are GETs a client-side cache answered without a round trip (targets that
	// keep one); CacheHitRate is CacheHits / Gets.
	CacheHits    int64   `json:"cache_hits,omitempty"`
	CacheHitRate float64 `json:"cache_hit_rate,omitempty"`
	// ClientCPUPercent is this process's CPU time (user + system) over the measured span as a
	// share of one core; for in-process targets it includes the server's work.
	ClientCPUPercent float64 `json:"client_cpu_percent"`

	// Latency of every command: closed loop from its batch's send, open loop from its batch's
	// intended send time.
	Latency Percentiles `json:"latency"`
	// SendLag is how late batches left behind their intended time (open loop only).
	SendLag Percentiles `json:"send_lag"`
	Machine Machine     `json:"machine"`

	Hist    *hdrhistogram.Histogram `json:"-"` // latency, ns
	LagHist *hdrhistogram.Histogram `json:"-"` // send lag, ns; empty in closed loop

	// Trace holds the first Options.TraceMax measured commands, in the order their batches'
	// slots were claimed (per connection in send order); TraceDropped counts the measured
	// commands after the buffer was full.
	Trace        []TraceRecord `json:"-"`
	Traced       int64         `json:"traced,omitempty"`
	TraceDropped int64         `json:"trace_dropped,omitempty"`
}

// FileName turns a label into a file name: runs of anything but letters, digits, '.', '-' and
// '_' become one '_'.
func FileName(label string) string {
	var b strings.Builder
	under := false
	for _, r := range label {
		ok := r == '.' || r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9')
		if !ok {
			if !under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = true
			continue
		}
		under = false
		b.WriteRune(r)
	}
	s := strings.TrimRight(b.String(), "_")
	if s == "" || s == "." || s == ".." {
		return "target"
	}
	return s
}

// WriteFiles writes dir/name.json (the report) and dir/name.hgrm (the latency histogram).
func (r *Report) WriteFiles(dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return WriteHgrm(filepath.Join(dir, name+".hgrm"), r.Hist)
}

// WriteHgrm writes h (ns) as an HdrHistogram percentile distribution in microseconds, the
// .hgrm text HdrHistogram's plotters read.
func WriteHgrm(path string, h *hdrhistogram.Histogram) error {
	if h == nil {
		h = NewHist()
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := h.PercentilesPrint(f, 5, 1e3); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// PrintTable writes one line per report: throughput, latency percentiles in µs, hit rate,
// client CPU and errors.
func PrintTable(w io.Writer, reports ...*Report) {
	// Names are padded to one width, so that right-aligned they read left-aligned.
	width := len("target")
	for _, r := range reports {
		width = max(width, len(r.Target))
		if r.Rate > 0 {
			width = max(width, len("  send lag"))
		}
	}
	// The client-side cache column shows only when a target kept a cache.
	cached := false
	for _, r := range reports {
		cached = cached || r.CacheHits > 0
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tops/s\tp50 µs\tp90 µs\tp99 µs\tp99.9 µs\tp99.99 µs\tmax µs\thit rate\tclient CPU\terrors\t", width, "target")
	if cached {
		fmt.Fprint(tw, "cache hits\t")
	}
	fmt.Fprintln(tw)
	for _, r := range reports {
		l := r.Latency
		fmt.Fprintf(tw, "%-*s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f%%\t%d\t", width, r.Target, r.OpsPerSec,
			fmtUs(l.P50), fmtUs(l.P90), fmtUs(l.P99), fmtUs(l.P999), fmtUs(l.P9999), fmtUs(l.Max),
			hitRate(r), r.ClientCPUPercent, r.Errors)
		if cached {
			fmt.Fprintf(tw, "%s\t", cacheHitRate(r))
		}
		fmt.Fprintln(tw)
		if r.Rate > 0 {
			s := r.SendLag
			fmt.Fprintf(tw, "%-*s\t\t%s\t%s\t%s\t%s\t%s\t%s\t\t\t\t\n", width, "  send lag",
				fmtUs(s.P50), fmtUs(s.P90), fmtUs(s.P99), fmtUs(s.P999), fmtUs(s.P9999), fmtUs(s.Max))
		}
	}
	tw.Flush()
}

// PrintMarkdown writes the reports as a Markdown table: throughput, p50, p99 and p99.9 in µs,
// the share of GETs that found their key and the share a client-side cache answered.
func PrintMarkdown(w io.Writer, reports ...*Report) {
	fmt.Fprintln(w, "| target | ops/s | p50 µs | p99 µs | p99.9 µs | hit rate | client-side cache hits |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range reports {
		l := r.Latency
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s |\n", r.Target, r.OpsPerSec,
			fmtUs(l.P50), fmtUs(l.P99), fmtUs(l.P999), hitRate(r), cacheHitRate(r))
	}
}

func cacheHitRate(r *Report) string {
	if r.Gets == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*r.CacheHitRate)
}

func hitRate(r *Report) string {
	if r.Gets == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%", 100*r.HitRate)
}

// fmtUs prints microseconds with about three significant digits.
func fmtUs(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}
