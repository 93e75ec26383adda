package engine

import (
	"encoding/binary"
	"runtime"
	"testing"
)

// TestMemoryBudget: 16-byte keys with 100-byte values cost at most 160 bytes each in
// used_memory (index + chunk + header) at every key count from 100k to 1M, not only just
// after a resize (DESIGN.md "Memory model"). Also invariant 1: the Go heap does not grow
// with the key count.
func TestMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("1M keys")
	}
	e := open(t, Config{})
	d := e.DB(0)
	val := make([]byte, 100)
	key := make([]byte, 16)
	copy(key, "budget:")
	set := func(i int) {
		binary.BigEndian.PutUint64(key[8:], uint64(i))
		if _, err := d.Set(key, val, t0, SetOptions{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for i := 0; i < 10; i++ {
		set(i)
	}
	heapSmall := heap()
	worst := 0.0
	for i := 10; i < 1_000_000; i++ {
		set(i)
		if n := i + 1; n >= 100_000 && n%5_000 == 0 {
			per := float64(e.UsedMemory()) / float64(n)
			worst = max(worst, per)
			if per > 160 {
				t.Fatalf("%d keys: %.1f bytes per key > 160", n, per)
			}
		}
	}
	heapBig := heap()
	st := e.Stats()
	t.Logf("1M keys: used %.1f B/key (worst %.1f), index %.1f B/key, arena committed %d MiB, heap %d -> %d KiB",
		float64(st.UsedMemory)/1e6, worst, float64(st.IndexBytes)/1e6, st.ArenaCommitted>>20, heapSmall>>10, heapBig>>10)
	if st.Keys != 1_000_000 {
		t.Fatal("keys", st.Keys)
	}
	// Go memory per key would be >= 8 MB for 1M keys; allow 2 MiB for page lists and noise.
	if heapBig > heapSmall+2<<20 {
		t.Fatalf("Go heap grew from %d to %d bytes with 1M keys", heapSmall, heapBig)
	}
	mustVerify(t, e)
	d.Flush()
	if st := e.Stats(); st.ArenaCommitted != 0 || st.UsedMemory != 0 {
		t.Fatalf("flush kept memory: %+v", st)
	}
}
