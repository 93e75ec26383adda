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
