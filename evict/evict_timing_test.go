package evict

import "testing"

var sinkField uint32

func BenchmarkLFUTouch(b *testing.B) {
	b.ReportAllocs()
	r := NewRand(1)
	f := LFUNew(0)
	for i := 0; i < b.N; i++ {
		f = LFUTouch(f, int64(i), 10, 1, r.Float64())
	}
	sinkField = f
}

func BenchmarkPoolInsertPop(b *testing.B) {
	b.ReportAllocs()
	r := NewRand(1)
	var p Pool
	for i := 0; i < b.N; i++ {
		p.Insert(Candidate{Score: r.Uint64() & 255})
		if i%5 == 0 {
			p.Pop()
		}
	}
}

func TestHotPathsAllocateNothing(t *testing.T) {
	r := NewRand(1)
	var p Pool
	f := LFUNew(0)
	if n := testing.AllocsPerRun(1000, func() {
		f = LFUTouch(f, 1, 10, 1, r.Float64())
		p.Insert(Candidate{Score: uint64(f & 255)})
		p.Pop()
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
