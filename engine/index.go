package engine

// The index: one per segment, an open-addressing table with Robin Hood linear probing and
// no wrap-around, in its own anonymous mapping (no Go pointers, invisible to the GC).
//
//	home(h) = (h * cap) >> 32         fastrange: any capacity, not only powers of two
//
//	slot:  | hash uint32 | off uint32 | meta: flags (8 bits) | LFU (24 bits) |   12 bytes
//
//	index:   0     1     2     3     4     5    ...  cap-1 | cap ... cap+extra-1
//	       [ a0 ][ b1 ][ c1 ][    ][ d4 ][ e4 ] ...        |  overflow, never a home
//	(letter = entry, digit = its home slot)
//
// Invariant (checked by verifyIndex): along the table, homes never decrease, every entry sits
// at or after its home, and the slots between an entry's home and its position are all
// occupied. Insertion keeps it (a newcomer displaces an entry closer to its own home, which
// shifts the run right up to the first empty slot); deletion shifts the following run back
// by one until an empty slot or an entry already at home.
//
// Because home is monotonic in the 32-bit hash, the entries are ordered by hash for every
// capacity. SCAN's cursor is therefore a hash value, not a slot number: "every entry whose
// hash is below the cursor has been returned" stays true when the table grows or shrinks.
//
// The full 32-bit hash in the slot doubles as the tag (a key compare happens only when all 32
// bits match) and lets growth rehash without reading keys from the arena.
//
// Growth: at load 0.9 the capacity grows 1.5x (and to whatever the rounded-up mapping can
// hold), so the load never drops below 0.6: 12 bytes / 0.6 = 20 bytes of index per key at
// worst, which with a 136-byte chunk keeps a 16-byte key with a 100-byte value at 156 bytes.

import (
	"math/bits"
	"unsafe"
)

type slot struct {
	hash uint32
	off  uint32
	meta uint32
}

const (
	slotSize = 12
	metaLFU  = 1<<24 - 1
	metaUsed = 1 << 24
	metaTTL  = 1 << 25

	minIndexCap  = 8
	shrinkMinCap = 1024
)

type index struct {
	mem   []byte // the mapping; nil until the first insert
	slots []slot // view of mem: cap+extra slots
	cap   uint32 // homes are in [0, cap)
	n     uint32 // used slots
	// minExtra raises the overflow region when entries sharing one 32-bit hash run off
	// the end (adversarial keys): growing the capacity cannot spread identical hashes.
	minExtra uint32
}

func extraFor(c uint32) uint32 {
	n := uint32(0)
	for x := c; x > 0; x >>= 1 {
		n++
	}
	return 32 + 4*n
}

func (x *index) home(h uint32) uint32 { return uint32(uint64(h) * uint64(x.cap) >> 32) }

// full reports whether one more entry would pass the 0.9 load factor.
func (x *index) full() bool { return uint64(x.n+1)*10 > uint64(x.cap)*9 }

// tableBytes returns the mapping size for at least c homes and the capacity that mapping can
// hold (we use the whole rounded-up mapping).
func tableBytes(c, minExtra uint32) (int, uint32) {
	extra := func(c uint32) uint32 { return max(extraFor(c), minExtra) }
	size := (int(c+extra(c))*slotSize + osPage - 1) &^ (osPage - 1)
	n := uint32(size / slotSize)
	return size, n - extra(n) // extra(n-extra(n)) <= extra(n): the overflow fits
}

// roomAfter reports whether k inserts, none with a home after h's, each find an empty slot
// at or after their home: place takes the first empty slot at or after its home, so k
// empty slots at or after h's home are enough.
func (x *index) roomAfter(h uint32, k uint32) bool {
	if x.mem == nil {
		return false
	}
	for i := int(x.home(h)); i < len(x.slots); i++ {
		if x.slots[i].meta&metaUsed == 0 {
			if k--; k == 0 {
				return true
			}
		}
	}
	return false
}

// spill returns the capacity and overflow region insert rebuilds with when a new slot finds
// no empty slot at or after its home (a cluster ran into the end of the overflow region).
func (x *index) spill() (c, minExtra uint32) { return x.respill(x.cap, x.minExtra) }

// respill returns the capacity and overflow region of the table to build when one of c
// homes and overflow minExtra cannot hold x's entries (and, for insert, a new one). Rebuild
// and insert's spill take the same steps, so the gate can follow the chain (chainBytes).
func (x *index) respill(c, minExtra uint32) (uint32, uint32) { return respillAt(x.n, c, minExtra) }

// respillAt is respill for a table holding n entries (batchBytes takes both of its answers
// where the counts a batch passes through allow them).
func respillAt(n, c, minExtra uint32) (uint32, uint32) {
	if c > 4*n+1024 { // growing does not help: identical hashes at the end
		return c, max(64, minExtra*2)
	}
	return c + c/4 + 8, minExtra // an unlucky cluster; a bigger table spreads it
}

// chainBytes returns an upper bound of what inserting a new entry with hash h adds to the
// index when insert rebuilds it, first for at least c homes and overflow minExtra: a rebuilt
// table that still cannot hold every entry and the new one is followed by the next
// (respill), until one holds them all. The rebuilds in between are unmapped at once; only
// the last stays in used memory.
func (x *index) chainBytes(h, c, minExtra uint32) int64 {
	var one batchKeys // the new key alone
	one.add(h)
	for {
		size, nc := tableBytes(c, minExtra)
		if x.holdsBatch(&one, 0, nc, uint32(size/slotSize)) {
			return int64(size - len(x.mem))
		}
		c, minExtra = x.respill(nc, minExtra)
	}
}

// batchRanges is how many hash ranges a batchKeys sketch keeps (batchRange).
const batchRanges = 32

// batchKeys sketches the hashes of the keys a batch (MSET) may insert into one index: per
// hash range, how many and the greatest hash. A key placed at a later home never fits where
// it did not, so a table with room for every key at its range's greatest hash has room for
// the keys themselves (batchBytes relies on it). 256 bytes, kept in the segment.
type batchKeys struct {
	n   [batchRanges]uint32
	top [batchRanges]uint32
}

func (b *batchKeys) reset() { *b = batchKeys{} }

func (b *batchKeys) add(h uint32) {
	r := batchRange(h)
	b.n[r]++
	b.top[r] = max(b.top[r], h)
}

// batchRange returns the range of hash h, ranges ascending with the hash: the first fifteen
// sixteenths of the hash space evenly, then the last sixteenth halved towards the top, 17
// times. Moving keys to the greatest hash of their range costs most at the end of the
// table, where a cluster has only the overflow region to run into; there the ranges are
// finest, and keys crowded at the very end (one hash flooded) stay apart from the rest.
func batchRange(h uint32) int {
	if r := h >> 28; r < 15 {
		return int(r)
	}
	return 15 + min(bits.LeadingZeros32(^(h<<4)), 16)
}

// roomFor reports whether x, as it is, has room for the sketched keys plus late keys of
// the greatest hash, each at its range's greatest hash: linear probing without wrap-around
// places them all iff, for every home t, the keys homed at or after t are no more than the
// empty slots at or after t (checked at each range's home, where the count rises). It scans
// back from the end only until the empty slots seen cover the keys: O(keys / free share)
// slots in a table with free slots near its end, whatever the hashes.
func (x *index) roomFor(b *batchKeys, late uint32) bool {
	total := late
	for _, n := range b.n {
		total += n
	}
	i, empty, need := len(x.slots), uint32(0), uint32(0)
	// covers reports whether the empty slots at or after home t cover k keys; the empty
	// slots counted so far, from the end down to i >= t, are a lower bound.
	covers := func(t, k uint32) bool {
		for ; empty < k && i > int(t); i-- {
			if x.slots[i-1].meta&metaUsed == 0 {
				empty++
			}
		}
		return empty >= k
	}
	if need = late; late > 0 && !covers(x.home(^uint32(0)), need) {
		return false
	}
	for r := batchRanges - 1; r >= 0 && empty < total; r-- {
		if b.n[r] == 0 {
			continue
		}
		if need += b.n[r]; !covers(x.home(b.top[r]), need) {
			return false
		}
	}
	return true
}

// holdsBatch reports whether a table of c homes and l slots holds x's entries, the sketched
// keys (each at its range's greatest hash) and late keys of the greatest hash. It puts
// them all, in x's slot order with each range's keys where its greatest hash falls, each in
// the first slot after the previous one and not before its home: a valid placement, so the
// last slot it uses is at or after the last one linear probing uses (the least possible:
// it fills from the homes up), and a yes is never wrong. Entries sharing a home in x are
// not sorted by hash, so a no can be wrong near the end of the table; it only makes the
// reservation larger. O(slots), no allocation; chainBytes (one key) and batchBytes call it
// only when inserts would rebuild.
func (x *index) holdsBatch(b *batchKeys, late, c, l uint32) bool {
	free := uint64(0) // the first slot after the last one used
	put := func(hh, k uint32) bool {
		p := max(uint64(hh)*uint64(c)>>32, free)
		free = p + uint64(k)
		return free <= uint64(l)
	}
	r := 0 // the next range to put
	for i := range x.slots {
		sl := &x.slots[i]
		if sl.meta&metaUsed == 0 {
			continue
		}
		for ; r < batchRanges && b.top[r] < sl.hash; r++ {
			if b.n[r] != 0 && !put(b.top[r], b.n[r]) {
				return false
			}
		}
		if !put(sl.hash, 1) {
			return false
		}
	}
	for ; r < batchRanges; r++ {
		if b.n[r] != 0 && !put(b.top[r], b.n[r]) {
			return false
		}
	}
	return late == 0 || put(^uint32(0), late)
}

// batchBytes returns an upper bound of what inserting kNew new entries adds to the index
// (MSET), whatever their order: b sketches their hashes but late of them, which may have any
// hash (keys evicted by the gate since the batch was sketched).
//
// Insert leaves a table in two ways: it grows it (nextCap) when an insert would pass the
// load limit, and it rebuilds it (respillAt) when a new key finds no empty slot at or after
// its home; a rebuilt table that cannot hold the entries is followed by the next (rebuild).
// Which rebuild comes when depends on the order of the inserts and on the entry count at
// that moment, so batchBytes does not follow one path: it visits every table insert can
// reach from x, leaving a table by each way that is possible at some point of the batch.
// Growth is possible while the final count passes the table's load limit; a rebuild while
// the table may not hold every entry and key at the end (roomFor, holdsBatch: a no may be
// wrong, a yes is not); respillAt's two answers by the entry counts the batch passes
// through. A table that holds them all within its load limit is never left. The tables
// actually built are among those visited, and the last is the one that stays mapped, so
// the largest visited bounds it. The common case visits one or two tables (none when x
// already has room: O(the tail scanned)); after batchVisits tables (adversarial clusters),
// it bounds instead by the largest capacity and overflow any path can reach.
func (x *index) batchBytes(b *batchKeys, late, kNew uint32) int64 {
	if kNew == 0 {
		return 0
	}
	w := batchWalk{x: x, b: b, late: late, n0: uint64(x.n), fin: uint64(x.n) + uint64(kNew),
		visits: batchVisits}
	if x.mem == nil { // the first insert builds the table
		w.visit(nextCap(x.cap), x.minExtra)
	} else {
		w.leave(x.cap, x.minExtra, x.roomFor(b, late))
	}
	if w.visits < 0 {
		cmax := max(nextCap(x.cap), nextCap(uint32(min(w.fin*10/9+1, 1<<31))),
			uint32(min((4*w.fin+1024)*5/4+8, 1<<31)))
		mmax := max(64, 2*x.minExtra, uint32(min(2*w.fin, 1<<31)))
		w.size, _ = tableBytes(cmax, mmax)
	}
	return max(int64(w.size-len(x.mem)), 0)
}

// batchVisits bounds the tables batchBytes visits one by one.
const batchVisits = 64

type batchWalk struct {
	x       *index
	b       *batchKeys
	late    uint32
	n0, fin uint64 // entries now, after the batch
	size    int    // the largest table visited, bytes
	visits  int    // left before batchBytes falls back to the coarse bound; < 0: ran out
}

// visit is a table insert may build for at least c homes and overflow minExtra.
func (w *batchWalk) visit(c, minExtra uint32) {
	if w.visits--; w.visits < 0 {
		return
	}
	size, nc := tableBytes(c, minExtra)
	w.size = max(w.size, size)
	w.leave(nc, minExtra, w.x.holdsBatch(w.b, w.late, nc, uint32(size/slotSize)))
}

// leave visits the tables that follow the table of c homes and overflow minExtra during
// the batch; holds: that table surely holds every entry and key (roomFor, holdsBatch).
func (w *batchWalk) leave(c, minExtra uint32, holds bool) {
	if w.fin*10 > uint64(c)*9 { // some insert finds it full
		w.visit(nextCap(c), minExtra)
	}
	if holds {
		return
	}
	// respillAt for every count from n0 to fin-1 (the entries when a key spills).
	if uint64(c) > 4*w.n0+1024 {
		w.visit(c, max(64, minExtra*2))
	}
	if uint64(c) <= 4*(w.fin-1)+1024 {
		w.visit(c+c/4+8, minExtra)
	}
}

func nextCap(c uint32) uint32 {
	if c < minIndexCap {
		return minIndexCap
	}
	return c + c/2
}

// place puts sl in slots (Robin Hood) if an empty slot exists at or after its home and
// returns where it landed; it changes nothing and returns -1 otherwise.
func (x *index) place(sl slot) int {
	i := x.home(sl.hash)
	e := i
	for e < uint32(len(x.slots)) && x.slots[e].meta&metaUsed != 0 {
		e++
	}
	if e == uint32(len(x.slots)) {
		return -1
	}
	pos := int(e)
	d := uint32(0)
	for ; i < e; i, d = i+1, d+1 {
		cur := &x.slots[i]
		if cd := i - x.home(cur.hash); cd < d {
			if pos == int(e) {
				pos = int(i)
			}
			sl, *cur = *cur, sl
			d = cd
		}
	}
	x.slots[e] = sl
	x.n++
	return pos
}

// rebuild moves every entry into a new table of at least c homes. It returns the change in
// mapped bytes and the replaced mapping (nil if there was none), which the caller unmaps
// after releasing the segment lock (segment.retire); on a mapping failure the table is
// unchanged and ok is false.
func (x *index) rebuild(c uint32) (delta int64, old []byte, ok bool) {
	minExtra := x.minExtra
	for {
		size, nc := tableBytes(c, minExtra)
		mem, err := mapTable(size)
		if err != nil {
			return 0, nil, false
		}
		nx := index{mem: mem, cap: nc, minExtra: minExtra}
		nx.slots = unsafe.Slice((*slot)(unsafe.Pointer(&mem[0])), size/slotSize)
		fits := true
		for i := range x.slots {
			if x.slots[i].meta&metaUsed != 0 && nx.place(x.slots[i]) < 0 {
				fits = false
				break
			}
		}
		if !fits {
			// Rare (a cluster ran off the end): this table was never live, unmapped at once.
			unmapTable(mem)
			c, minExtra = x.respill(nc, minExtra)
			continue
		}
		delta = int64(len(mem) - len(x.mem))
		old = x.mem
		*x = nx
		return delta, old, true
	}
}

// release empties the index and returns its mapping (nil if none) for the caller to unmap
// after the segment lock is released.
func (x *index) release() []byte {
	old := x.mem
	*x = index{}
	return old
}

// remove deletes slot i by shifting the rest of its run back.
func (x *index) remove(i uint32) {
	j := i + 1
	for j < uint32(len(x.slots)) {
		s := x.slots[j]
		if s.meta&metaUsed == 0 || x.home(s.hash) == j {
			break
		}
		x.slots[j-1] = s
		j++
	}
	x.slots[j-1] = slot{}
	x.n--
}
