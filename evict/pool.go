package evict

// PoolSize is the number of candidates kept across evictions (Redis's EVPOOL_SIZE).
const PoolSize = 16

// Candidate names a sampled key without holding it: where it was (database, segment) and
// what identifies it there (its hash and arena offset). The engine re-checks both under the
// segment lock before evicting, since the key may have changed or gone since it was sampled.
type Candidate struct {
	Score uint64 // higher = better victim
	DB    int32
	Seg   uint32
	Hash  uint32
	Off   uint32
}

// Pool holds the best candidates seen so far, ascending by Score, as Redis's eviction pool:
// a sample enters if the pool has room or it beats the worst entry, and the best is taken
// from the right. It is per event loop: no lock.
type Pool struct {
	c [PoolSize]Candidate
	n int
}

// Len returns the number of candidates held.
func (p *Pool) Len() int { return p.n }

// Insert offers a sampled candidate.
func (p *Pool) Insert(c Candidate) {
	// k: the first entry with a score not below c's.
	k := 0
	for k < p.n && p.c[k].Score < c.Score {
		k++
	}
	if p.n < PoolSize {
		copy(p.c[k+1:p.n+1], p.c[k:p.n])
		p.c[k] = c
		p.n++
		return
	}
	if k == 0 {
		return // full, and c is no better than the worst held
	}
	// Full: drop the worst (leftmost) and insert before k.
	copy(p.c[:k-1], p.c[1:k])
	p.c[k-1] = c
}

// Pop removes and returns the best candidate; ok is false if the pool is empty.
func (p *Pool) Pop() (c Candidate, ok bool) {
	if p.n == 0 {
		return Candidate{}, false
	}
	p.n--
	return p.c[p.n], true
}

// Peek returns the best candidate without removing it; ok is false if the pool is empty.
func (p *Pool) Peek() (c Candidate, ok bool) {
	if p.n == 0 {
		return Candidate{}, false
	}
	return p.c[p.n-1], true
}

// Reset empties the pool (after FLUSHALL, SWAPDB or a policy change).
func (p *Pool) Reset() { p.n = 0 }

// Rand is a small, fast, per-loop random source (xorshift64*): the LFU increment needs one
// number per access and a shared or locked source would cost more than the increment.
type Rand struct{ s uint64 }

// NewRand returns a source seeded with seed (0 is replaced by a fixed non-zero seed).
func NewRand(seed uint64) *Rand {
	if seed == 0 {
		seed = 0x9E3779B97F4A7C15
	}
	return &Rand{s: seed}
}

// Uint64 returns the next number.
func (r *Rand) Uint64() uint64 {
	r.s ^= r.s >> 12
	r.s ^= r.s << 25
	r.s ^= r.s >> 27
	return r.s * 2685821657736338717
}

// Float64 returns a uniform number in [0, 1).
func (r *Rand) Float64() float64 { return float64(r.Uint64()>>11) / (1 << 53) }
