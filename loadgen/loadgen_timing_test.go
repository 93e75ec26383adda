package loadgen

import (
	"strconv"
	"testing"
)

// netConnBatch is a connection to an echo server over loopback TCP and a batch for it.
func netConnBatch(tb testing.TB, pipeline int) (Conn, []Op, []Reply) {
	tg, err := ParseTarget("echo")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tg.Close() })
	c, err := tg.Connect()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	ops := make([]Op, pipeline)
	val := make([]byte, 100)
	for i := range ops {
		ops[i] = Op{Set: i%10 == 9, Key: []byte("lg:" + strconv.Itoa(i)), Value: val, TTLms: 60000}
	}
	return c, ops, make([]Reply, pipeline)
}

// TestNetConnAllocs: a batch on a network connection (encode, write, read and decode the
// replies) allocates nothing once its buffers have grown.
func TestNetConnAllocs(t *testing.T) {
	for _, p := range []int{1, 32} {
		c, ops, out := netConnBatch(t, p)
		do := func() {
			if err := c.Do(Now(), ops, out); err != nil {
				t.Fatal(err)
			}
		}
		do()
		if n := testing.AllocsPerRun(100, do); n != 0 {
			t.Errorf("pipeline %d: %.1f allocations per batch", p, n)
		}
	}
}

// TestRecordAllocs: counting a measured batch (latencies, hits, client-side cache hits)
// allocates nothing.
func TestRecordAllocs(t *testing.T) {
	o := Options{Pipeline: 16, Workload: Workload{ReadRatio: 1}}
	o.normalize()
	d, _ := newKeyDist(o.Workload.Dist, o.Workload.Keys)
	w := newWorker(0, nil, &o, d, nil)
	w.gen.batch(w.ops)
	for i := range w.out {
		w.out[i] = Reply{At: int64(1000 + i), Hit: i%2 == 0, Cached: i%4 == 0}
	}
	if n := testing.AllocsPerRun(1000, func() { w.record(1, len(w.ops)) }); n != 0 {
		t.Errorf("%.1f allocations per batch", n)
	}
	if w.cached == 0 || w.cached >= w.hits {
		t.Errorf("%d cached of %d hits", w.cached, w.hits)
	}
}

// TestRecordTracedAllocs: tracing a measured batch into the run's buffer allocates nothing.
func TestRecordTracedAllocs(t *testing.T) {
	o := Options{Pipeline: 16, Workload: Workload{ReadRatio: 1}}
	o.normalize()
	d, _ := newKeyDist(o.Workload.Dist, o.Workload.Keys)
	w := newWorker(0, nil, &o, d, nil)
	w.trace = newTracer(16 * 500)
	w.gen.batch(w.ops)
	for i := range w.out {
		w.out[i] = Reply{At: int64(1000 + i), Hit: i%2 == 0}
	}
	// AllocsPerRun divides whole numbers, so each path is measured on its own: 401 batches
	// all traced (of room for 500), then, once the buffer is full, batches only counted.
	if n := testing.AllocsPerRun(400, func() { w.record(1, len(w.ops)) }); n != 0 {
		t.Errorf("%.1f allocations per traced batch", n)
	}
	for range 500 - 401 {
		w.record(1, len(w.ops))
	}
	if n := testing.AllocsPerRun(200, func() { w.record(1, len(w.ops)) }); n != 0 {
		t.Errorf("%.1f allocations per batch once the trace is full", n)
	}
	recs, dropped := w.trace.kept()
	if len(recs) != 16*500 || dropped == 0 || recs[1].Flags != TraceMiss || recs[0].Latency != 999 {
		t.Errorf("kept %d, dropped %d, first %+v %+v", len(recs), dropped, recs[0], recs[1])
	}
}

// TestOpGenAllocs: making a batch of commands allocates nothing.
func TestOpGenAllocs(t *testing.T) {
	w := Workload{Dist: "zipf:0.99", ReadRatio: 0.5, ValueMin: 10, ValueMax: 1000, TTL: 1e9, TTLMax: 1e10, CacheAside: true}
	w.Normalize()
	d, _ := newKeyDist(w.Dist, w.Keys)
	g := newOpGen(&w, d, 0, 16, nil)
	ops, out := make([]Op, 16), make([]Reply, 16)
	if n := testing.AllocsPerRun(1000, func() { g.batch(ops); g.done(ops, out) }); n != 0 {
		t.Errorf("%.1f allocations per batch", n)
	}
}

// BenchmarkNetConn is the client's cost per command over loopback TCP against the echo
// server (which runs in this process too).
func BenchmarkNetConn(b *testing.B) {
	for _, p := range []int{1, 16} {
		b.Run("pipeline="+strconv.Itoa(p), func(b *testing.B) {
			c, ops, out := netConnBatch(b, p)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += p {
				if err := c.Do(Now(), ops, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendOp is the encoding of one SET with a TTL.
func BenchmarkAppendOp(b *testing.B) {
	op := Op{Set: true, Key: []byte("lg:12345"), Value: make([]byte, 100), TTLms: 60000}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendOp(buf[:0], &op)
	}
}

// BenchmarkKeyDist is one draw of each distribution.
func BenchmarkKeyDist(b *testing.B) {
	for _, spec := range []string{"uniform", "zipf:0.99", "hot:0.1:0.9"} {
		b.Run(spec, func(b *testing.B) {
			w := Workload{Dist: spec}
			w.Normalize()
			d, _ := newKeyDist(spec, w.Keys)
			g := newOpGen(&w, d, 0, 1, nil)
			var sink uint64
			b.ReportAllocs()
			for b.Loop() {
				sink += d.next(g.rng)
			}
			_ = sink
		})
	}
}
