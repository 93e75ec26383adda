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

import "unsafe"

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

// growBytesFor returns an upper bound of the bytes k inserts add to the index, as insert
// grows it (a rare rebuild past a cluster at the end may add a little more).
func (x *index) growBytesFor(k uint32) int64 {
	c, n, size, mapped := x.cap, x.n, len(x.mem), x.mem != nil
	for ; k > 0; k-- {
		if !mapped || uint64(n+1)*10 > uint64(c)*9 {
			size, c = tableBytes(nextCap(c), x.minExtra)
			mapped = true
		}
		n++
	}
	return int64(size - len(x.mem))
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

// respillAt is respill for a table holding n entries (batchBytes follows it ahead of the
// inserts that raise n).
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
	for {
		size, nc := tableBytes(c, minExtra)
		if x.holdsWith(h, 1, nc, uint32(size/slotSize)) {
			return int64(size - len(x.mem))
		}
		c, minExtra = x.respill(nc, minExtra)
	}
}

// holdsWith reports whether a table of c homes and l slots holds x's entries and k more
// with hash h. It puts them, in x's slot order with the k where h falls, each in the
// first slot after the previous one and not before its home: a valid placement, so the
// last slot it uses is at or after the last one linear probing uses (the least possible:
// it fills from the homes up), and a yes is never wrong. Entries sharing a home in x are
// not sorted by hash, so a no can be wrong near the end of the table; it only makes the
// reservation larger. O(slots), no allocation; chainBytes and batchBytes call it only when
// an insert would rebuild.
func (x *index) holdsWith(h, k, c, l uint32) bool {
	free := uint64(0) // the first slot after the last one used
	put := func(hh, k uint32) bool {
		p := max(uint64(hh)*uint64(c)>>32, free)
		free = p + uint64(k)
		return free <= uint64(l)
	}
	pending := true
	for i := range x.slots {
		sl := &x.slots[i]
		if sl.meta&metaUsed == 0 {
			continue
		}
		if pending && sl.hash > h {
			pending = false
			if !put(h, k) {
				return false
			}
		}
		if !put(sl.hash, 1) {
			return false
		}
	}
	return !pending || put(h, k)
}

// batchBytes returns an upper bound of what inserting kNew new entries adds to the index
// (MSET), none with a hash above h, while k entries in all (kNew and those overwritten in
// place) may land in it. It follows the tables the inserts build, table-full growths
// (nextCap) and spills (respillAt) alike, with all k moved to h, the latest hash: a table
// holding x's entries and k more at h (holdsWith) holds any k of them. A table that does
// not is taken to spill at the next insert, the earliest a spill can come, and to be
// rebuilt until one does; a table that does never spills. Only the last table stays in
// used memory. Counting the overwritten keys in k keeps the bound when the gate evicts one
// of them (it is then inserted). O(slots) for each rebuild, which the inserts cost anyway,
// else roomAfter's scan of the tail; no allocation.
func (x *index) batchBytes(h, k, kNew uint32) int64 {
	if kNew == 0 {
		return 0
	}
	mapped := x.mem != nil
	holds := mapped && x.roomAfter(h, k)
	if holds && uint64(x.n+kNew)*10 <= uint64(x.cap)*9 { // no insert finds the table full
		return 0
	}
	n, c, minExtra, size := x.n, x.cap, x.minExtra, len(x.mem)
	build := func(want uint32) {
		for {
			var nc uint32
			size, nc = tableBytes(want, minExtra)
			if x.holdsWith(h, k, nc, uint32(size/slotSize)) {
				c, mapped, holds = nc, true, true
				return
			}
			want, minExtra = respillAt(n, nc, minExtra)
		}
	}
	for kNew > 0 {
		switch {
		case !mapped || uint64(n+1)*10 > uint64(c)*9:
			build(nextCap(c))
		case !holds:
			var want uint32
			want, minExtra = respillAt(n, c, minExtra)
			build(want)
		}
		// The table holds them all now: the inserts up to its load limit go in at once
		// (at least the one that rebuilt it, as insert places it without a second look).
		step := uint32(1)
		if full := uint32(uint64(c) * 9 / 10); full > n+1 {
			step = min(kNew, full-n)
		}
		n += step
		kNew -= step
	}
	return int64(size - len(x.mem))
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
