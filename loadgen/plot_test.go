package loadgen

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlots(t *testing.T) {
	a, b := NewHist(), NewHist()
	for i := int64(1); i <= 10000; i++ {
		record(a, 20_000+i*3)
		record(b, 500_000+i*40)
	}
	series := []Series{{Name: "fast-one", Hist: a}, {Name: "slow-one", Hist: b}, {Name: "empty", Hist: NewHist()}}
	curves := []Curve{
		{Name: "tput-a", XY: [][2]float64{{1, 20000}, {2, 35000}, {4, 50000}}},
		{Name: "tput-b", XY: [][2]float64{{1, 2000}, {2, 2500}, {4, 0}}}, // 0 is left out on a log axis
	}
	dir := t.TempDir()
	for _, ext := range []string{"svg", "png", "pdf"} {
		p := filepath.Join(dir, "pct."+ext)
		if err := PlotPercentiles(p, "latency", series); err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		c := filepath.Join(dir, "curves."+ext)
		if err := PlotCurves(c, "throughput", "connections", "ops/s", true, true, curves); err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		for _, f := range []string{p, c} {
			if st, err := os.Stat(f); err != nil || st.Size() < 1000 {
				t.Errorf("%s: %v, %d bytes", f, err, st.Size())
			}
		}
	}
	svg, _ := os.ReadFile(filepath.Join(dir, "pct.svg"))
	for _, want := range []string{"fast-one", "slow-one", "percentile", "latency (µs)", ">99.9<", ">99.99<"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("percentile plot lacks %q", want)
		}
	}
	svg, _ = os.ReadFile(filepath.Join(dir, "curves.svg"))
	for _, want := range []string{"tput-a", "tput-b", "connections", ">4<"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Errorf("curve plot lacks %q", want)
		}
	}
	if err := PlotPercentiles(filepath.Join(dir, "x.gif"), "", series); err == nil || !strings.Contains(err.Error(), ".svg") {
		t.Errorf("gif: %v", err)
	}
}
