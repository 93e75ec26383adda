package evict

import (
	"math"
	"testing"
)

const minute = 60000

func TestParsePolicy(t *testing.T) {
	for p := NoEviction; p <= VolatileTTL; p++ {
		got, err := ParsePolicy(p.String())
		if err != nil || got != p {
			t.Fatalf("%v: %v %v", p, got, err)
		}
	}
	if _, err := ParsePolicy("allkeys-lfx"); err == nil {
		t.Fatal("accepted a bad name")
	}
	if !VolatileTTL.Volatile() || AllKeysLFU.Volatile() || !VolatileLFU.LFU() || !AllKeysLRU.LRU() || !VolatileRandom.Random() {
		t.Fatal("policy flags")
	}
}

func TestLFULogIncr(t *testing.T) {
	f := func(counter uint8, factor int, r float64, want uint8) {
		t.Helper()
		if got := LFULogIncr(counter, factor, r); got != want {
			t.Fatalf("LFULogIncr(%d, %d, %v) = %d, want %d", counter, factor, r, got, want)
		}
	}
	f(0, 10, 0.999, 1)    // below LFUInitVal: p = 1
	f(5, 10, 0.999, 6)    // at LFUInitVal: p = 1
	f(10, 10, 0.0195, 11) // p = 1/(5*10+1) = 0.01960...
	f(10, 10, 0.0197, 10)
	f(6, 100, 0.0099, 7) // p = 1/101
	f(6, 100, 0.0100, 6)
	f(255, 0, 0, 255) // saturates
}

func TestLFUCounterDecay(t *testing.T) {
	at := func(min int64) int64 { return min * minute }
	f := func(ldtMin uint32, counter uint32, nowMin int64, decay int, want uint8) {
		t.Helper()
		field := ldtMin<<8 | counter
		if got := LFUCounter(field, at(nowMin), decay); got != want {
			t.Fatalf("LFUCounter(ldt %d, c %d, now %d, decay %d) = %d, want %d", ldtMin, counter, nowMin, decay, got, want)
		}
	}
	f(100, 20, 100, 1, 20)
	f(100, 20, 105, 1, 15)
	f(100, 20, 105, 2, 18) // 5/2 = 2 periods
	f(100, 20, 140, 1, 0)  // more periods than the counter
	f(100, 20, 120, 1, 0)  // exactly as many
	f(100, 20, 500, 0, 20) // decay disabled
	// The 16-bit minute clock wraps: ldt 65530, now 65536+4 -> 65535-65530+4 = 9 minutes.
	f(65530, 20, 65536+4, 1, 11)
}

func TestLFUNewAndTouch(t *testing.T) {
	now := int64(123456) * minute
	field := LFUNew(now)
	if field&0xFF != LFUInitVal || field>>8 != LFUMinutes(now) {
		t.Fatalf("LFUNew = %x", field)
	}
	// Ten minutes later with decay 1: 5-10 -> 0, then increment with p=1 -> 1.
	later := now + 10*minute
	got := LFUTouch(field, later, 10, 1, 0.5)
	if got&0xFF != 1 || got>>8 != LFUMinutes(later) {
		t.Fatalf("LFUTouch = %x", got)
	}
	if Touch(AllKeysLRU, field, later, 10, 1, 0.5) != LRUClock(later) {
		t.Fatal("Touch under LRU must store the LRU clock")
	}
	if New(VolatileLFU, now) != LFUNew(now) || New(AllKeysRandom, now) != LRUClock(now) {
		t.Fatal("New")
	}
}

// The counter after N hits, for each lfu-log-factor, follows the table in Redis's redis.conf
// (100 hits, 1000 hits, 100K hits): the logarithm is the point of the counter.
func TestLFUGrowthMatchesRedisTable(t *testing.T) {
	table := []struct {
		factor int
		hits   []int
		want   []float64
	}{
		{1, []int{100, 1000}, []float64{18, 49}},
		{10, []int{100, 1000, 100000}, []float64{10, 18, 142}},
		{100, []int{100, 1000, 100000, 1000000}, []float64{8, 11, 49, 143}},
	}
	for _, row := range table {
		r := NewRand(uint64(row.factor))
		c, done := uint8(LFUInitVal), 0
		for i, n := range row.hits {
			for ; done < n; done++ {
				c = LFULogIncr(c, row.factor, r.Float64())
			}
			want := row.want[i]
			if math.Abs(float64(c)-want) > math.Max(3, want*0.15) {
				t.Errorf("factor %d after %d hits: counter %d, Redis's table says %v", row.factor, n, c, want)
			}
		}
	}
}

func TestLRUIdle(t *testing.T) {
	now := int64(5000) * 1000
	if got := LRUIdleMs(LRUClock(now-42000), now); got != 42000 {
		t.Fatalf("idle = %d", got)
	}
	// Wrapped clock: the field is near the top, now is past zero.
	field := uint32(LRUClockMax - 10)
	nowWrapped := int64(LRUClockMax+1+5) * 1000
	if got := LRUIdleMs(field, nowWrapped); got != 15000 {
		t.Fatalf("wrapped idle = %d", got)
	}
}

func TestScore(t *testing.T) {
	now := int64(1000) * minute
	hot := uint32(LFUMinutes(now))<<8 | 200
	cold := uint32(LFUMinutes(now))<<8 | 3
	if Score(AllKeysLFU, hot, 0, now, 1) >= Score(AllKeysLFU, cold, 0, now, 1) {
		t.Fatal("LFU: a cold key must score higher")
	}
	if Score(AllKeysLRU, LRUClock(now-1000), 0, now, 1) >= Score(AllKeysLRU, LRUClock(now-60000), 0, now, 1) {
		t.Fatal("LRU: the longer idle key must score higher")
	}
	if Score(VolatileTTL, 0, now+1000, now, 1) <= Score(VolatileTTL, 0, now+5000, now, 1) {
		t.Fatal("TTL: the sooner expiry must score higher")
	}
}

// redisPool is a direct transcription of evictionPoolPopulate's insertion, the model Pool
// is checked against.
type redisPool struct {
	idle [PoolSize]uint64
	used [PoolSize]bool
	id   [PoolSize]uint32
}

func (p *redisPool) insert(idle uint64, id uint32) {
	k := 0
	for k < PoolSize && p.used[k] && p.idle[k] < idle {
		k++
	}
	if k == 0 && p.used[PoolSize-1] {
		return
	} else if k < PoolSize && !p.used[k] {
	} else {
		if !p.used[PoolSize-1] {
			copy(p.idle[k+1:], p.idle[k:PoolSize-1])
			copy(p.used[k+1:], p.used[k:PoolSize-1])
			copy(p.id[k+1:], p.id[k:PoolSize-1])
		} else {
			k--
			copy(p.idle[:k], p.idle[1:k+1])
			copy(p.used[:k], p.used[1:k+1])
			copy(p.id[:k], p.id[1:k+1])
		}
	}
	p.idle[k], p.used[k], p.id[k] = idle, true, id
}

func (p *redisPool) pop() (uint32, bool) {
	for k := PoolSize - 1; k >= 0; k-- {
		if p.used[k] {
			p.used[k] = false
			return p.id[k], true
		}
	}
	return 0, false
}

func TestPoolMatchesRedis(t *testing.T) {
	r := NewRand(7)
	var mine Pool
	var ref redisPool
	for i := 0; i < 200000; i++ {
		if r.Uint64()%5 == 0 {
			a, okA := mine.Pop()
			b, okB := ref.pop()
			if okA != okB || (okA && a.Hash != b) {
				t.Fatalf("step %d: Pop = %v %v, Redis's pool gives %v %v", i, a.Hash, okA, b, okB)
			}
			continue
		}
		score := r.Uint64() % 64 // few distinct scores: ties matter
		mine.Insert(Candidate{Score: score, Hash: uint32(i)})
		ref.insert(score, uint32(i))
	}
}

func TestRandUniform(t *testing.T) {
	r := NewRand(0)
	var buckets [10]int
	const n = 100000
	for i := 0; i < n; i++ {
		f := r.Float64()
		if f < 0 || f >= 1 {
			t.Fatalf("out of range: %v", f)
		}
		buckets[int(f*10)]++
	}
	for i, b := range buckets {
		if b < n/10*9/10 || b > n/10*11/10 {
			t.Fatalf("bucket %d has %d of %d", i, b, n)
		}
	}
}
