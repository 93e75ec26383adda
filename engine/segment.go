package engine

import (
	"bytes"
	"encoding/binary"
	"sync"

	"github.com/sidecache/sidecache/evict"
)

// maxNumClasses bounds numClasses so a segment's class table is a fixed array.
const maxNumClasses = 80

// segment is one lock's worth of keyspace: an index, per-class free lists, the large
// value table, and its share of the counters. Everything in segData moves with SWAPDB.
type segment struct {
	mu  sync.Mutex
	e   *Engine
	mem []byte // the arena region (fixed for the engine's life)
	db  int
	num int // index in its database: (db, num) is the segment's place in the lock order
	// rng feeds the LFU increment; per segment, used under mu, so it needs no lock of its own.
	rng evict.Rand
	segData
	// retired holds the index mappings replaced (grown, shrunk) while mu was held; they are
	// unmapped only once the command holds no segment lock (unlock, DB.unlock2,
	// DB.unlockSet), so munmap (freeing the table's pages, a TLB shootdown) stays out of
	// every critical section. Guarded by mu.
	retired retiredMaps
	// keep is set while s evicts for a writer being admitted (evictAt): the bytes it frees
	// leave segBytes, not used, and are added up in kept for that writer. Guarded by mu.
	keep bool
	kept int64
	// credit is what replacing (a rewrite) took off segBytes ahead of freeing the old entry;
	// the frees that follow take it from here instead of segBytes. Guarded by mu.
	credit int64
	// holder is the segment holding the reservation of the write in progress under s's lock:
	// s, another segment the writer holds, or nil (no write admitted). reserved, on the
	// holder, is what the write's allocations have not consumed yet (see addUsed).
	// Both guarded by mu: the writer holds every segment pointing to its holder.
	holder   *segment
	reserved int64
	// batch sketches the keys the MSET holding s may insert (batchBytes). Guarded by mu.
	batch batchKeys
	_     [64]byte // keep neighbouring segments' locks off this cache line
}

type segData struct {
	idx       index
	cls       [maxNumClasses]classState
	large     [][]byte // encLarge entries' key||value; nil = free slot
	largeFree []uint32

	// Accounting, bytes: chunks at their class size, the index mapping, large values' cap.
	chunkBytes, idxBytes, largeBytes int64

	keys, expires                  int64
	hits, misses, expired, evicted int64
	expireCursor                   uint32 // ActiveExpire resumes sampling at this slot
	avgTTL                         int64  // ms, ActiveExpire's running estimate (noteTTLs)

	// pool holds this segment's best eviction candidates between evictions (see evict.go);
	// it moves with the entries it names on SWAPDB.
	pool evict.Pool
}

func (s *segment) init(e *Engine, db, num int) {
	if numClasses > maxNumClasses {
		panic("engine: too many size classes")
	}
	s.e = e
	s.mem = e.arena.mem
	s.db = db
	s.num = num
	s.rng = *evict.NewRand(uint64(db)<<32 | uint64(num) + 1)
	s.resetClasses()
}

func (s *segment) resetClasses() {
	for c := range s.cls {
		s.cls[c] = classState{free: noOff}
	}
}

// retiredMaps are index mappings waiting to be unmapped; a fixed array, so retiring
// allocates nothing.
type retiredMaps struct {
	m [maxRetired][]byte
	n int
}

// maxRetired bounds the mappings one critical section defers; beyond it (an MSet growing one
// index several times) retire unmaps at once, under the lock.
const maxRetired = 4

// unmap unmaps every mapping and empties r.
func (r *retiredMaps) unmap() {
	for i := 0; i < r.n; i++ {
		unmapTable(r.m[i])
	}
	*r = retiredMaps{}
}

// retire hands a replaced index mapping (nil is ignored) to whoever releases the lock.
func (s *segment) retire(m []byte) {
	if m != nil && invariants {
		// Until unlock unmaps it, a stale slot pointer into m would read old data silently;
		// in invariants builds it faults at once instead, as it did before deferral.
		protectNone(m)
	}
	switch r := &s.retired; {
	case m == nil:
	case r.n < maxRetired:
		r.m[r.n] = m
		r.n++
	default:
		unmapTable(m)
	}
}

// takeRetired removes and returns the mappings retired under the lock, which the caller
// unmaps after releasing every segment lock it holds.
func (s *segment) takeRetired() retiredMaps {
	r := s.retired
	s.retired = retiredMaps{}
	return r
}

// unlock releases the segment lock, then unmaps the index mappings retired while it was
// held. Every single-segment critical section ends with it.
func (s *segment) unlock() {
	if s.retired.n == 0 {
		s.mu.Unlock()
		return
	}
	r := s.takeRetired() // on the stack: after Unlock the field belongs to the next holder
	s.mu.Unlock()
	r.unmap()
}

func (s *segment) notify(key []byte, ev Event) {
	if f := s.e.cfg.OnChange; f != nil {
		f(s.db, key, ev)
	}
}

// addUsed records a change of this segment's footprint in the engine-wide counters. A growth
// reaches used first, a shrink segBytes first, so used never shows room that segBytes does
// not: in the other order a writer could reserve room an eviction had freed in used only and
// allocate it before the eviction reached segBytes, which then read over maxmemory
// (OverLimit) while the segments were not. A growth under an admitted write is taken from
// its reservation (holder), already in used, and only the rest is added: used counts the write
// once, so another writer is not refused, or made to evict, for room that is there. Hence
// used = segBytes + the reservations not yet consumed + what writers being admitted have
// kept (keep) + what rewrites have credited (replacing).
func (s *segment) addUsed(d int64) {
	switch {
	case d > 0:
		add := d
		if p := s.holder; p != nil {
			c := min(p.reserved, d)
			p.reserved -= c
			add -= c
		}
		if add != 0 {
			s.e.used.Add(add)
		}
		s.e.segBytes.Add(d)
	case d < 0:
		c := min(s.credit, -d)
		s.credit -= c
		s.e.segBytes.Add(d + c)
		if s.keep {
			s.kept -= d
		} else {
			s.e.used.Add(d)
		}
	}
}

// replacing removes the entry at off from segBytes before the entry that replaces it is
// allocated (used keeps it until freeEntry, which the gate's reservation relies on): so
// segBytes never counts old and new at once, and OverLimit sees no excess that lasts only
// while the writer holds s's lock. The old entry stays readable until freeEntry(off),
// which must follow under the same lock; if the replacement fails, replaced undoes it.
func (s *segment) replacing(off uint32) {
	n := s.entrySize(off)
	s.credit += n
	s.e.segBytes.Add(-n)
}

// replaced returns to segBytes what replacing took and no free has used: nothing after
// freeEntry, the whole entry when the replacement failed.
func (s *segment) replaced() {
	if s.credit != 0 {
		s.e.segBytes.Add(s.credit)
		s.credit = 0
	}
}

// --- entry accessors; off is a chunk offset in 8-byte units ---

func (s *segment) hdr(off uint32) []byte {
	b := uint64(off) << unitShift
	return s.mem[b : b+hdrSize : b+hdrSize]
}

// largeRef returns an encLarge entry's large-table index and key length.
func (s *segment) largeRef(off uint32) (li, klen uint32) {
	b := uint64(off)<<unitShift + hdrSize
	f := s.mem[b : b+8 : b+8]
	return binary.LittleEndian.Uint32(f), binary.LittleEndian.Uint32(f[4:])
}

func (s *segment) expAt(off uint32) int64 { return int64(binary.LittleEndian.Uint64(s.hdr(off))) }

func (s *segment) typeOf(off uint32) Type { return Type(s.hdr(off)[15] & 0xf) }

func (s *segment) isLarge(off uint32) bool { return s.hdr(off)[15]>>4 == encLarge }

func (s *segment) classOfEntry(off uint32) uint8 { return s.hdr(off)[14] }

func (s *segment) vlen(off uint32) int { return int(binary.LittleEndian.Uint32(s.hdr(off)[8:])) }

// keyOf returns the entry's key; valid while the segment lock is held and the entry lives.
func (s *segment) keyOf(off uint32) []byte {
	h := s.hdr(off)
	if h[15]>>4 == encLarge {
		li, kl := s.largeRef(off)
		return s.large[li][:kl:kl]
	}
	kl := uint64(binary.LittleEndian.Uint16(h[12:]))
	b := uint64(off)<<unitShift + hdrSize
	return s.mem[b : b+kl : b+kl]
}

// valOf returns the entry's value; valid while the segment lock is held and the entry is
// neither changed nor freed.
func (s *segment) valOf(off uint32) []byte {
	h := s.hdr(off)
	vl := uint64(binary.LittleEndian.Uint32(h[8:]))
	if h[15]>>4 == encLarge {
		li, kl32 := s.largeRef(off)
		kl := uint64(kl32)
		return s.large[li][kl : kl+vl : kl+vl]
	}
	kl := uint64(binary.LittleEndian.Uint16(h[12:]))
	b := uint64(off)<<unitShift + hdrSize + kl
	return s.mem[b : b+vl : b+vl]
}

// room returns how long the value of an inline entry may grow in its chunk (0 for large).
func (s *segment) room(off uint32) int {
	h := s.hdr(off)
	if h[15]>>4 == encLarge {
		return 0
	}
	return int(classSize[h[14]]) - hdrSize - int(binary.LittleEndian.Uint16(h[12:]))
}

// setVlen changes an inline entry's value length in place (the caller checked room).
func (s *segment) setVlen(off uint32, n int) {
	binary.LittleEndian.PutUint32(s.hdr(off)[8:], uint32(n))
}

// entryCost is what a new entry with this key and value length adds to used memory.
func entryCost(klen, vlen int) int64 {
	if need := hdrSize + klen + vlen; need <= maxClassSz {
		return int64(classSize[classOf(need)])
	}
	return int64(classSize[stubClass]) + int64(goLargeSize(klen+vlen))
}

// goLargeSize is what the Go heap takes for a pointer-free allocation of n bytes, n beyond
// the largest arena class (n > 32 KiB - hdrSize): above 32 KiB - 8 bytes the runtime hands out
// whole 8 KiB pages, below it the 32 KiB size class (runtime.roundupsize). Large values are
// allocated with this capacity so that accounting by cap counts what the process holds, not
// up to 8 KiB - 1 bytes less per value (TestGoLargeSize pins it to the runtime).
func goLargeSize(n int) int {
	if n <= 32<<10-8 {
		return 32 << 10
	}
	return (n + 8<<10 - 1) &^ (8<<10 - 1)
}

// newEntry allocates and fills the header and key of an entry and returns its offset and
// its value bytes for the caller to fill. It accounts the memory; the caller checked the
// limit.
func (s *segment) newEntry(key []byte, vlen int, exp int64, t Type) (uint32, []byte, error) {
	need := hdrSize + len(key) + vlen
	if need <= maxClassSz {
		c := classOf(need)
		off, err := s.allocChunk(c)
		if err != nil {
			return 0, nil, err
		}
		h := s.hdr(off)
		binary.LittleEndian.PutUint64(h, uint64(exp))
		binary.LittleEndian.PutUint32(h[8:], uint32(vlen))
		binary.LittleEndian.PutUint16(h[12:], uint16(len(key)))
		h[14] = c
		h[15] = byte(t) | encInline<<4
		b := uint64(off)<<unitShift + hdrSize
		copy(s.mem[b:], key)
		b += uint64(len(key))
		sz := int64(classSize[c])
		s.chunkBytes += sz
		s.addUsed(sz)
		return off, s.mem[b : b+uint64(vlen) : b+uint64(vlen)], nil
	}
	off, err := s.allocChunk(stubClass)
	if err != nil {
		return 0, nil, err
	}
	buf := make([]byte, len(key)+vlen, goLargeSize(len(key)+vlen))
	copy(buf, key)
	var li uint32
	if n := len(s.largeFree); n > 0 {
		li = s.largeFree[n-1]
		s.largeFree = s.largeFree[:n-1]
		s.large[li] = buf
	} else {
		li = uint32(len(s.large))
		s.large = append(s.large, buf)
	}
	h := s.hdr(off)
	binary.LittleEndian.PutUint64(h, uint64(exp))
	binary.LittleEndian.PutUint32(h[8:], uint32(vlen))
	binary.LittleEndian.PutUint16(h[12:], 0)
	h[14] = stubClass
	h[15] = byte(t) | encLarge<<4
	b := uint64(off)<<unitShift + hdrSize
	binary.LittleEndian.PutUint32(s.mem[b:], li)
	binary.LittleEndian.PutUint32(s.mem[b+4:], uint32(len(key)))
	sz := int64(classSize[stubClass])
	s.chunkBytes += sz
	s.largeBytes += int64(cap(buf))
	s.addUsed(sz + int64(cap(buf)))
	return off, buf[len(key):], nil
}

// freeEntry releases an entry's chunk and large value.
func (s *segment) freeEntry(off uint32) {
	h := s.hdr(off)
	c := h[14]
	if h[15]>>4 == encLarge {
		li, _ := s.largeRef(off)
		n := int64(cap(s.large[li]))
		s.large[li] = nil
		s.largeFree = append(s.largeFree, li)
		s.largeBytes -= n
		s.addUsed(-n)
	}
	sz := int64(classSize[c])
	s.chunkBytes -= sz
	s.addUsed(-sz)
	s.freeChunk(off, c)
}

// --- index operations ---

// find returns the slot of key, or -1. It does not look at the TTL.
func (s *segment) find(h uint32, key []byte) int {
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
		if sl.hash == h && bytes.Equal(s.keyOf(sl.off), key) {
			return int(i)
		}
	}
	return -1
}

// isExpired reports whether slot i holds an entry past its expiry at now.
func (s *segment) isExpired(i int, now int64) bool {
	sl := &s.idx.slots[i]
	if sl.meta&metaTTL == 0 {
		return false
	}
	return s.expAt(sl.off) < now
}

// lookup is find plus lazy expiry: an expired entry is removed (EventExpire) and reported
// missing.
func (s *segment) lookup(h uint32, key []byte, now int64) int {
	i := s.find(h, key)
	if i >= 0 && s.isExpired(i, now) {
		s.expired++
		s.removeAt(i, EventExpire, true)
		return -1
	}
	return i
}

// insertCost is what inserting a new key with index hash h adds to used memory beyond its
// entry (an upper bound): the growth of a table at its load limit, or the rebuild of one
// where no slot at or after h's home is free (insert's spill), each with the further
// rebuilds of a table that still spills (chainBytes). O(1) unless insert would rebuild, then
// O(slots), which the rebuild costs anyway.
func (s *segment) insertCost(h uint32) int64 {
	x := &s.idx
	switch {
	case x.mem == nil || x.full():
		return x.chainBytes(h, nextCap(x.cap), x.minExtra)
	case x.roomAfter(h, 1):
		return 0
	}
	c, extra := x.spill()
	return x.chainBytes(h, c, extra)
}

// insert adds a slot for a new entry (the key is known to be absent).
func (s *segment) insert(h, off uint32, exp int64, now int64) error {
	x := &s.idx
	if x.mem == nil || x.full() {
		if err := s.resize(nextCap(x.cap)); err != nil {
			return err
		}
	}
	meta := metaUsed | evict.New(s.e.Policy(), now)
	if exp != 0 {
		meta |= metaTTL
		s.expires++
	}
	pos := x.place(slot{hash: h, off: off, meta: meta})
	for pos < 0 {
		c, extra := x.spill()
		x.minExtra = extra
		if err := s.resize(c); err != nil {
			return err
		}
		pos = x.place(slot{hash: h, off: off, meta: meta})
	}
	if s.keys++; s.keys == 1 {
		s.markNonEmpty(true)
	}
	if invariants {
		s.mustCheck(pos)
	}
	return nil
}

func (s *segment) resize(c uint32) error {
	d, old, ok := s.idx.rebuild(c)
	if !ok {
		return ErrOOM
	}
	s.retire(old)
	s.idxBytes += d
	s.addUsed(d)
	return nil
}

// removeAt frees the entry in slot i, removes the slot and reports ev (0: no event). With
// shrink, a sparse index is rebuilt smaller, which moves slots: loops over slots pass false.
func (s *segment) removeAt(i int, ev Event, shrink bool) {
	sl := s.idx.slots[i]
	if ev != 0 {
		s.notify(s.keyOf(sl.off), ev)
	}
	if sl.meta&metaTTL != 0 {
		s.expires--
	}
	s.freeEntry(sl.off)
	s.idx.remove(uint32(i))
	if s.keys--; s.keys == 0 {
		s.markNonEmpty(false)
	}
	if invariants && i < len(s.idx.slots) && s.idx.slots[i].meta&metaUsed != 0 {
		s.mustCheck(i)
	}
	if shrink {
		s.maybeShrink()
	}
}

// maybeShrink rebuilds an index that fell below 20% load at half... of its size, keeping
// the load of the new table at 0.5.
func (s *segment) maybeShrink() {
	x := &s.idx
	if x.cap > shrinkMinCap && uint64(x.n)*5 < uint64(x.cap) {
		_ = s.resize(x.n * 2)
	}
}

// setExpiry changes the TTL of the entry in slot i (0 removes it).
func (s *segment) setExpiry(i int, exp int64) {
	sl := &s.idx.slots[i]
	binary.LittleEndian.PutUint64(s.hdr(sl.off), uint64(exp))
	had := sl.meta&metaTTL != 0
	switch {
	case exp != 0 && !had:
		sl.meta |= metaTTL
		s.expires++
	case exp == 0 && had:
		sl.meta &^= metaTTL
		s.expires--
	}
}

// flush drops every entry: chunks go back on the segment's free lists, large values are
// released. It returns the index mapping (nil if none), which the caller unmaps after
// unlocking, so no syscall runs under a segment lock. Linear in the index's size.
func (s *segment) flush() []byte {
	x := &s.idx
	for i := range x.slots {
		if sl := &x.slots[i]; sl.meta&metaUsed != 0 {
			s.freeEntry(sl.off)
		}
	}
	return s.empty()
}

// drop forgets every entry and every free chunk at once; only for a flush of the whole
// keyspace, which then hands all carved pages back (arena.resetClasses). It returns the index
// mapping, as flush does.
func (s *segment) drop() []byte {
	s.addUsed(-s.chunkBytes - s.largeBytes)
	s.chunkBytes, s.largeBytes = 0, 0
	s.resetClasses()
	return s.empty()
}

// empty resets what flush and drop leave: the index, the large table, the counters.
func (s *segment) empty() []byte {
	idx := s.idx.release()
	s.addUsed(-s.idxBytes)
	s.idxBytes = 0
	s.large = nil
	s.largeFree = nil
	s.keys, s.expires = 0, 0
	s.markNonEmpty(false)
	s.expireCursor = 0
	s.pool.Reset()
	return idx
}

// touch records an access to slot i in its 24-bit access field: the LFU counter (decay, then
// Redis's logarithmic increment) or the LRU clock, as the policy in force reads it.
func (s *segment) touch(i int, now int64) {
	sl := &s.idx.slots[i]
	e := s.e
	f := evict.Touch(e.Policy(), sl.meta&metaLFU, now, int(e.lfuLogFactor.Load()), int(e.lfuDecayTime.Load()), s.rng.Float64())
	sl.meta = sl.meta&^metaLFU | f
}

// mustCheck panics if slot i breaks the index invariant (invariants builds only).
func (s *segment) mustCheck(i int) {
	if err := s.checkSlot(i); err != nil {
		panic("engine invariant: " + err.Error())
	}
}
