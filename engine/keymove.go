package engine

import (
	"bytes"

	"github.com/cespare/xxhash/v2"
)

// MOVE and COPY: an entry copied into another key or database.
//
// The value is copied byte for byte with its type and TTL, so every type works alike: a
// value is one self-contained entry (inline in the arena, or a large value on the Go heap),
// never a structure pointing elsewhere. Both keys' segments are locked in the lock order,
// (database, segment) ascending, as everywhere (evict.go); making room for the new entry may
// evict from any segment but those two (held.x names the other database's segment).

// Move moves key from d to database to (MOVE), keeping its TTL and its access field. It
// reports false when key is missing from d or already exists in to; to must not be d.
func (d *DB) Move(to *DB, key []byte, now int64) (moved bool, err error) {
	return d.transfer(to, key, key, transferMove, now)
}

// Copy copies src of d to dst of database to (COPY; to may be d): the value's bytes, its
// type and its TTL; the copy's access field starts afresh, as a new key's. An existing dst
// is replaced when replace is set, else nothing is copied. It reports false when src is
// missing or dst exists without replace, and counts a keyspace hit or miss for src.
// src and dst must differ when to is d.
func (d *DB) Copy(to *DB, src, dst []byte, replace bool, now int64) (copied bool, err error) {
	mode := transferCopy
	if replace {
		mode = transferCopyReplace
	}
	return d.transfer(to, src, dst, mode, now)
}

type transferMode uint8

const (
	transferMove transferMode = iota
	transferCopy
	transferCopyReplace
)

func (d *DB) transfer(to *DB, src, dst []byte, mode transferMode, now int64) (bool, error) {
	si, hs := d.segOf(xxhash.Sum64(src))
	di, hd := to.segOf(xxhash.Sum64(dst))
	ss, sd := &d.segs[si], &to.segs[di]
	if ss == sd && bytes.Equal(src, dst) {
		return false, nil // the command layer refuses this first ("source and destination objects are the same")
	}
	lockPair(ss, sd)
	defer unlockPair(ss, sd)

	i := ss.lookup(hs, src, now)
	if mode != transferMove {
		ss.countLookup(i) // COPY reads its source (lookupKeyRead); MOVE's lookup is a write's
	}
	if i < 0 {
		return false, nil
	}
	d.touch(ss, i, now)
	if mode != transferCopyReplace && sd.lookup(hd, dst, now) >= 0 {
		return false, nil
	}
	// Slots may have moved (dst lazily expired in the same segment): find src again.
	i = ss.find(hs, src)
	off := ss.idx.slots[i].off
	base := entryCost(len(dst), ss.vlen(off))
	if mode == transferMove {
		base -= ss.entrySize(off) // src is freed once the copy stands
	}
	h := held{d: to, a: di, b: di}
	if ss != sd {
		if d.num == to.num {
			h.a = si
		} else {
			h.x = ss
		}
	}
	ev := ss.evicted
	err := sd.admit(&h, base, newKey(hd), off, now)
	if err != nil {
		return false, err
	}
	defer sd.settle(&h)
	// As Rename: the old destination goes only once the new entry's memory is reserved, so
	// a refused COPY REPLACE leaves it as it was (it is not credited: eviction may pick it).
	if j := sd.lookup(hd, dst, now); j >= 0 {
		sd.removeAt(j, 0, false)
	}
	if ss.evicted != ev || ss == sd {
		i = ss.slotOf(hs, off)
	}
	meta := ss.idx.slots[i].meta
	exp := int64(0)
	if meta&metaTTL != 0 {
		exp = ss.expAt(off)
	}
	val := ss.valOf(off) // stays valid: the arena does not move, large values are referenced
	if mode == transferMove {
		ss.replacing(off)
	}
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
	if mode == transferMove {
		if k := sd.find(hd, dst); k >= 0 {
			sl := &sd.idx.slots[k]
			sl.meta = sl.meta&^metaLFU | meta&metaLFU
		}
		ss.removeAt(ss.find(hs, src), EventDelete, false)
		ss.maybeShrink()
	}
	sd.notify(dst, EventWrite)
	return true, nil
}

// lockPair locks a and b (possibly the same segment, possibly of different databases) in
// the lock order: (database, segment) ascending.
func lockPair(a, b *segment) {
	switch {
	case a == b:
		a.mu.Lock()
	case a.db < b.db || (a.db == b.db && a.num < b.num):
		a.mu.Lock()
		b.mu.Lock()
	default:
		b.mu.Lock()
		a.mu.Lock()
	}
}

// unlockPair releases lockPair's locks, then unmaps what both segments retired.
func unlockPair(a, b *segment) {
	if a == b {
		a.unlock()
		return
	}
	ra, rb := a.takeRetired(), b.takeRetired()
	a.mu.Unlock()
	b.mu.Unlock()
	ra.unmap()
	rb.unmap()
}
