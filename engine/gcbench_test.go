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
// before returning); pause-µs/op is the stop-the-world time per cycle, from the
// /sched/pauses/total/gc:seconds histogram (bucket midpoints: an estimate); gc-cpu-µs/op
// is /cpu/classes/gc/total:cpu-seconds per cycle (mark workers of all kinds and pauses times
// GOMAXPROCS, as the runtime counts them).

import (
	"encoding/binary"
	"runtime"
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
			s := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
			runtime.GC()
			metrics.Read(s)
			pause0, cpu0 := histSum(s[0].Value.Float64Histogram()), s[1].Value.Float64()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				runtime.GC()
			}
			b.StopTimer()
			metrics.Read(s)
			n := float64(b.N)
			b.ReportMetric((histSum(s[0].Value.Float64Histogram())-pause0)/n*1e6, "pause-µs/op")
			b.ReportMetric((s[1].Value.Float64()-cpu0)/n*1e6, "gc-cpu-µs/op")
			runtime.KeepAlive(e)
		})
	}
}

// histSum estimates the total of a runtime/metrics histogram's values from its bucket
// midpoints (the last bucket, open-ended, at its lower bound).
func histSum(h *metrics.Float64Histogram) float64 {
	var t float64
	for i, c := range h.Counts {
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		switch {
		case c == 0:
		case hi > 1e300:
			t += float64(c) * lo
		case lo < -1e300:
			t += float64(c) * hi
		default:
			t += float64(c) * (lo + hi) / 2
		}
	}
	return t
}
