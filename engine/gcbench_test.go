package engine

// What one full collection costs the Go runtime with the engine loaded, against the number
// of Ps. The keys live off-heap, so the key count changes little; what a cycle costs is
// mostly fixed: stopping the world twice and waking mark workers on the other Ps, which is
// cross-thread work (signals, futex wake-ups) that grows with GOMAXPROCS, whatever the heap.
// Run with -cpu to set GOMAXPROCS, e.g.:
//
//	go test -run '^$' -bench '^BenchmarkRuntimeGC$' -cpu 1,2,3 ./engine/
//
// ns/op is runtime.GC()'s wall time (mark, both pauses, and the full sweep runtime.GC does
// before returning); pause-µs/op is the stop-the-world time per cycle (runtime/debug's
// PauseTotal); gc-cpu-µs/op
// is /cpu/classes/gc/total:cpu-seconds per cycle (mark workers of all kinds and pauses times
// GOMAXPROCS, as the runtime counts them).

import (
	"encoding/binary"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"testing"
)

func BenchmarkRuntimeGC(b *testing.B) {
	for _, keys := range []int{0, 1_000_000} {
		b.Run("keys="+strconv.Itoa(keys), func(b *testing.B) {
			e := open(b, Config{})
			d := e.DB(0)
			val := make([]byte, 100)
			key := make([]byte, 16)
			copy(key, "gcbench:")
			for i := range keys {
				binary.BigEndian.PutUint64(key[8:], uint64(i))
				if _, err := d.Set(key, val, t0, SetOptions{}, nil); err != nil {
					b.Fatal(err)
				}
			}
			s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
			var st debug.GCStats
			runtime.GC()
			metrics.Read(s)
			debug.ReadGCStats(&st)
			pause0, cpu0 := st.PauseTotal, s[0].Value.Float64()
			b.ReportAllocs()
			for b.Loop() { // resets the timer before the first cycle and stops it after the last
				runtime.GC()
			}
			metrics.Read(s)
			debug.ReadGCStats(&st)
			n := float64(b.N)
			b.ReportMetric(float64(st.PauseTotal-pause0)/n/1e3, "pause-µs/op")
			b.ReportMetric((s[0].Value.Float64()-cpu0)/n*1e6, "gc-cpu-µs/op")
			runtime.KeepAlive(e)
		})
	}
}
