package engine

// The arena: off-heap memory for entries.
//
//	reserved region (one mmap, MAP_NORESERVE; see arena_linux.go)
//	┌────────┬────────┬────────┬────────┬─── ─ ─ ───────────────┐
//	│ page 0 │ page 1 │ page 2 │ page 3 │  not yet taken ...      │
//	└────────┴────────┴────────┴────────┴─── ─ ─ ───────────────┘
//	  64 KiB pages, each carved into one size class, shared by all segments:
//	┌──────┬──────┬──────┬──────┬─────────────┐
//	│chunk │chunk │ free │chunk │ never carved│   free chunk: first 4 bytes = next free
//	└──────┴──────┴──────┴──────┴─────────────┘   offset (8-byte units), noOff ends the list
//	 seg 3   seg 0  seg 3  seg 1
//
// Carving is engine-wide, one current page per size class (classCarver, its own mutex, taken
// under a segment lock, never the other way round); a carved chunk then belongs to the
// segment that allocated it, and when freed goes on that segment's free list for its class
// (no lock beyond the segment's). Pages owned per segment and class would leave one partly
// carved page per segment and class: 64 segments x 50 classes x 64 KiB = 200 MiB committed
// for a 64 MiB keyspace of mixed sizes, against one page per class here.
//
// Offsets are uint32 counts of 8-byte units from the region's start, so the arena addresses
// at most 32 GiB and every chunk is 8-byte aligned. The index stores these offsets, never
// pointers: the Go GC never sees the arena.
//
// Entry (one chunk), little endian:
//
//	[0:8)   expiry, ms since the epoch, 0 = no TTL
//	[8:12)  value length
//	[12:14) key length (inline entries; a chunk is at most 32 KiB)
//	[14]    size class of the chunk (so in-place updates know the room they have)
//	[15]    type (low 4 bits) | encoding (high 4 bits)
//	[16:)   key, then value                                 (encInline)
//	[16:20) index into the segment's large table, [20:24) key length   (encLarge)
//
// An entry whose header+key+value exceeds the largest class (32 KiB) is encLarge: its key and
// value live in one pointer-free []byte on the Go heap (key||value), referenced from the
// segment's large table and accounted by cap; the arena keeps a 24-byte stub.
//
// Chunks freed by deletes, evictions and FLUSHDB go on free lists for reuse by their class.
// Pages go back to the page allocator, MADV_DONTNEED'ed so RSS drops, when Rebalance empties
// them (rebalance.go: memory moves between classes when the size mix shifts) and when the
// whole keyspace is flushed (FLUSHALL, or FLUSHDB of the last database holding keys).

import (
	"errors"
	"sync"
	"sync/atomic"
)

const (
	pageSize   = 64 << 10
	pageUnits  = pageSize >> 3
	unitShift  = 3
	noOff      = ^uint32(0)
	hdrSize    = 16
	largeStub  = 24
	maxArena   = 1 << (30 + 5*(^uint(0)>>63)) // what uint32 offsets in 8-byte units address (1 GiB on 32-bit)
	minArena   = 64 << 20
	encInline  = 0
	encLarge   = 1
	maxClassSz = 32 << 10
)

// Size classes: 8-byte steps from 16 to 256 bytes (small entries waste at most 7 bytes),
// then steps of about 12.5% rounded to 8 up to 32 KiB. A 16-byte key with a 100-byte value
// (132 bytes with the header) takes a 136-byte chunk.
var (
	classSize  []uint32
	numClasses int
	// classByUnits[(n+7)/8] is the smallest class holding n bytes, n <= maxClassSz.
	classByUnits [maxClassSz/8 + 1]uint8
	stubClass    uint8
)

func init() {
	for s := uint32(16); s <= 256; s += 8 {
		classSize = append(classSize, s)
	}
	for s := uint32(256); s < maxClassSz; {
		s = (s + s/8 + 7) &^ 7
		if s > maxClassSz {
			s = maxClassSz
		}
		classSize = append(classSize, s)
	}
	numClasses = len(classSize)
	c := 0
	for u := range classByUnits {
		for uint32(u*8) > classSize[c] {
			c++
		}
		classByUnits[u] = uint8(c)
	}
	stubClass = classOf(largeStub)
}

// classOf returns the size class for an n-byte chunk, 0 < n <= maxClassSz.
func classOf(n int) uint8 { return classByUnits[(n+7)>>3] }

// arena is the page allocator shared by all segments of an engine. Its mutex is taken only
// when a class needs a new page or pages are returned on flush.
type arena struct {
	mu    sync.Mutex
	mem   []byte   // the reserved region
	next  uint32   // first page never handed out
	free  []uint32 // pages handed back (already MADV_DONTNEED'ed)
	taken atomic.Int64

	cls [maxNumClasses]classCarver
	// pageClass[p] is the class page p is carved into (written when carving takes the page).
	pageClass []uint8
	// pageEvac[p] marks a page being emptied by Rebalance (written under its class's mutex).
	pageEvac []bool
}

// classCarver cuts chunks of one size class from its current page, for every segment, and
// keeps the class's shared free list: chunks a segment frees beyond what it keeps for itself
// (localFree), so that memory freed in one segment serves writes in any other.
type classCarver struct {
	mu    sync.Mutex
	bump  uint32   // next uncarved chunk in the current page (8-byte units)
	end   uint32   // end of the current page (bump == end: none)
	free  uint32   // head of the shared free list, noOff if empty
	nfree int64    // chunks on the shared free list
	pages []uint32 // pages carved into this class, for flush and verification
	_     [24]byte // keep neighbouring carvers' mutexes off one cache line
}

// localFree is how many free chunks of class c a segment keeps on its own free list (about
// 1 KiB worth, at least 1: 64 segments x 50 classes keep at most a few MiB to themselves);
// the rest go to the class's shared list.
func localFree(c uint8) uint32 { return max(1, 1024/classSize[c]) }

var errArenaFull = errors.New("engine: arena region exhausted")

// init reserves the region. It asks for maxArena bytes of address space and halves on
// failure (for example with vm.overcommit_memory=2, where MAP_NORESERVE is ignored): address
// space is cheap, and a fixed region keeps offsets stable so the index never needs fixing up.
func (a *arena) init() error {
	var err error
	for size := maxArena; size >= minArena; size /= 2 {
		if a.mem, err = reserve(size); err == nil {
			a.pageClass = make([]uint8, len(a.mem)/pageSize)
			a.pageEvac = make([]bool, len(a.mem)/pageSize)
			for c := range a.cls {
				a.cls[c].free = noOff
			}
			return nil
		}
	}
	return err
}

func (a *arena) close() error {
	if a.mem == nil {
		return nil
	}
	err := release(a.mem)
	a.mem = nil
	return err
}

func (a *arena) committed() int64 { return a.taken.Load() * pageSize }

// takePage hands out one page (its number).
func (a *arena) takePage() (uint32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var p uint32
	if n := len(a.free); n > 0 {
		p = a.free[n-1]
		a.free = a.free[:n-1]
	} else {
		if uint64(a.next+1)*pageSize > uint64(len(a.mem)) {
			return 0, errArenaFull
		}
		p = a.next
		a.next++
	}
	a.taken.Add(1)
	return p, nil
}

// givePages returns pages to the allocator and their memory to the OS.
func (a *arena) givePages(pages []uint32) {
	if len(pages) == 0 {
		return
	}
	for _, p := range pages {
		off := uint64(p) * pageSize
		dontNeed(a.mem[off : off+pageSize])
	}
	a.mu.Lock()
	a.free = append(a.free, pages...)
	a.mu.Unlock()
	a.taken.Add(-int64(len(pages)))
}

// take returns a chunk of class c from the shared free list (fromFree), else carves a new
// one, taking a page when the class's current one is full. The caller accounts its size.
func (a *arena) take(c uint8) (off uint32, fromFree bool, err error) {
	k := &a.cls[c]
	units := classSize[c] >> unitShift
	k.mu.Lock()
	if off := k.free; off != noOff {
		k.free = le32(a.mem[uint64(off)<<unitShift:])
		k.nfree--
		k.mu.Unlock()
		return off, true, nil
	}
	if k.end == 0 || k.bump+units > k.end {
		p, err := a.takePage()
		if err != nil {
			k.mu.Unlock()
			return 0, false, err
		}
		k.pages = append(k.pages, p)
		a.pageClass[p] = c
		k.bump = p * pageUnits
		k.end = k.bump + pageUnits
	}
	off = k.bump
	k.bump += units
	k.mu.Unlock()
	return off, false, nil
}

// put pushes a free chunk of class c on the shared free list; a chunk of a page Rebalance is
// emptying is dropped instead (the page leaves the class whole).
func (a *arena) put(off uint32, c uint8) {
	k := &a.cls[c]
	k.mu.Lock()
	if a.pageEvac[off/pageUnits] {
		k.mu.Unlock()
		return
	}
	put32(a.mem[uint64(off)<<unitShift:], k.free)
	k.free = off
	k.nfree++
	k.mu.Unlock()
}

// carved returns how many chunks class c has carved.
func (a *arena) carved(c uint8) int64 {
	k := &a.cls[c]
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.pages) == 0 {
		return 0
	}
	units := classSize[c] >> unitShift
	return int64(len(k.pages)-1)*int64(pageUnits/units) + int64((k.bump-(k.end-pageUnits))/units)
}

// resetClasses forgets every carved chunk and returns all carved pages, for the caller to
// give back once no segment lock is held. Every segment lock must be held and every segment
// emptied, free lists included: no chunk may be referenced afterwards.
func (a *arena) resetClasses() []uint32 {
	var pages []uint32
	for c := 0; c < numClasses; c++ {
		k := &a.cls[c]
		k.mu.Lock()
		pages = append(pages, k.pages...)
		k.pages, k.bump, k.end, k.free, k.nfree = nil, 0, 0, noOff, 0
		k.mu.Unlock()
	}
	return pages
}

// classState is one segment's free list for one size class. Offsets are in 8-byte units.
type classState struct {
	free  uint32 // head of the intrusive free list, noOff if empty
	nfree uint32
}

// allocChunk returns a chunk of class c. The caller accounts its size.
func (s *segment) allocChunk(c uint8) (uint32, error) {
	cs := &s.cls[c]
	if off := cs.free; off != noOff {
		b := uint64(off) << unitShift
		cs.free = le32(s.mem[b:])
		cs.nfree--
		if invariants {
			s.checkChunk(off, c, true)
		}
		return off, nil
	}
	off, fromFree, err := s.e.arena.take(c)
	if err != nil {
		return 0, ErrOOM
	}
	if invariants && fromFree {
		s.checkChunk(off, c, true)
	}
	return off, nil
}

// freeChunk pushes a chunk of class c on its free list.
func (s *segment) freeChunk(off uint32, c uint8) {
	cs := &s.cls[c]
	b := uint64(off) << unitShift
	if invariants {
		s.checkChunk(off, c, false)
		// Poison the rest, so a use after free shows up as a corrupt key in Verify.
		sz := uint64(classSize[c])
		for i := b + 4; i < b+sz; i++ {
			s.mem[i] = 0xdb
		}
	}
	if cs.nfree >= localFree(c) {
		s.e.arena.put(off, c)
		return
	}
	put32(s.mem[b:], cs.free)
	cs.free = off
	cs.nfree++
}

func le32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func put32(b []byte, v uint32) {
	_ = b[3]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// checkChunk panics unless off is a chunk boundary of class c in a page carved into class c,
// and (for a chunk coming off the free list) still poisoned. Invariants builds only.
func (s *segment) checkChunk(off uint32, c uint8, fromFree bool) {
	page := off / pageUnits
	if pc := s.e.arena.pageClass[page]; pc != c {
		panic("engine invariant: chunk of class " + itoa(int(classSize[c])) + " in a page of class " + itoa(int(classSize[pc])))
	}
	if (off-page*pageUnits)%(classSize[c]>>unitShift) != 0 {
		panic("engine invariant: misaligned chunk")
	}
	if fromFree {
		b := uint64(off)<<unitShift + 4
		for i := b; i < b+uint64(classSize[c])-4; i++ {
			if s.mem[i] != 0xdb {
				panic("engine invariant: free chunk written after free")
			}
		}
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}
