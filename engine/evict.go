package engine

// The memory gate and eviction (DESIGN.md invariant 5).
//
// A write that grows used memory first reserves what it needs (admit): the reservation is
// added to used memory with a compare-and-swap only if the sum stays within maxmemory, so
// writers in different segments cannot together cross the limit. The write then allocates,
// and each allocation consumes the reservation instead of adding to used a second time (the
// reservation is recorded on the segments the writer holds locked, where every allocation
// of the write happens: segment.holder, addUsed); at the end the write returns what it did
// not consume (settle). So used memory counts a write once while it runs, and another
// writer is not refused (noeviction) or made to evict for room that is there; and
// used_memory never exceeds maxmemory once a write completes. While the reservation does
// not fit, the writer evicts one key at a time under maxmemory-policy, and keeps what it
// evicts: the bytes leave the segments (segBytes) but stay in used as part of its
// reservation, so no other writer can reserve them before it does (evictAt's keep; the
// mirror of the allocations that consume the reservation). Room it freed and then lost to
// another writer's reservation would otherwise have to be found twice, or, for a write
// admitted on what it evicted (below), be spent twice: that put the segments one write over
// maxmemory.
//
//  1. from its own segment, whose lock it holds: maxmemory-samples entries of the segment's
//     index, from a random slot on, are offered to the segment's pool (evict.Pool, 16 best
//     candidates kept between evictions), and the best candidate still present is evicted;
//  2. when its own segment has nothing to give, from the other segments in turn, starting
//     at a rotating position. Lock order is (db, segment) ascending everywhere: a segment
//     after every lock the writer holds is locked, one before is only tried (TryLock), so
//     no cycle of waiting can form.
//
// When a full round finds nothing to evict (noeviction, volatile-* without keys with a TTL,
// nothing left but the key being written), the write fails with ErrOOM and changes nothing.
// Write-time eviction has no time budget: it evicts exactly what the write needs. Time
// budgets apply to EvictToLimit (after maxmemory is lowered) only. A write that has evicted
// (and kept) as much as it adds is admitted whatever used memory is: while the segments are
// still above a lowered limit, it leaves the rest of the excess to EvictToLimit's slices, so
// one write never pays for the whole shrink.
//
// Sampling reads only the index (hash, arena offset, 24-bit access field); volatile-ttl also
// reads the sampled entries' expiry from their headers. A pooled candidate names its entry by
// hash and arena offset and is evicted only while a slot still holds both, so a key deleted
// since it was sampled is never evicted on a stale score.

import (
	"errors"
	"math/bits"
	"runtime"
	"time"

	"github.com/sidecache/sidecache/evict"
)

// ErrBudget is EvictToLimit's report that its time budget ran out before used memory was
// within maxmemory (there is more to evict).
var ErrBudget = errors.New("engine: eviction time budget spent")

// noProtect: no entry is protected from eviction.
const noProtect = noOff

// SetPolicy changes maxmemory-policy at run time. Access fields written under the old
// policy are read under the new one until keys are touched again, as in Redis.
func (e *Engine) SetPolicy(p evict.Policy) { e.policy.Store(uint32(p)) }

// Policy returns maxmemory-policy.
func (e *Engine) Policy() evict.Policy { return evict.Policy(e.policy.Load()) }

// SetSamples changes maxmemory-samples (at least 1).
func (e *Engine) SetSamples(n int) { e.samples.Store(int32(min(max(n, 1), 1<<16))) }

// SetLFU changes lfu-log-factor and lfu-decay-time (minutes; 0 disables decay).
func (e *Engine) SetLFU(logFactor, decayTime int) {
	e.lfuLogFactor.Store(int32(min(max(logFactor, 0), 1<<30)))
	e.lfuDecayTime.Store(int32(min(max(decayTime, 0), 1<<30)))
}

// LFUDecayTime returns lfu-decay-time in minutes.
func (e *Engine) LFUDecayTime() int { return int(e.lfuDecayTime.Load()) }

// OverLimit reports whether the segments hold more than maxmemory (only after the limit was
// lowered, or while eviction is behind).
func (e *Engine) OverLimit() bool {
	m := e.maxMemory.Load()
	return m > 0 && e.segmentBytes() > m
}

// segmentBytes is what the segments hold: used memory without the reservations of writes
// in progress.
func (e *Engine) segmentBytes() int64 { return e.segBytes.Load() }

// reserve adds n to used memory if the sum stays within limit.
func (e *Engine) reserve(n, limit int64) bool {
	for {
		u := e.used.Load()
		if u+n > limit {
			return false
		}
		if e.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// grant decides the admission of a write that adds need bytes and has evicted kept bytes
// so far (still counted in used, as its own); fixed is the part of need that evicting does
// not lower (an index rebuild's cost falls when the writer evicts from that index). done:
// admitted with reservation res, which the write's allocations consume (hold), or refused
// (err); otherwise the writer evicts more and asks again. A write that kept as much as it
// adds is admitted whatever used memory is: it leaves the segments no fuller than it found
// them, and what it evicted was never reservable by another writer.
func (e *Engine) grant(need, fixed, kept, limit int64) (res int64, done bool, err error) {
	switch {
	case limit <= 0 || need <= 0:
		e.release(kept)
		return 0, true, nil
	case fixed > limit: // evicting everything would not make room
		e.release(kept)
		return 0, true, ErrOOM
	case kept >= need:
		e.release(kept - need)
		return need, true, nil
	case e.reserve(need-kept, limit):
		return need, true, nil
	}
	return 0, false, nil
}

// release returns reserved bytes to used memory.
func (e *Engine) release(n int64) {
	if n != 0 {
		e.used.Add(-n)
	}
}

// hold makes res the reservation of the write admitted on s (its lock held, with every lock
// of h; nil: s alone): until settle, the growths of s and of every segment h holds are taken
// from it before they are added to used (addUsed). A writer admits once at a time: a second
// reservation would hide the first.
func (s *segment) hold(h *held, res int64) {
	if invariants && s.holder != nil {
		panic("engine invariant: a write admitted while another holds the segment's reservation")
	}
	if h != nil {
		h.setHolder(s)
	}
	s.holder, s.reserved = s, res
}

// settle ends the write admitted on s with h (as for hold): it returns to used memory what
// the write's allocations did not consume. Every admitted write calls it before it releases
// its locks.
func (s *segment) settle(h *held) {
	if h != nil {
		h.setHolder(nil)
	}
	s.holder = nil
	s.e.release(s.reserved)
	s.reserved = 0
}

// setHolder points every segment h holds at p (nil: none).
func (h *held) setHolder(p *segment) {
	if h.x != nil {
		h.x.holder = p
	}
	if h.set == nil {
		h.d.segs[h.a].holder = p
		h.d.segs[h.b].holder = p
		return
	}
	for w, word := range h.set {
		for ; word != 0; word &= word - 1 {
			h.d.segs[w*64+bits.TrailingZeros64(word)].holder = p
		}
	}
}

// newKey is the index hash of the key a write inserts, for admit, or noInsert.
type newKey int64

const noInsert newKey = -1

// held is the set of segment locks a writer holds in one database: segments a and b (equal
// for one), or set (MSET); plus x, a segment of another database held as well (MOVE and
// COPY between databases), or nil.
type held struct {
	d    *DB
	set  *segSet
	a, b int
	x    *segment
}

// holds reports whether the writer holds segment si of database di.
func (h *held) holds(di, si int) bool {
	if h.x != nil && di == h.x.db && si == h.x.num {
		return true
	}
	return di == h.d.num && h.has(si)
}

// lastPos returns the writer's highest held position in the lock order (db*nseg + segment).
func (h *held) lastPos(nseg int) int {
	p := h.d.num*nseg + h.last()
	if h.x != nil {
		p = max(p, h.x.db*nseg+h.x.num)
	}
	return p
}

func (h *held) has(si int) bool {
	if h.set != nil {
		return h.set[si>>6]&(1<<(si&63)) != 0
	}
	return si == h.a || si == h.b
}

// last returns the highest held segment index.
func (h *held) last() int {
	if h.set == nil {
		return max(h.a, h.b)
	}
	for w := len(h.set) - 1; w >= 0; w-- {
		if h.set[w] != 0 {
			return w*64 + bits.Len64(h.set[w]) - 1
		}
	}
	return -1
}

// admit reserves room for a write to s (whose lock is held, with the others in h; nil: s
// alone) that adds base bytes, plus what inserting key ins costs s's index (noInsert: the
// write inserts no key), evicting first if it must. Admitted, the write's allocations in s
// and h's segments consume the reservation (hold), and the caller ends it with s.settle(h)
// after them, before it unlocks. protect is the arena offset of the entry the write
// replaces or reads (noProtect for none): it is never evicted. Evicting in s moves slots: a
// caller holding a slot number looks it up again when s.evicted changed.
func (s *segment) admit(h *held, base int64, ins newKey, protect uint32, now int64) error {
	e := s.e
	eh := h // the segments to evict from first: h, or s alone
	var one held
	var kept int64
	// s's index changes during admit only by the writer's own evictions from s (it holds
	// s's lock), which count in s.evicted: insertCost, O(slots) when insert would rebuild,
	// is recomputed only then, not after every eviction elsewhere.
	cost, costAt := int64(0), int64(-1)
	for passes := 0; ; {
		limit := e.maxMemory.Load()
		need := base
		if ins != noInsert && limit > 0 {
			if costAt != s.evicted {
				cost, costAt = s.insertCost(uint32(ins)), s.evicted
			}
			need += cost
		}
		if res, done, err := e.grant(need, base, kept, limit); done {
			if err == nil {
				s.hold(h, res)
			}
			return err
		}
		if eh == nil {
			one = held{d: &e.dbs[s.db], a: s.num, b: s.num}
			eh = &one
		}
		if n := s.evictPaired(eh, protect, now); n > 0 {
			kept += n
			continue
		}
		n, err := e.evictElsewhereOrGiveUp(eh, &passes, now)
		if err != nil {
			e.release(kept)
			return err
		}
		kept += n
	}
}

// evictElsewhereOrGiveUp is the last resort of admit and admitSet, once the segments the
// writer holds have nothing to give: evict in another segment. When that finds nothing only
// because segments before the writer's were busy, it yields and lets the caller retry, up to
// three passes in a row; otherwise nothing can be evicted and the write is refused.
func (e *Engine) evictElsewhereOrGiveUp(h *held, passes *int, now int64) (int64, error) {
	n, skipped := e.evictElsewhere(h, now)
	switch {
	case n > 0:
		*passes = 0
	case skipped && *passes < 3:
		*passes++
		runtime.Gosched()
	default:
		return 0, ErrOOM
	}
	return n, nil
}

// victim returns the slot of the entry s would evict under the policy (s's lock is held) and
// its score (higher is a better victim; under random policies, the segment's key count, so
// that comparing two segments picks each in proportion to its keys), or -1. Under sampled
// policies the victim is the top of s's pool, left there: evictAt pops it.
func (s *segment) victim(protect uint32, now int64) (int, uint64) {
	e := s.e
	p := e.Policy()
	vol := p.Volatile()
	if p == evict.NoEviction || s.keys == 0 || (vol && s.expires == 0) {
		return -1, 0
	}
	if p.Random() {
		return s.randomVictim(vol, protect), uint64(s.keys)
	}
	decay := int(e.lfuDecayTime.Load())
	n := int(e.samples.Load())
	// Two rounds: the pool may be full of candidates gone since they were sampled, which
	// keep fresh samples out until the first round has popped them.
	for round := 0; round < 2; round++ {
		s.sample(p, vol, n, protect, now, decay)
		for {
			c, ok := s.pool.Peek()
			if !ok {
				break
			}
			if j := s.slotOf(c.Hash, c.Off); j >= 0 && c.Off != protect && (!vol || s.idx.slots[j].meta&metaTTL != 0) {
				return j, c.Score
			}
			s.pool.Pop()
		}
	}
	return -1, 0
}

// evictAt evicts the entry in slot i, which victim returned, and returns the bytes it freed.
// With shrink, the index may be rebuilt smaller afterwards (only for callers that hold no
// slot number of s). With keep (a writer being admitted), the bytes freed leave segBytes but
// stay in used, and the caller owns them as part of its reservation (see the top of the
// file); a chunk at least is freed, so the result is positive.
func (s *segment) evictAt(i int, shrink, keep bool) int64 {
	if c, ok := s.pool.Peek(); ok && c.Off == s.idx.slots[i].off {
		s.pool.Pop()
	}
	s.evicted++
	if keep {
		s.keep, s.kept = true, 0
		s.removeAt(i, EventEvict, shrink)
		s.keep = false
		return s.kept
	}
	before := s.bytes()
	s.removeAt(i, EventEvict, shrink)
	return max(before-s.bytes(), 1)
}

// evictOne evicts s's victim, if it has one, and returns the bytes freed (0: none); keep as
// for evictAt.
func (s *segment) evictOne(protect uint32, shrink, keep bool, now int64) int64 {
	i, _ := s.victim(protect, now)
	if i < 0 {
		return 0
	}
	return s.evictAt(i, shrink, keep)
}

// evictPaired is one eviction step of a writer holding s (and h): s's victim is weighed
// against the victim of one other segment that holds keys, taken in turn, and the better of
// the two goes. Writers thus mostly evict where they already hold the lock, yet a segment
// that is short of memory (a database that started filling late) takes from fuller ones,
// and the policy's scores decide across segments, not only within one.
func (s *segment) evictPaired(h *held, protect uint32, now int64) int64 {
	i, score := s.victim(protect, now)
	if t := s.e.partner(h); t != nil {
		j, ts := t.victim(noProtect, now)
		// On a tie the fuller segment gives: new keys in a segment short of memory tie
		// with the untouched keys of a full one (both at the initial LFU counter).
		better := j >= 0 && (i < 0 || ts > score || (ts == score && t.bytes() > s.bytes()))
		if j >= 0 && i >= 0 && s.e.Policy().Random() {
			// Each side in proportion to its keys.
			better = s.rng.Uint64()%(score+ts) >= score
		}
		if better {
			n := t.evictAt(j, true, true)
			t.unlock()
			return n
		}
		t.unlock()
	}
	if i < 0 {
		return 0
	}
	return s.evictAt(i, false, true)
}

// partner locks and returns the next segment holding keys that the writer does not hold, or
// nil: one after every held lock is locked, one before only tried (see the top of the file).
func (e *Engine) partner(h *held) *segment {
	nseg := len(h.d.segs)
	total := len(e.dbs) * nseg
	last := h.lastPos(nseg)
	p := int(e.evictNext.Load() % uint32(total))
	for tries, seen := 0, 0; tries < 4 && seen < total; {
		w := e.nonEmpty[p>>6].Load() >> (p & 63)
		if w == 0 { // no keys in the rest of this word
			step := 64 - p&63
			seen += step
			if p += step; p >= total {
				p = 0
			}
			continue
		}
		step := bits.TrailingZeros64(w)
		seen += step
		if p += step; p >= total {
			p = 0
			continue
		}
		di, si := p/nseg, p%nseg
		if !h.holds(di, si) {
			t := &e.dbs[di].segs[si]
			tries++
			// Round robin over the segments holding keys (racy between writers, harmlessly).
			e.evictNext.Store(uint32(p + 1))
			if p > last {
				t.mu.Lock()
				return t
			}
			if t.mu.TryLock() {
				return t
			}
		}
		seen++
		if p++; p >= total {
			p = 0
		}
	}
	return nil
}

// sample offers up to n entries of s, from a random slot on, to the pool: only entries with a
// TTL under volatile policies, never protect.
func (s *segment) sample(p evict.Policy, vol bool, n int, protect uint32, now int64, decay int) {
	x := &s.idx
	l := uint32(len(x.slots))
	if l == 0 {
		return
	}
	i := uint32(s.rng.Uint64() % uint64(l))
	for look, got := uint32(0), 0; look < l && got < n; look++ {
		sl := &x.slots[i]
		if sl.meta&metaUsed != 0 && sl.off != protect && (!vol || sl.meta&metaTTL != 0) {
			var exp int64
			if p == evict.VolatileTTL {
				exp = s.expAt(sl.off)
			}
			s.pool.Insert(evict.Candidate{Score: evict.Score(p, sl.meta&metaLFU, exp, now, decay), Hash: sl.hash, Off: sl.off})
			got++
		}
		if i++; i == l {
			i = 0
		}
	}
}

// randomVictim returns a random evictable slot of s, or -1.
func (s *segment) randomVictim(vol bool, protect uint32) int {
	x := &s.idx
	l := uint32(len(x.slots))
	if l == 0 {
		return -1
	}
	i := uint32(s.rng.Uint64() % uint64(l))
	for look := uint32(0); look < l; look++ {
		sl := &x.slots[i]
		if sl.meta&metaUsed != 0 && sl.off != protect && (!vol || sl.meta&metaTTL != 0) {
			return int(i)
		}
		if i++; i == l {
			i = 0
		}
	}
	return -1
}

// slotOf returns the slot holding the entry with hash h at arena offset off, or -1.
func (s *segment) slotOf(h, off uint32) int {
	x := &s.idx
	if x.n == 0 {
		return -1
	}
	i := x.home(h)
	for d := uint32(0); i < uint32(len(x.slots)); i, d = i+1, d+1 {
		sl := &x.slots[i]
		if sl.meta&metaUsed == 0 || i-x.home(sl.hash) < d {
			return -1
		}
		if sl.hash == h && sl.off == off {
			return int(i)
		}
	}
	return -1
}

// evictElsewhere evicts one key from a segment the writer does not hold (see the top of this
// file for the lock order). skipped reports that some segment was busy and not tried.
func (e *Engine) evictElsewhere(h *held, now int64) (freed int64, skipped bool) {
	nseg := len(h.d.segs)
	total := len(e.dbs) * nseg
	last := h.lastPos(nseg)
	start := int(e.evictNext.Load() % uint32(total))
	for k := 0; k < total; k++ {
		p := start + k
		if p >= total {
			p -= total
		}
		di, si := p/nseg, p%nseg
		if h.holds(di, si) || e.nonEmpty[p>>6].Load()&(1<<(p&63)) == 0 {
			continue
		}
		t := &e.dbs[di].segs[si]
		if p > last {
			t.mu.Lock()
		} else if !t.mu.TryLock() {
			skipped = true
			continue
		}
		n := t.evictOne(noProtect, true, true, now)
		t.unlock()
		if n > 0 {
			// Next time start after this one, so segments give up keys in turn.
			e.evictNext.Store(uint32(p + 1))
			return n, false
		}
	}
	return 0, skipped
}

// admitSet is admit for a write holding every segment in set (MSET): base plus idx() is an
// upper bound of what the whole write adds, idx the part that is the held indexes' growth,
// which evicting from them lowers: it is asked again after each such eviction, base is
// not. Admitted, the reservation is held on the last segment of set for all of them; the
// caller ends it with settleSet.
func (d *DB) admitSet(set *segSet, base int64, idx func() int64, now int64) error {
	e := d.e
	h := held{d: d, set: set}
	next := 0
	var kept, grow int64
	stale := true
	for passes := 0; ; {
		limit := e.maxMemory.Load()
		if stale && limit > 0 {
			grow, stale = idx(), false
		}
		if res, done, err := e.grant(base+grow, base, kept, limit); done {
			if err == nil {
				d.segs[h.last()].hold(&h, res)
			}
			return err
		}
		if n := d.evictHeld(set, &next, now); n > 0 {
			kept += n
			stale = true
			continue
		}
		n, err := e.evictElsewhereOrGiveUp(&h, &passes, now)
		if err != nil {
			e.release(kept)
			return err
		}
		kept += n
	}
}

// settleSet is settle for a write admitted with admitSet.
func (d *DB) settleSet(set *segSet) {
	h := held{d: d, set: set}
	d.segs[h.last()].settle(&h)
}

// evictHeld evicts one key from the held segments in set, taking them in turn from *next.
func (d *DB) evictHeld(set *segSet, next *int, now int64) int64 {
	n := len(d.segs)
	for k := 0; k < n; k++ {
		si := (*next + k) % n
		if set[si>>6]&(1<<(si&63)) == 0 {
			continue
		}
		if n := d.segs[si].evictOne(noProtect, false, true, now); n > 0 {
			*next = si + 1
			return n
		}
	}
	return 0
}

// EvictToLimit evicts under the policy until used memory is within maxmemory: after
// maxmemory was lowered (CONFIG SET), or by a background task. It takes one segment lock at
// a time and visits the segments in turn, one key per visit, so each gives up its best
// candidate in its turn. It returns nil once within the limit, ErrOOM when nothing more can
// be evicted, and ErrBudget when budget ran out first (checked every 16 evictions, as Redis
// does). Safe to call while commands run.
func (e *Engine) EvictToLimit(now int64, budget time.Duration) error {
	if !e.OverLimit() {
		return nil
	}
	e.shrinkMu.Lock()
	defer e.shrinkMu.Unlock()
	if e.closed {
		return nil
	}
	start := time.Now()
	nseg := int(e.segMask + 1)
	total := len(e.dbs) * nseg
	p := int(e.evictNext.Load() % uint32(total))
	idle, n := 0, 0
	for e.OverLimit() {
		t := &e.dbs[p/nseg].segs[p%nseg]
		t.mu.Lock()
		ok := t.evictOne(noProtect, true, false, now) > 0
		t.unlock()
		if p++; p == total {
			p = 0
		}
		if !ok {
			if idle++; idle >= total {
				return ErrOOM
			}
			continue
		}
		idle = 0
		if n++; n%16 == 0 && time.Since(start) > budget {
			e.evictNext.Store(uint32(p))
			return ErrBudget
		}
	}
	e.evictNext.Store(uint32(p))
	return nil
}

// bytes is what s holds in used memory.
func (s *segment) bytes() int64 { return s.chunkBytes + s.largeBytes + s.idxBytes }

// markNonEmpty records in the engine whether s holds keys (s's lock is held).
func (s *segment) markNonEmpty(on bool) {
	p := uint(s.db)*uint(s.e.segMask+1) + uint(s.num)
	bit := uint64(1) << (p & 63)
	if on {
		s.e.nonEmpty[p>>6].Or(bit)
	} else {
		s.e.nonEmpty[p>>6].And(^bit)
	}
}
