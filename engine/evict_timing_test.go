package engine

import (
	"strconv"
	"testing"

	"github.com/sidecache/sidecache/evict"
)

// BenchmarkSetEvicting: SET of new keys into a full engine, each write evicting under the
// policy, against the same writes with no limit.
func BenchmarkSetEvicting(b *testing.B) {
	for _, bc := range []struct {
		name   string
		max    int64
		policy evict.Policy
	}{{"nolimit", 0, evict.NoEviction}, {"allkeys-lfu", 16 << 20, evict.AllKeysLFU}, {"allkeys-lru", 16 << 20, evict.AllKeysLRU}, {"allkeys-random", 16 << 20, evict.AllKeysRandom}} {
		b.Run(bc.name, func(b *testing.B) {
			e := open(b, Config{MaxMemory: bc.max, Policy: bc.policy})
			d := e.DB(0)
			keys := make([][]byte, 1<<20)
			for i := range keys {
				keys[i] = []byte("bench:key:" + strconv.Itoa(i))
			}
			val := make([]byte, 100)
			for i := 0; i < 300000; i++ { // fill past the limit
				d.Set(keys[i%len(keys)], val, t0, SetOptions{}, nil)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				d.Set(keys[(i+300000)%len(keys)], val, t0, SetOptions{}, nil)
			}
		})
	}
}

// BenchmarkMSet: MSET of 4 and of 64 pairs (overwrites of loaded keys, 100-byte values)
// with maxmemory set far above use, so the gate reserves each batch but never evicts.
func BenchmarkMSet(b *testing.B) {
	for _, pairs := range []int{4, 64} {
		b.Run("pairs="+strconv.Itoa(pairs), func(b *testing.B) {
			e := open(b, Config{MaxMemory: 1 << 30, Policy: evict.NoEviction})
			d := e.DB(0)
			const keys = 1 << 16
			val := make([]byte, 100)
			kv := make([][]byte, 0, 2*keys)
			for i := range keys {
				kv = append(kv, []byte("bench:key:"+strconv.Itoa(i)), val)
			}
			if _, err := d.MSet(kv, false, t0); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				at := (i * 2 * pairs) % (2*keys - 2*pairs)
				if _, err := d.MSet(kv[at:at+2*pairs], false, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
