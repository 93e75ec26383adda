package engine

import (
	"math/rand/v2"
	"testing"
)

// benchBitmap stores two 1 MiB random bitmaps, "a" and "b".
func benchBitmap(b *testing.B) *DB {
	e, err := Open(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	d := e.DB(0)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, k := range []string{"a", "b"} {
		d.Set([]byte(k), randBitmap(rng, 1<<20), t0, SetOptions{}, nil)
	}
	return d
}

func BenchmarkBitCount1MiB(b *testing.B) {
	d := benchBitmap(b)
	key := []byte("a")
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		n, _ := d.BitCount(key, BitRange{}, t0)
		benchSink.Add(n)
	}
}

func BenchmarkBitPosClear1MiB(b *testing.B) {
	d := benchBitmap(b)
	key := []byte("ones")
	d.SetBit(key, 8<<20-1, true, t0)
	d.BitOp(BitNot, key, [][]byte{key}, t0, nil) // all ones but the last bit
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		pos, _ := d.BitPos(key, 0, BitRange{}, t0)
		benchSink.Add(pos)
	}
}

func BenchmarkBitOpAnd1MiB(b *testing.B) {
	d := benchBitmap(b)
	dst, srcs := []byte("dst"), [][]byte{[]byte("a"), []byte("b")}
	var scratch []byte
	b.SetBytes(2 << 20)
	b.ReportAllocs()
	for b.Loop() {
		var n int64
		n, scratch, _ = d.BitOp(BitAnd, dst, srcs, t0, scratch)
		benchSink.Add(n)
	}
}

func BenchmarkGetBit(b *testing.B) {
	d := benchBitmap(b)
	key := []byte("a")
	b.ReportAllocs()
	var off uint64
	for b.Loop() {
		bit, _ := d.GetBit(key, off&(8<<20-1), t0)
		benchSink.Add(int64(bit))
		off += 977
	}
}
