package engine

import (
	"bytes"
	"fmt"
)

// Verify recounts everything from scratch and compares it with the incrementally maintained
// counters: per segment the index layout (Robin Hood order, no holes in a run), every entry's
// hash and segment, keys, TTL keys, chunk bytes, large bytes, index bytes, every size class's
// chunks (live + free over all segments = carved), and engine-wide used memory and committed
// pages. It locks
// each segment in turn, so concurrent writers make it report a difference in used memory;
// call it on a quiet engine. It returns the first discrepancy.
func (e *Engine) Verify() error {
	// A rebalancing round in progress has chunks on no list by design: those classes'
	// chunk counts are checked once it ends.
	e.rebalanceMu.Lock()
	var evacuating [maxNumClasses]bool
	for _, p := range e.rebal.pages {
		evacuating[e.arena.pageClass[p]] = true
	}
	e.rebalanceMu.Unlock()
	var used int64
	// chunks[c]: live and free chunks of class c over all segments; every carved chunk is
	// exactly one of them.
	var chunks [maxNumClasses]int64
	for di := range e.dbs {
		d := &e.dbs[di]
		for si := range d.segs {
			s := &d.segs[si]
			s.mu.Lock()
			err := s.verify(d, si, &chunks)
			used += s.chunkBytes + s.idxBytes + s.largeBytes
			s.unlock()
			if err != nil {
				return fmt.Errorf("db %d segment %d: %w", di, si, err)
			}
		}
	}
	if got := e.used.Load(); got != used {
		return fmt.Errorf("used memory %d, recount %d", got, used)
	}
	if got := e.segBytes.Load(); got != used { // no write in progress: no reservation
		return fmt.Errorf("segment bytes %d, recount %d", got, used)
	}
	var pages int64
	for c := 0; c < numClasses; c++ {
		e.arena.cls[c].mu.Lock()
		shared := e.arena.cls[c].nfree
		e.arena.cls[c].mu.Unlock()
		if carved := e.arena.carved(uint8(c)); chunks[c]+shared != carved && !evacuating[c] {
			return fmt.Errorf("class %d: %d live + free chunks in segments and %d shared free, %d carved", classSize[c], chunks[c], shared, carved)
		}
		k := &e.arena.cls[c]
		k.mu.Lock()
		n := int64(0)
		for off := k.free; off != noOff; off = le32(e.arena.mem[uint64(off)<<unitShift:]) {
			if n++; n > k.nfree || e.arena.pageClass[off/pageUnits] != uint8(c) {
				k.mu.Unlock()
				return fmt.Errorf("class %d: shared free list longer than %d or off its pages", classSize[c], k.nfree)
			}
		}
		if n != k.nfree {
			k.mu.Unlock()
			return fmt.Errorf("class %d: shared free list %d, counter %d", classSize[c], n, k.nfree)
		}
		for _, p := range k.pages {
			if e.arena.pageClass[p] != uint8(c) {
				k.mu.Unlock()
				return fmt.Errorf("page %d of class %d marked class %d", p, classSize[c], classSize[e.arena.pageClass[p]])
			}
		}
		pages += int64(len(k.pages))
		k.mu.Unlock()
	}
	if got := e.arena.taken.Load(); got != pages {
		return fmt.Errorf("arena pages taken %d, carved into classes %d", got, pages)
	}
	return nil
}

func (s *segment) verify(d *DB, si int, chunks *[maxNumClasses]int64) error {
	x := &s.idx
	if s.retired.n != 0 { // every unlock takes them; under the lock none may be left over
		return fmt.Errorf("%d retired index mappings not unmapped", s.retired.n)
	}
	if int64(len(x.mem)) != s.idxBytes {
		return fmt.Errorf("index bytes %d, mapping %d", s.idxBytes, len(x.mem))
	}
	if s.credit != 0 { // a rewrite's replacing without its freeEntry or replaced
		return fmt.Errorf("%d bytes of a replaced entry still credited", s.credit)
	}
	if s.holder != nil || s.reserved != 0 { // an admitted write without its settle
		return fmt.Errorf("a write's reservation (%d bytes left) still held", s.reserved)
	}
	var keys, ttls, chunk, large int64
	var live [maxNumClasses]int64
	largeLive := 0
	prevHome := int64(-1)
	for i := range x.slots {
		sl := &x.slots[i]
		if sl.meta&metaUsed == 0 {
			if *sl != (slot{}) {
				return fmt.Errorf("slot %d: empty slot not zero", i)
			}
			continue
		}
		if err := s.checkSlot(i); err != nil {
			return err
		}
		h := int64(x.home(sl.hash))
		if h < prevHome {
			return fmt.Errorf("slot %d: home %d after home %d", i, h, prevHome)
		}
		prevHome = h
		key := s.keyOf(sl.off)
		gs, gh := d.segOf(hashKey(key))
		if gs != si || gh != sl.hash {
			return fmt.Errorf("slot %d: key %q hashes to segment %d hash %x, stored %x", i, key, gs, gh, sl.hash)
		}
		keys++
		exp := s.expAt(sl.off)
		if (exp != 0) != (sl.meta&metaTTL != 0) {
			return fmt.Errorf("slot %d: TTL flag %v, expiry %d", i, sl.meta&metaTTL != 0, exp)
		}
		if exp != 0 {
			ttls++
		}
		// Hash blobs are walked in invariants builds only: O(fields), and tests elsewhere
		// store opaque bytes as a hash to move them around.
		if invariants && s.typeOf(sl.off) == TypeHash {
			if err := hbVerify(s.valOf(sl.off)); err != nil {
				return fmt.Errorf("slot %d: key %q: %w", i, key, err)
			}
		}
		c := s.classOfEntry(sl.off)
		live[c]++
		chunk += int64(classSize[c])
		if s.isLarge(sl.off) {
			li, kl := s.largeRef(sl.off)
			if int(li) >= len(s.large) || s.large[li] == nil {
				return fmt.Errorf("slot %d: bad large ref %d", i, li)
			}
			if len(s.large[li]) != int(kl)+s.vlen(sl.off) {
				return fmt.Errorf("slot %d: large length %d, key %d + value %d", i, len(s.large[li]), kl, s.vlen(sl.off))
			}
			large += int64(cap(s.large[li]))
			largeLive++
		} else if hdrSize+len(key)+s.vlen(sl.off) > int(classSize[c]) {
			return fmt.Errorf("slot %d: entry overflows its class %d", i, classSize[c])
		}
	}
	switch {
	case keys != int64(x.n) || keys != s.keys:
		return fmt.Errorf("keys: counter %d, index n %d, recount %d", s.keys, x.n, keys)
	case ttls != s.expires:
		return fmt.Errorf("TTL keys: counter %d, recount %d", s.expires, ttls)
	case chunk != s.chunkBytes:
		return fmt.Errorf("chunk bytes: counter %d, recount %d", s.chunkBytes, chunk)
	case large != s.largeBytes:
		return fmt.Errorf("large bytes: counter %d, recount %d", s.largeBytes, large)
	case largeLive+len(s.largeFree) != len(s.large):
		return fmt.Errorf("large table: %d live + %d free != %d", largeLive, len(s.largeFree), len(s.large))
	}
	for c := 0; c < numClasses; c++ {
		cs := &s.cls[c]
		nfree := int64(0)
		for off := cs.free; off != noOff; off = le32(s.mem[uint64(off)<<unitShift:]) {
			if nfree++; nfree > int64(cs.nfree) {
				return fmt.Errorf("class %d: free list longer than %d", classSize[c], cs.nfree)
			}
			if s.e.arena.pageClass[off/pageUnits] != uint8(c) {
				return fmt.Errorf("class %d: free chunk %d in a page of class %d", classSize[c], off, classSize[s.e.arena.pageClass[off/pageUnits]])
			}
		}
		if nfree != int64(cs.nfree) {
			return fmt.Errorf("class %d: free list %d, counter %d", classSize[c], nfree, cs.nfree)
		}
		chunks[c] += live[c] + nfree
	}
	return nil
}

// checkSlot checks one used slot: at or after its home, every slot from its home to it
// occupied, homes in order with its neighbour before, and a unique key.
func (s *segment) checkSlot(i int) error {
	x := &s.idx
	sl := &x.slots[i]
	h := int(x.home(sl.hash))
	if h > i {
		return fmt.Errorf("slot %d: before its home %d", i, h)
	}
	for j := h; j < i; j++ {
		if x.slots[j].meta&metaUsed == 0 {
			return fmt.Errorf("slot %d: hole at %d after home %d", i, j, h)
		}
	}
	if i > 0 && x.slots[i-1].meta&metaUsed != 0 && int(x.home(x.slots[i-1].hash)) > h {
		return fmt.Errorf("slot %d: home %d after a later home", i, h)
	}
	for j := h; j < i; j++ {
		o := &x.slots[j]
		if o.hash == sl.hash && bytes.Equal(s.keyOf(o.off), s.keyOf(sl.off)) {
			return fmt.Errorf("slot %d: duplicate key at %d", i, j)
		}
	}
	return nil
}
