package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sidecache/sidecache/loadgen"
)

// TestGCOverlap: on synthetic traces, the GETs that overlap a forced span are counted
// "during", the others "outside", SETs not at all, and the control phase is classified
// against the forced phase's spans shifted onto it.
func TestGCOverlap(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, recs []loadgen.TraceRecord, cycles string) {
		t.Helper()
		if err := loadgen.WriteTrace(filepath.Join(dir, name+".trace"), recs, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".cycles"), []byte(cycles), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// B1: GETs of 60 µs every 100 µs from t=1e9; a forced collection over [1e9+150e3, 1e9+350e3]
	// (overlapping the GETs sent at +100, +200 and +300 µs); one slow SET inside it.
	const b0, d0 = int64(1e9), int64(5e9)
	var b, d []loadgen.TraceRecord
	for i := range int64(10) {
		b = append(b, loadgen.TraceRecord{Send: b0 + i*100e3, Latency: 60e3})
		d = append(d, loadgen.TraceRecord{Send: d0 + i*100e3, Latency: 10e3})
	}
	d[3].Latency = 50e3 // reaches the shifted pause window
	b = append(b, loadgen.TraceRecord{Send: b0 + 200e3, Latency: 1e6, Flags: loadgen.TraceSet})
	write("B1", b, "forced_from 0\npauses_from 0\npauses_missing 0\nforced 1000150000 1000350000\npause 1000340000 1000350000\n")
	write("D1", d, "forced_from 0\npauses_from 0\npauses_missing 0\n")
	var phases []*overlapPhase
	for _, n := range []string{"B1", "D1"} {
		p, err := loadOverlapPhase(dir, n)
		if err != nil {
			t.Fatal(err)
		}
		phases = append(phases, p)
	}
	var out bytes.Buffer
	if err := writeGCOverlap(&out, phases, "D", "B"); err != nil {
		t.Fatal(err)
	}
	has := func(prefix string) {
		t.Helper()
		for _, l := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(l, prefix) {
				return
			}
		}
		t.Errorf("no line %q in\n%s", prefix, out.String())
	}
	// B1's GETs at +100 (ends +160), +200 and +300 µs overlap; +0 ends at +60 and +400 starts
	// after the span.
	has("| B1 | anything (all GETs) | 10 | 100.00% |")
	has("| B1 | a forced collection | 3 | 30.00% |")
	has("| B1 | nothing (no forced collection, no pause window) | 7 | 70.00% |")
	has("| B1 | a pause window (any cycle) | 1 | 10.00% |")
	has("| B | a forced collection | 3 | 30.00% |")
	// D1's 10 µs GETs at +200 and +300 µs fall in the shifted span; the one at +100 µs ends
	// at +110, before it.
	has("| D1 | anything (all GETs) | 10 | 100.00% |")
	has("| D1 vs B1 times | the shifted times of a forced collection (none ran) | 2 | 20.00% |")
	has("| D1 vs B1 times | none of the shifted times (no forced collection, no pause window) | 8 | 80.00% |")
	has("| D1 vs B1 times | the shifted times of a pause window | 1 | 10.00% |")
	has("| D vs B times | the shifted times of a forced collection (none ran) | 2 | 20.00% |")
	has("| B1 | 0.0 | 1 | 20.83% | 1 |") // 200 of the 960 µs from the first send to the last reply
}
