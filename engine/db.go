package engine

import (
	"bytes"
	"math/rand/v2"

	"github.com/cespare/xxhash/v2"
)

// DB is one numbered database: a fixed set of segments.
type DB struct {
	e    *Engine
	num  int
	segs []segment
	// noTouch marks a DBNoTouch view: reads through it do not update access fields.
	noTouch bool
}

// touch records a read of slot i of s unless d is a no-touch view (CLIENT NO-TOUCH).
func (d *DB) touch(s *segment, i int, now int64) {
	if !d.noTouch {
		s.touch(i, now)
	}
}

// Index returns the database number.
func (d *DB) Index() int { return d.num }

// segOf returns the segment for a key hash and the 32-bit hash used inside the segment.
func (d *DB) segOf(h64 uint64) (int, uint32) {
	return int((h64 >> d.e.segShift) & d.e.segMask), uint32(h64)
}

// seg returns the segment of key (not locked) and the key's 32-bit index hash.
func (d *DB) seg(key []byte) (*segment, uint32) {
	si, h := d.segOf(xxhash.Sum64(key))
	return &d.segs[si], h
}

// lock2 locks segments a and b (indices), lower index first.
func (d *DB) lock2(a, b int) {
	switch {
	case a == b:
		d.segs[a].mu.Lock()
	case a < b:
		d.segs[a].mu.Lock()
		d.segs[b].mu.Lock()
	default:
		d.segs[b].mu.Lock()
		d.segs[a].mu.Lock()
	}
}

// unlock2 releases lock2's locks, then unmaps what both segments retired.
func (d *DB) unlock2(a, b int) {
	if a == b {
		d.segs[a].unlock()
		return
	}
	ra, rb := d.segs[a].takeRetired(), d.segs[b].takeRetired()
	d.segs[a].mu.Unlock()
	d.segs[b].mu.Unlock()
	ra.unmap()
	rb.unmap()
}

// segSet is a set of segment indices, small enough for the stack.
type segSet [maxSegments / 64]uint64

func (d *DB) lockSet(set *segSet) {
	for w, bits := range set {
		for b := 0; bits != 0; b, bits = b+1, bits>>1 {
			if bits&1 != 0 {
				d.segs[w*64+b].mu.Lock()
			}
		}
	}
}

// unlockSet releases lockSet's locks, then unmaps the index mappings the segments retired.
// Up to len(gone) of them wait on the stack; more than that (several indexes growing in one
// MSET) are unmapped as their segment is released, while later ones are still locked.
func (d *DB) unlockSet(set *segSet) {
	var gone [8][]byte
	n := 0
	for w, bits := range set {
		for b := 0; bits != 0; b, bits = b+1, bits>>1 {
			if bits&1 == 0 {
				continue
			}
			s := &d.segs[w*64+b]
			if s.retired.n == 0 {
				s.mu.Unlock()
				continue
			}
			r := s.takeRetired()
			s.mu.Unlock()
			for i := 0; i < r.n; i++ {
				if n < len(gone) {
					gone[n] = r.m[i]
					n++
				} else {
					unmapTable(r.m[i])
				}
			}
		}
	}
	for _, m := range gone[:n] {
		unmapTable(m)
	}
}

// Len returns the number of keys (DBSIZE); keys already expired but not yet removed may count.
func (d *DB) Len() int64 {
	var n int64
	for i := range d.segs {
		s := &d.segs[i]
		s.mu.Lock()
		n += s.keys
		s.unlock()
	}
	return n
}

// Expires returns the number of keys with a TTL (INFO keyspace's expires=), maintained
// exactly like the key count: setting or removing a TTL, delete, expiry, eviction, flush,
// swap and rename all keep it; keys already expired but not yet removed may count.
func (d *DB) Expires() int64 {
	var n int64
	for i := range d.segs {
		s := &d.segs[i]
		s.mu.Lock()
		n += s.expires
		s.unlock()
	}
	return n
}

// Delete removes a key of any type.
func (d *DB) Delete(key []byte, now int64) bool {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	if i < 0 {
		return false
	}
	s.removeAt(i, EventDelete, true)
	return true
}

// countLookup records a keyspace hit or miss, as Redis's lookupKeyRead does.
func (s *segment) countLookup(i int) {
	if i < 0 {
		s.misses++
	} else {
		s.hits++
	}
}

// Exists reports whether a key exists, without counting a hit or touching LFU (a peek for
// the command layer's own checks). The EXISTS command itself should use Lookup: Redis 7
// counts keyspace hits/misses for EXISTS, TYPE and TTL (measured on 7.0.15).
func (d *DB) Exists(key []byte, now int64) bool {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	return s.lookup(h, key, now) >= 0
}

// Lookup is Redis's lookupKeyReadWithFlags(LOOKUP_NOTOUCH), for EXISTS, TYPE, TTL, PTTL and
// EXPIRETIME: it counts a keyspace hit or miss, leaves the LFU field alone, and returns the
// key's type (TypeNone if missing) and absolute expiry in ms (-2 missing, -1 no TTL).
func (d *DB) Lookup(key []byte, now int64) (Type, int64) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	s.countLookup(i)
	if i < 0 {
		return TypeNone, -2
	}
	sl := &s.idx.slots[i]
	if sl.meta&metaTTL == 0 {
		return s.typeOf(sl.off), -1
	}
	return s.typeOf(sl.off), s.expAt(sl.off)
}

// Touch updates a key's access time/frequency and counts a hit or miss (TOUCH); reports
// whether it exists.
func (d *DB) Touch(key []byte, now int64) bool {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	s.countLookup(i)
	if i < 0 {
		return false
	}
	s.touch(i, now)
	return true
}

// TypeOf returns a key's type (TypeNone if missing), without counting a hit or touching
// LFU. The TYPE command itself should use Lookup, which counts as Redis does.
func (d *DB) TypeOf(key []byte, now int64) Type {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	if i < 0 {
		return TypeNone
	}
	return s.typeOf(s.idx.slots[i].off)
}

// ExpireCond is EXPIRE's NX / XX / GT / LT.
type ExpireCond uint8

const (
	ExpireAlways ExpireCond = iota
	ExpireNX
	ExpireXX
	ExpireGT // a key without TTL counts as an infinite TTL: GT never applies to it
	ExpireLT // ... and LT always does
)

// Expire sets the absolute expiry at (ms) if cond allows; at <= now deletes the key.
// Reports whether the TTL was set (or the key deleted).
func (d *DB) Expire(key []byte, at int64, cond ExpireCond, now int64) bool {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	if i < 0 {
		return false
	}
	cur := int64(-1)
	if s.idx.slots[i].meta&metaTTL != 0 {
		cur = s.expAt(s.idx.slots[i].off)
	}
	switch cond {
	case ExpireNX:
		if cur != -1 {
			return false
		}
	case ExpireXX:
		if cur == -1 {
			return false
		}
	case ExpireGT:
		if cur == -1 || at <= cur {
			return false
		}
	case ExpireLT:
		if cur != -1 && at >= cur {
			return false
		}
	}
	if at <= now {
		s.removeAt(i, EventDelete, true)
		return true
	}
	s.setExpiry(i, at)
	s.notify(key, EventWrite)
	return true
}

// ExpireAt returns a key's absolute expiry in ms: -2 if the key does not exist, -1 if it has
// no TTL. It counts no hit or miss; TTL/PTTL/EXPIRETIME should use Lookup, which does.
func (d *DB) ExpireAt(key []byte, now int64) int64 {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	if i < 0 {
		return -2
	}
	if s.idx.slots[i].meta&metaTTL == 0 {
		return -1
	}
	return s.expAt(s.idx.slots[i].off)
}

// Persist removes a key's TTL; reports whether one was removed.
func (d *DB) Persist(key []byte, now int64) bool {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	if i < 0 || s.idx.slots[i].meta&metaTTL == 0 {
		return false
	}
	s.setExpiry(i, 0)
	s.notify(key, EventWrite)
	return true
}

// Rename moves src to dst (keeping the TTL and the LFU field), replacing dst unless nx.
// ErrNoSuchKey if src is missing; renamed is false when nx and dst exists. src == dst
// succeeds without change (renamed = !nx), as in Redis 7.
func (d *DB) Rename(src, dst []byte, nx bool, now int64) (renamed bool, err error) {
	si, hs := d.segOf(xxhash.Sum64(src))
	di, hd := d.segOf(xxhash.Sum64(dst))
	d.lock2(si, di)
	defer d.unlock2(si, di)
	ss, sd := &d.segs[si], &d.segs[di]
	if ss.lookup(hs, src, now) < 0 {
		return false, ErrNoSuchKey
	}
	if bytes.Equal(src, dst) {
		return !nx, nil
	}
	if nx && sd.lookup(hd, dst, now) >= 0 {
		return false, nil
	}
	// Slots may have moved (dst lazily expired in the same segment): find again.
	i := ss.find(hs, src)
	off := ss.idx.slots[i].off
	// The new entry lives before src is freed; what stays is dst's entry, src's gone, and
	// maybe a grown index in sd: that net must fit (evicting anything but src). It is
	// reserved before an old dst is removed, so a refused RENAME leaves dst as it was; the
	// old dst is not credited (eviction may pick it, and its bytes would count twice).
	h := held{d: d, a: si, b: di}
	if err := sd.admit(&h, entryCost(len(dst), ss.vlen(off))-ss.entrySize(off), newKey(hd), off, now); err != nil {
		return false, err
	}
	defer sd.settle(&h)
	if j := sd.lookup(hd, dst, now); j >= 0 {
		sd.removeAt(j, 0, false)
	}
	// Evictions and dst's removal may have moved src's slot; the entry itself stays.
	i = ss.slotOf(hs, off)
	meta := ss.idx.slots[i].meta
	exp := int64(0)
	if meta&metaTTL != 0 {
		exp = ss.expAt(off)
	}
	val := ss.valOf(off) // stays valid: the arena does not move, large values are referenced
	ss.replacing(off)
	noff, buf, err := sd.newEntry(dst, len(val), exp, ss.typeOf(off))
	if err != nil {
		ss.replaced()
		return false, err
	}
	copy(buf, val)
	if err := sd.insert(hd, noff, exp, now); err != nil {
		sd.freeEntry(noff)
		ss.replaced()
		return false, err
	}
	if k := sd.find(hd, dst); k >= 0 {
		sl := &sd.idx.slots[k]
		sl.meta = sl.meta&^metaLFU | meta&metaLFU
	}
	i = ss.find(hs, src)
	ss.removeAt(i, EventDelete, false)
	sd.notify(dst, EventWrite)
	ss.maybeShrink()
	return true, nil
}

// Flush empties the database. Its chunks stay on their segments' free lists for reuse,
// unless no other database holds keys: then every page goes back to the OS (FlushAll).
func (d *DB) Flush() { d.flush(true) }

func (d *DB) flush(event bool) {
	e := d.e
	// All segments of all databases are locked (ascending, as everywhere) so the flush is
	// atomic and can tell whether the rest of the keyspace is empty.
	e.rebalanceMu.Lock()
	defer e.rebalanceMu.Unlock()
	e.lockAll()
	others := int64(0)
	for i := range e.dbs {
		if i != d.num {
			for j := range e.dbs[i].segs {
				others += e.dbs[i].segs[j].keys
			}
		}
	}
	if others == 0 {
		pages, maps := e.dropAll()
		e.unlockAll()
		e.giveBack(pages, maps)
	} else {
		var maps [][]byte
		for i := range d.segs {
			if m := d.segs[i].flush(); m != nil {
				maps = append(maps, m)
			}
		}
		e.unlockAll()
		e.giveBack(nil, maps)
	}
	if f := e.cfg.OnChange; f != nil && event {
		f(d.num, nil, EventFlush)
	}
}

// RandomKey calls fn with a random live key (valid only during the call, under the segment
// lock); reports false if the db has no live key. Expired keys are skipped, not removed.
func (d *DB) RandomKey(now int64, fn func(key []byte)) bool {
	n := len(d.segs)
	start := rand.IntN(n)
	for k := 0; k < n; k++ {
		s := &d.segs[(start+k)%n]
		s.mu.Lock()
		if s.keys == 0 {
			s.unlock()
			continue
		}
		l := len(s.idx.slots)
		p := rand.IntN(l)
		for t := 0; t < l; t++ {
			i := (p + t) % l
			if s.idx.slots[i].meta&metaUsed == 0 || s.isExpired(i, now) {
				continue
			}
			fn(s.keyOf(s.idx.slots[i].off))
			s.unlock()
			return true
		}
		s.unlock()
	}
	return false
}
