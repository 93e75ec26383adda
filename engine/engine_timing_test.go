package engine

import (
	"encoding/binary"
	"sync/atomic"
	"testing"
)

var benchSink atomic.Int64

func benchKeys(n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		k := make([]byte, 16)
		copy(k, "bench:key:")
		binary.BigEndian.PutUint32(k[10:], uint32(i))
		keys[i] = k
	}
	return keys
}

func benchEngine(b *testing.B, n int) (*Engine, *DB, [][]byte) {
	e, err := Open(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	d := e.DB(0)
	keys := benchKeys(n)
	val := make([]byte, 100)
	for _, k := range keys {
		d.Set(k, val, t0, SetOptions{}, nil)
	}
	return e, d, keys
}

func BenchmarkGet(b *testing.B) {
	_, d, keys := benchEngine(b, 1<<16)
	var n int
	fn := func(v []byte) { n += len(v) }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Get(keys[i&(1<<16-1)], t0, fn)
	}
	benchSink.Add(int64(n))
}

func BenchmarkAppendGet(b *testing.B) {
	_, d, keys := benchEngine(b, 1<<16)
	dst := make([]byte, 0, 256)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst, _, _ = d.AppendGet(dst[:0], keys[i&(1<<16-1)], t0)
	}
	benchSink.Add(int64(len(dst)))
}

func BenchmarkSet(b *testing.B) {
	_, d, keys := benchEngine(b, 1<<16)
	val := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.Set(keys[i&(1<<16-1)], val, t0, SetOptions{}, nil)
	}
}

func BenchmarkIncrBy(b *testing.B) {
	_, d, _ := benchEngine(b, 0)
	key := []byte("counter")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.IncrBy(key, 1, t0)
	}
}

// BenchmarkIncrByFloat: the long-double parse, add and format all run under the segment lock.
func BenchmarkIncrByFloat(b *testing.B) {
	_, d, _ := benchEngine(b, 0)
	key, incr := []byte("float"), []byte("0.1")
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst, _ = d.IncrByFloat(dst[:0], key, incr, t0)
	}
	benchSink.Add(int64(len(dst)))
}

func BenchmarkParallelGetSet(b *testing.B) {
	_, d, keys := benchEngine(b, 1<<16)
	val := make([]byte, 100)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var n int
		fn := func(v []byte) { n += len(v) }
		i := 0
		for pb.Next() {
			k := keys[(i*7919)&(1<<16-1)]
			if i%10 == 0 {
				d.Set(k, val, t0, SetOptions{}, nil)
			} else {
				d.Get(k, t0, fn)
			}
			i++
		}
		benchSink.Add(int64(n))
	})
}
