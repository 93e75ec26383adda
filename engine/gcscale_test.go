package engine

// GC independence (DESIGN.md invariant 1, issue 5 "How it is checked"): with 10 M keys the Go
// heap and the garbage collector's mark work are what they are with 10 K keys, because keys,
// values and the index live off-heap. The engine is filled in-process with 16-byte keys and
// 100-byte values; at each key count the test forces garbage collections and reads
// runtime/metrics: live heap, scannable heap (what the mark phase must walk), and GC CPU per
// cycle. A measurement, run only when asked (make memory-results):
//
//	SIDECACHE_GC=1 go test -count=1 -run '^TestGCIndependence$' -v -timeout 30m ./engine/
//
// SIDECACHE_GC_KEYS sets the large key count (default 10,000,000). SIDECACHE_MEMORY_OUT, if
// set, names a directory where the table is written as gc.md. The heap figures are asserted;
// the CPU figures are reported, not asserted (durations depend on the machine).

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gcFigures is what one key count costs the Go runtime.
type gcFigures struct {
	keys       int
	used       int64   // engine used_memory
	live       uint64  // /gc/heap/live:bytes after a forced GC
	scanHeap   uint64  // /gc/scan/heap:bytes: heap the mark phase scans
	heapObj    uint64  // /memory/classes/heap/objects:bytes
	markCPU    float64 // GC mark CPU seconds per forced cycle, dedicated workers and assists
	idleCPU    float64 // GC mark CPU seconds per forced cycle in idle-priority workers, which fill idle Ps
	pauseCPU   float64 // GC pause CPU seconds per forced cycle
	medianWall time.Duration
}

const gcCycles = 20

func measureGC(keys int, used int64) gcFigures {
	names := []string{"/gc/heap/live:bytes", "/gc/scan/heap:bytes", "/memory/classes/heap/objects:bytes",
		"/cpu/classes/gc/mark/dedicated:cpu-seconds", "/cpu/classes/gc/mark/idle:cpu-seconds",
		"/cpu/classes/gc/mark/assist:cpu-seconds", "/cpu/classes/gc/pause:cpu-seconds"}
	s := make([]metrics.Sample, len(names))
	for i := range s {
		s[i].Name = names[i]
	}
	read := func() []float64 {
		metrics.Read(s)
		v := make([]float64, len(s))
		for i := range s {
			switch s[i].Value.Kind() {
			case metrics.KindUint64:
				v[i] = float64(s[i].Value.Uint64())
			case metrics.KindFloat64:
				v[i] = s[i].Value.Float64()
			}
		}
		return v
	}
	runtime.GC()
	runtime.GC()
	before := read()
	walls := make([]time.Duration, gcCycles)
	for i := range walls {
		t := time.Now()
		runtime.GC()
		walls[i] = time.Since(t)
	}
	after := read()
	slices.Sort(walls)
	return gcFigures{keys: keys, used: used, live: uint64(after[0]), scanHeap: uint64(after[1]), heapObj: uint64(after[2]),
		markCPU:    (after[3] + after[5] - before[3] - before[5]) / gcCycles,
		idleCPU:    (after[4] - before[4]) / gcCycles,
		pauseCPU:   (after[6] - before[6]) / gcCycles,
		medianWall: walls[gcCycles/2]}
}

func TestGCIndependence(t *testing.T) {
	if os.Getenv("SIDECACHE_GC") == "" {
		t.Skip("a measurement: SIDECACHE_GC=1 runs it")
	}
	big := 10_000_000
	if s := os.Getenv("SIDECACHE_GC_KEYS"); s != "" {
		var err error
		if big, err = strconv.Atoi(s); err != nil || big < 10_000 {
			t.Fatalf("SIDECACHE_GC_KEYS=%q", s)
		}
	}
	e := open(t, Config{})
	d := e.DB(0)
	val := make([]byte, 100)
	key := make([]byte, 16)
	copy(key, "gcscale:")
	fill := func(from, to int) {
		for i := from; i < to; i++ {
			binary.BigEndian.PutUint64(key[8:], uint64(i))
			if _, err := d.Set(key, val, t0, SetOptions{}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	var rows []gcFigures
	loaded := 0
	for _, n := range []int{10_000, big} {
		fill(loaded, n)
		loaded = n
		rows = append(rows, measureGC(n, e.UsedMemory()))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| keys | used_memory | Go live heap | Go heap scanned by mark | heap objects | GC mark CPU / cycle (dedicated + assist) | idle mark CPU / cycle | GC pause CPU / cycle | runtime.GC() wall, median of %d |\n", gcCycles)
	b.WriteString("|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %.1f MiB | %.2f MiB | %.2f MiB | %.2f MiB | %.3f ms | %.3f ms | %.3f ms | %.3f ms |\n", r.keys,
			float64(r.used)/(1<<20), float64(r.live)/(1<<20), float64(r.scanHeap)/(1<<20), float64(r.heapObj)/(1<<20),
			r.markCPU*1e3, r.idleCPU*1e3, r.pauseCPU*1e3, float64(r.medianWall)/1e6)
	}
	t.Log("\n" + b.String())
	if dir := os.Getenv("SIDECACHE_MEMORY_OUT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "gc.md"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Per-key Go memory would be at least 8 bytes a key (80 MB at 10 M keys); allow 2 MiB
	// for page lists and runtime noise.
	small, large := rows[0], rows[1]
	if large.live > small.live+2<<20 || large.scanHeap > small.scanHeap+2<<20 {
		t.Fatalf("Go heap grew with the key count: live %d -> %d, scanned %d -> %d bytes",
			small.live, large.live, small.scanHeap, large.scanHeap)
	}
}
