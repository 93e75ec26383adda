package engine

// Scan calls fn for the keys in one bounded step of a full iteration starting at cursor,
// visiting roughly count keys, and returns the next cursor (0 when the iteration is done).
// Guarantee, as Redis's SCAN: a key present from the start to the end of a full iteration is
// returned at least once, even if the index grows in between. Expired keys are skipped.
// fn runs under a segment lock; key is valid only during the call.
//
// Cursor: segment << 32 | h, meaning "every key of this segment whose 32-bit hash is below h
// has been returned". Index entries are ordered by hash whatever the capacity (see index.go),
// so the cursor survives growth and shrinking. A step ends only at a home-slot boundary: all
// entries sharing the last returned home are returned together, and the next cursor is the
// first hash that maps to a later home. Keys whose hashes collide in all 32 bits are thus
// never split across steps.
func (d *DB) Scan(cursor uint64, count int, now int64, fn func(key []byte, t Type)) (next uint64) {
	if count <= 0 {
		count = 10
	}
	si := int(cursor >> 32)
	c := uint32(cursor)
	seen := 0
	for ; si < len(d.segs); si, c = si+1, 0 {
		s := &d.segs[si]
		s.mu.Lock()
		nc, done := s.scan(c, count-seen, &seen, now, fn)
		s.unlock()
		if !done {
			return uint64(si)<<32 | uint64(nc)
		}
		if seen >= count {
			if si+1 == len(d.segs) {
				return 0
			}
			return uint64(si+1) << 32
		}
	}
	return 0
}

// scan visits the segment's entries with hash >= c in slot order. After want entries it
// finishes the current home and returns the next cursor; done means the segment is finished.
func (s *segment) scan(c uint32, want int, seen *int, now int64, fn func(key []byte, t Type)) (uint32, bool) {
	x := &s.idx
	if x.n == 0 {
		return 0, true
	}
	visited := 0
	lastHome := int64(-1)
	for i := x.home(c); i < uint32(len(x.slots)); i++ {
		sl := &x.slots[i]
		if sl.meta&metaUsed == 0 {
			continue
		}
		h := int64(x.home(sl.hash))
		if visited >= want && h != lastHome {
			// Every entry with home <= lastHome (and hash >= c) has been visited.
			nc := (uint64(lastHome+1)<<32 + uint64(x.cap) - 1) / uint64(x.cap)
			if nc > 0xffffffff {
				return 0, true
			}
			return uint32(nc), false
		}
		if sl.hash < c {
			continue
		}
		visited++
		*seen++
		lastHome = h
		if s.isExpired(int(i), now) {
			continue
		}
		off := sl.off
		fn(s.keyOf(off), s.typeOf(off))
	}
	return 0, true
}
