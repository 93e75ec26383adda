package engine

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestConcurrentOps runs every kind of operation from several goroutines on overlapping keys
// (meant for -race), then checks the accounting from scratch.
func TestConcurrentOps(t *testing.T) {
	e := open(t, Config{Databases: 2, Segments: 4})
	const workers = 4
	n := 20000
	if testing.Short() {
		n = 3000
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			key := func() []byte { return []byte(fmt.Sprint("k", rng.IntN(200))) }
			now := int64(t0)
			for i := 0; i < n; i++ {
				d := e.DB(rng.IntN(2))
				now += int64(rng.IntN(3))
				switch rng.IntN(14) {
				case 0:
					d.Set(key(), make([]byte, rng.IntN(200)), now, SetOptions{ExpireAt: now + int64(rng.IntN(50))}, nil)
				case 1:
					d.Get(key(), now, func([]byte) {})
				case 2:
					d.Delete(key(), now)
				case 3:
					d.Append(key(), []byte("xy"), now)
				case 4:
					d.IncrBy(key(), 1, now)
				case 5:
					d.Rename(key(), key(), rng.IntN(2) == 0, now)
				case 6:
					d.MSet([][]byte{key(), []byte("a"), key(), []byte("b"), key(), []byte("c")}, rng.IntN(2) == 0, now)
				case 7:
					d.Scan(uint64(rng.IntN(4))<<32, 20, now, func([]byte, Type) {})
				case 8:
					e.ActiveExpire(now, 1<<30)
				case 9:
					if rng.IntN(50) == 0 {
						e.Swap(0, 1)
					}
				case 10:
					if rng.IntN(200) == 0 {
						d.Flush()
					}
				case 11:
					d.SetRange(key(), int64(rng.IntN(40)), []byte("zz"), now)
				case 12:
					d.RandomKey(now, func([]byte) {})
				case 13:
					d.Expire(key(), now+int64(rng.IntN(100)), ExpireCond(rng.IntN(5)), now)
				}
			}
		}(w)
	}
	wg.Wait()
	mustVerify(t, e)
}
