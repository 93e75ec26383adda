package engine

import (
	"runtime"
	"runtime/metrics"
	"testing"
)

// goLargeSize matches the Go runtime's rounding: append sizes a new backing array as the
// allocator will (runtime.roundupsize), so its capacity is the real footprint.
func TestGoLargeSize(t *testing.T) {
	f := func(n int) {
		t.Helper()
		if got, want := goLargeSize(n), cap(append([]byte(nil), make([]byte, n)...)); got != want {
			t.Fatalf("goLargeSize(%d) = %d, the runtime allocates %d", n, got, want)
		}
	}
	for n := maxClassSz - hdrSize + 1; n <= maxClassSz+64; n++ {
		f(n)
	}
	f(33000)
	f(40 << 10)
	f(64<<10 + 10)
	f(512<<10 + 1)
	f(8 << 20)
}

// Values beyond the largest class are accounted at what the Go heap really holds for them:
// after storing 64 MiB of them, the heap's live objects grew by LargeBytes (within the
// index and runtime noise), for value sizes just past the class limit, where rounding up
// to 8 KiB pages costs the most.
func TestLargeValuesAccountedAsAllocated(t *testing.T) {
	for _, size := range []int{maxClassSz, 33000, 40 << 10, 100 << 10} {
		e := open(t, Config{})
		d := e.DB(0)
		val := make([]byte, size)
		heap0 := liveHeap()
		n := (64 << 20) / size
		for i := range n {
			if _, err := d.Set([]byte("large:"+itoa(i)), val, t0, SetOptions{}, nil); err != nil {
				t.Fatal(err)
			}
		}
		grown, large := liveHeap()-heap0, e.Stats().LargeBytes
		if diff := grown - large; diff > large/100 || -diff > large/100 {
			t.Fatalf("%d-byte values: Go heap grew by %d bytes, LargeBytes %d (off by %.2f%%)",
				size, grown, large, 100*float64(diff)/float64(large))
		}
		e.Close()
	}
}

// liveHeap is the bytes of live Go heap objects after a full collection.
func liveHeap() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}
