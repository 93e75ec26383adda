package loadgen

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMergeAcrossWorkers: histograms recorded by separate workers, merged, give the same
// distribution as one histogram that saw every value.
func TestMergeAcrossWorkers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	all := NewHist()
	parts := make([]*Report, 4)
	for i := range parts {
		parts[i] = &Report{Hist: NewHist()}
		// Each worker sees a differently shaped distribution, so a merge that dropped or
		// double-counted one would move the quantiles.
		for range 20000 * (i + 1) {
			v := int64(1000*(i+1)) + r.Int64N(int64(100_000*(i+1)))
			if r.IntN(1000) == 0 {
				v = int64(50 * time.Millisecond)
			}
			record(parts[i].Hist, v)
			record(all, v)
		}
	}
	m := Merge(parts[0].Hist, nil, parts[1].Hist, parts[2].Hist, parts[3].Hist)
	if m.TotalCount() != all.TotalCount() || m.TotalCount() != 200000 {
		t.Fatalf("merged %d values, recorded %d", m.TotalCount(), all.TotalCount())
	}
	for _, q := range []float64{0, 10, 50, 90, 99, 99.9, 99.99, 100} {
		if a, b := m.ValueAtQuantile(q), all.ValueAtQuantile(q); a != b {
			t.Errorf("q%v: merged %d, single %d", q, a, b)
		}
	}
	if PercentilesOf(m) != PercentilesOf(all) {
		t.Errorf("percentiles differ: %+v vs %+v", PercentilesOf(m), PercentilesOf(all))
	}
	// Out-of-range values are clamped, not lost.
	h := NewHist()
	record(h, -5)
	record(h, int64(time.Hour))
	if p := PercentilesOf(h); p.Count != 2 || p.Max < 99e6 {
		t.Errorf("clamped values: %+v", p)
	}
}

func TestWriteFiles(t *testing.T) {
	h := NewHist()
	for i := int64(1); i <= 1000; i++ {
		record(h, i*1000) // 1 .. 1000 µs
	}
	r := &Report{Target: "x", Hist: h, Latency: PercentilesOf(h), Machine: Facts()}
	dir := t.TempDir()
	if err := r.WriteFiles(dir, "x"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "x.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	lat := got["latency"].(map[string]any)
	if lat["count"].(float64) != 1000 || lat["p50_us"].(float64) < 499 || lat["p50_us"].(float64) > 501 {
		t.Errorf("latency in JSON: %v", lat)
	}
	m := got["machine"].(map[string]any)
	if m["cpus"].(float64) < 1 || m["clock_read_ns"].(float64) <= 0 || m["go_version"] == "" {
		t.Errorf("machine in JSON: %v", m)
	}

	f, err := os.Open(filepath.Join(dir, "x.hgrm"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	if !strings.HasPrefix(sc.Text(), " Value\tPercentile\tTotalCount") {
		t.Errorf("hgrm header %q", sc.Text())
	}
	var median, footer string
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 4 && fs[1] == "0.500000" {
			median = fs[0]
		}
		if strings.HasPrefix(sc.Text(), "#[Max") {
			footer = sc.Text()
		}
	}
	// Values are in µs: the median of 1..1000 µs is 500.
	if !strings.HasPrefix(median, "500.") || !strings.Contains(footer, "Total count    =         1000") {
		t.Errorf("hgrm median %q, footer %q", median, footer)
	}
}

func TestFacts(t *testing.T) {
	m := Facts()
	if m.CPUs < 1 || m.GOMAXPROCS < 1 || m.GoVersion == "" || m.ClockNs <= 0 || m.ClockNs > 10000 {
		t.Errorf("facts: %+v", m)
	}
}
