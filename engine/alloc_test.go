package engine

import (
	"fmt"
	"testing"
)

// Invariant 4: the hot paths allocate nothing.
func TestHotPathsDoNotAllocate(t *testing.T) {
	e := open(t, Config{})
	d := e.DB(0)
	key := []byte("alloc:key")
	val := []byte("a value of some thirty bytes..")
	d.Set(key, val, t0, SetOptions{}, nil)
	d.Set([]byte("counter"), []byte("1"), t0, SetOptions{}, nil)
	dst := make([]byte, 0, 128)
	var sink int
	fn := func(v []byte) { sink += len(v) }
	newKeys := make([][]byte, 2000)
	for i := range newKeys {
		newKeys[i] = []byte(fmt.Sprint("new:", i))
	}
	kv := [][]byte{[]byte("m1"), val, []byte("m2"), val, []byte("m3"), val, []byte("m4"), val}
	f := func(name string, op func()) {
		t.Helper()
		op() // warm up: pages and index already in place
		if n := testing.AllocsPerRun(100, op); n != 0 {
			t.Errorf("%s: %v allocations per run", name, n)
		}
	}
	f("Get", func() { d.Get(key, t0, fn) })
	f("AppendGet", func() { dst, _, _ = d.AppendGet(dst[:0], key, t0) })
	f("Set overwrite same size", func() { d.Set(key, val, t0, SetOptions{}, nil) })
	f("Set overwrite other size", func() {
		d.Set(key, val[:3], t0, SetOptions{}, nil)
		d.Set(key, val, t0, SetOptions{ExpireAt: t0 + 1000}, nil)
	})
	i := 0
	f("Set new key", func() {
		// Each run adds a key; the index may grow (an mmap, not a Go allocation).
		d.Set(newKeys[i%len(newKeys)], val, t0, SetOptions{}, nil)
		i++
	})
	counter := []byte("counter") // keys reach OnChange, so they escape: callers pass buffers they own
	f("IncrBy", func() { d.IncrBy(counter, 3, t0) })
	f("MSet 4 pairs", func() { d.MSet(kv, false, t0) })
	f("Delete+Set", func() {
		d.Delete(key, t0)
		d.Set(key, val, t0, SetOptions{}, nil)
	})
	hkey, hfield := []byte("alloc:hash"), []byte("field")
	d.HSet(hkey, [][]byte{hfield, val}, false, t0)
	tkey := []byte("alloc:table")
	for i := 0; i < 600; i++ { // past hash-max-listpack-entries: the table encoding
		d.HSet(tkey, [][]byte{[]byte(fmt.Sprint("f", i)), val}, false, t0)
	}
	tfield := []byte("f321")
	f("HGet packed", func() { d.HGet(hkey, hfield, t0, fn) })
	f("HGet table", func() { d.HGet(tkey, tfield, t0, fn) })
	f("HGet missing field", func() { d.HGet(tkey, hfield, t0, fn) })
	hfv := [][]byte{hfield, val}
	f("HSet overwrite", func() { d.HSet(hkey, hfv, false, t0) })
	_ = sink
}
