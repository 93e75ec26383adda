package engine

// Page rebalancing: memory moves between size classes instead of staying stranded.
//
// Deletes and evictions leave free chunks on their class's free lists; when the mix of value
// sizes shifts (100-byte values, then only 8 KiB ones), those chunks serve no write and the
// new class takes fresh pages. Rebalance empties the sparsest pages of classes with much
// free space and gives them back (MADV_DONTNEED), so any class can take them again.
//
// One round, driven by Rebalance in bounded slices from a background goroutine:
//
//  1. choose: for each class whose shared free list holds at least two pages' worth, pick
//     the pages with the most free chunks (at least an eighth free; never the class's
//     current page), as many as the free chunks elsewhere can absorb their live entries; mark them evacuating (pageEvac) and unlink
//     their chunks from the shared list. From then on no one allocates in them: their free
//     chunks are on no list, the carver is past them, and arena.put drops their chunks.
//  2. walk: every segment in turn, under its own lock: pull its local free chunks in those
//     pages, and move each entry living there into a new chunk of its class (the index slot
//     gets the new offset). A segment walked holds nothing in them any more.
//  3. release: the pages leave their class and go back to the arena and the OS.
//
// SWAPDB moves entries between segments and flushes drop them: both restart or end the
// round (rebalanceMu and the epoch), so no entry escapes the walk.

import (
	"sort"
	"time"
)

// rebalanceState is one round in progress; guarded by Engine.rebalanceMu.
type rebalanceState struct {
	active bool
	pos    int      // next segment to walk (db*Segments + seg)
	pages  []uint32 // pages being evacuated
	stay   []uint32 // entries that could not move (arena exhausted): their pages are kept
	epoch  uint64   // layout epoch the walk started in
	freeOn []uint16 // scratch: shared free chunks per page while choosing
}

const (
	rebalanceMaxPages = 64 // pages per class per round: bounds the memory a round moves
	// rebalanceUrgentPages is that bound while the footprint is past its share of the RSS
	// bound (RebalanceUrgent): the pages chosen are the sparsest, so a round still moves
	// little, and each round costs a walk of every segment whatever it gives back.
	rebalanceUrgentPages = 1024
	rebalanceSegCheck    = 16 // segments between clock reads
)

// RebalanceUrgent reports whether the keyspace's footprint (arena pages committed, index
// mappings, large values) is past 1.1 × maxmemory, its share of the RSS bound (DESIGN.md
// invariant 5): after the value-size mix shifts under a flood, evictions empty pages far
// faster than background slices give them back, and the caller should rebalance at once.
func (e *Engine) RebalanceUrgent() bool {
	m := e.maxMemory.Load()
	return m > 0 && e.footprint() > m+m/10
}

// footprint is what the keyspace takes from the process: arena pages committed, index
// mappings and large values.
func (e *Engine) footprint() int64 {
	idx, large := e.indexAndLargeBytes()
	return e.arena.committed() + idx + large
}

// Rebalancing reports whether a round is in progress (its next slice continues it).
func (e *Engine) Rebalancing() bool {
	e.rebalanceMu.Lock()
	defer e.rebalanceMu.Unlock()
	return e.rebal.active
}

// Rebalance runs one slice of page rebalancing within budget and returns how many pages it
// gave back to the OS. Safe to call from one background goroutine while commands run.
func (e *Engine) Rebalance(budget time.Duration) int {
	e.rebalanceMu.Lock()
	defer e.rebalanceMu.Unlock()
	if e.rebalanceClosed {
		return 0
	}
	r := &e.rebal
	start := time.Now()
	if !r.active && !e.chooseEvacuation() {
		return 0
	}
	if r.epoch != e.layoutEpoch { // SWAPDB since the walk started: walk again from the top
		r.pos, r.epoch = 0, e.layoutEpoch
	}
	nseg := int(e.segMask + 1)
	total := len(e.dbs) * nseg
	for ; r.pos < total; r.pos++ {
		if r.pos%rebalanceSegCheck == rebalanceSegCheck-1 && time.Since(start) > budget {
			return 0
		}
		s := &e.dbs[r.pos/nseg].segs[r.pos%nseg]
		s.mu.Lock()
		s.evacuate(r)
		s.unlock()
	}
	return e.releaseEvacuated()
}

// chooseEvacuation starts a round (step 1) and reports whether it found pages to empty.
func (e *Engine) chooseEvacuation() bool {
	a := &e.arena
	r := &e.rebal
	if r.freeOn == nil {
		r.freeOn = make([]uint16, len(a.pageClass))
	}
	r.pages, r.stay = r.pages[:0], r.stay[:0]
	maxPages := rebalanceMaxPages
	if e.RebalanceUrgent() {
		maxPages = rebalanceUrgentPages
	}
	for c := 0; c < numClasses; c++ {
		k := &a.cls[c]
		per := int64(pageUnits / (classSize[c] >> unitShift))
		k.mu.Lock()
		if k.nfree < 2*per {
			k.mu.Unlock()
			continue
		}
		for off := k.free; off != noOff; off = le32(a.mem[uint64(off)<<unitShift:]) {
			r.freeOn[off/pageUnits]++
		}
		current := uint32(noOff)
		if k.end != 0 {
			current = (k.end - 1) / pageUnits
		}
		var cand []uint32
		for _, p := range k.pages {
			if p != current && int64(r.freeOn[p])*8 >= per {
				cand = append(cand, p)
			}
		}
		sort.Slice(cand, func(i, j int) bool { return r.freeOn[cand[i]] > r.freeOn[cand[j]] })
		// Live entries of the chosen pages must fit in the free chunks left outside them.
		outside, live := k.nfree, int64(0)
		first := len(r.pages)
		for _, p := range cand {
			f := int64(r.freeOn[p])
			if len(r.pages)-first == maxPages || outside-f < live+per-f {
				break
			}
			outside -= f
			live += per - f
			a.pageEvac[p] = true
			r.pages = append(r.pages, p)
		}
		for _, p := range k.pages {
			r.freeOn[p] = 0
		}
		if len(r.pages) > first {
			k.unlinkEvacuating(a)
		}
		k.mu.Unlock()
	}
	if len(r.pages) == 0 {
		return false
	}
	r.active, r.pos, r.epoch = true, 0, e.layoutEpoch
	return true
}

// unlinkEvacuating removes the chunks of evacuating pages from the shared free list (k.mu
// held).
func (k *classCarver) unlinkEvacuating(a *arena) {
	prev := uint32(noOff)
	for off := k.free; off != noOff; {
		next := le32(a.mem[uint64(off)<<unitShift:])
		if a.pageEvac[off/pageUnits] {
			if prev == noOff {
				k.free = next
			} else {
				put32(a.mem[uint64(prev)<<unitShift:], next)
			}
			k.nfree--
		} else {
			prev = off
		}
		off = next
	}
}

// evacuate is step 2 for one segment (its lock held): its free chunks in evacuating pages
// leave its lists, its entries there move to new chunks.
func (s *segment) evacuate(r *rebalanceState) {
	a := &s.e.arena
	for c := 0; c < numClasses; c++ {
		cs := &s.cls[c]
		prev := uint32(noOff)
		for off := cs.free; off != noOff; {
			next := le32(s.mem[uint64(off)<<unitShift:])
			if a.pageEvac[off/pageUnits] {
				if prev == noOff {
					cs.free = next
				} else {
					put32(s.mem[uint64(prev)<<unitShift:], next)
				}
				cs.nfree--
			} else {
				prev = off
			}
			off = next
		}
	}
	x := &s.idx
	for i := range x.slots {
		sl := &x.slots[i]
		if sl.meta&metaUsed == 0 || !a.pageEvac[sl.off/pageUnits] {
			continue
		}
		c := s.classOfEntry(sl.off)
		noff, err := s.allocChunk(c)
		if err != nil { // the arena region is exhausted: the entry stays, and so does its page
			r.stay = append(r.stay, sl.off)
			continue
		}
		sz := uint64(classSize[c])
		from, to := uint64(sl.off)<<unitShift, uint64(noff)<<unitShift
		copy(s.mem[to:to+sz], s.mem[from:from+sz])
		sl.off = noff
	}
}

// releaseEvacuated is step 3: the walked pages leave their classes and go back to the OS.
func (e *Engine) releaseEvacuated() int {
	a := &e.arena
	r := &e.rebal
	var give []uint32
	for _, p := range r.pages {
		c := a.pageClass[p]
		k := &a.cls[c]
		k.mu.Lock()
		a.pageEvac[p] = false
		if keep := r.keeps(p); keep {
			// Everything there but the entries that stayed is free again.
			units := classSize[c] >> unitShift
			for off := p * pageUnits; off+units <= (p+1)*pageUnits; off += units {
				if !r.stayed(off) {
					b := uint64(off) << unitShift
					if invariants {
						for i := b + 4; i < b+uint64(classSize[c]); i++ {
							a.mem[i] = 0xdb
						}
					}
					put32(a.mem[b:], k.free)
					k.free = off
					k.nfree++
				}
			}
		} else {
			for i, q := range k.pages {
				if q == p {
					k.pages[i] = k.pages[len(k.pages)-1]
					k.pages = k.pages[:len(k.pages)-1]
					break
				}
			}
			give = append(give, p)
		}
		k.mu.Unlock()
	}
	a.givePages(give)
	r.active = false
	r.pages, r.stay = r.pages[:0], r.stay[:0]
	return len(give)
}

func (r *rebalanceState) keeps(page uint32) bool {
	for _, off := range r.stay {
		if off/pageUnits == page {
			return true
		}
	}
	return false
}

func (r *rebalanceState) stayed(off uint32) bool {
	for _, o := range r.stay {
		if o == off {
			return true
		}
	}
	return false
}

// abandonRebalance ends a round because the whole keyspace was dropped (its pages went back
// with every other page); rebalanceMu and every segment lock are held.
func (e *Engine) abandonRebalance() {
	for _, p := range e.rebal.pages {
		e.arena.pageEvac[p] = false
	}
	e.rebal.active = false
	e.rebal.pages, e.rebal.stay = e.rebal.pages[:0], e.rebal.stay[:0]
}
