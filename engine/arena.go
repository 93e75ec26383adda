package engine

// The arena: off-heap memory for entries.
//
//	reserved region (one mmap, MAP_NORESERVE; see arena_linux.go)
//	┌────────┬────────┬────────┬────────┬─── ─ ─ ───────────────┐
//	│ page 0 │ page 1 │ page 2 │ page 3 │  not yet taken ...      │
//	└────────┴────────┴────────┴────────┴─── ─ ─ ───────────────┘
//	  64 KiB pages, taken by one segment for one size class each:
//	┌──────┬──────┬──────┬──────┬─────────────┐
//	│chunk │chunk │ free │chunk │ never carved│   free chunk: first 4 bytes = next free
//	└──────┴──────┴──────┴──────┴─────────────┘   offset (8-byte units), noOff ends the list
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
// Pages go back to the page allocator only when a segment is flushed (FLUSHDB/FLUSHALL);
// they are MADV_DONTNEED'ed there, so RSS drops. Chunks freed by deletes stay on their
// segment's free lists for reuse.

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
// when a segment needs a new page or returns pages on flush.
type arena struct {
	mu    sync.Mutex
	mem   []byte   // the reserved region
	next  uint32   // first page never handed out
	free  []uint32 // pages handed back (already MADV_DONTNEED'ed)
	taken atomic.Int64
}

var errArenaFull = errors.New("engine: arena region exhausted")

// init reserves the region. It asks for maxArena bytes of address space and halves on
// failure (for example with vm.overcommit_memory=2, where MAP_NORESERVE is ignored): address
// space is cheap, and a fixed region keeps offsets stable so the index never needs fixing up.
func (a *arena) init() error {
	var err error
	for size := maxArena; size >= minArena; size /= 2 {
		if a.mem, err = reserve(size); err == nil {
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
func (a *arena) givePages(pages []pageRef) {
	if len(pages) == 0 {
		return
	}
	for _, p := range pages {
		off := uint64(p.page) * pageSize
		dontNeed(a.mem[off : off+pageSize])
	}
	a.mu.Lock()
	for _, p := range pages {
		a.free = append(a.free, p.page)
	}
	a.mu.Unlock()
	a.taken.Add(-int64(len(pages)))
}

// pageRef records a page a segment owns and the class it is carved into.
type pageRef struct {
	page  uint32
	class uint8
}

// classState is one segment's allocator for one size class: a free list of chunks and the
// uncarved rest of the last page taken. All offsets are in 8-byte units.
type classState struct {
	free  uint32 // head of the intrusive free list, noOff if empty
	bump  uint32 // next uncarved chunk in the current page
	end   uint32 // end of the current page (bump == end: none)
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
	units := classSize[c] >> unitShift
	if cs.bump+units > cs.end || cs.end == 0 {
		p, err := s.e.arena.takePage()
		if err != nil {
			return 0, ErrOOM
		}
		s.pages = append(s.pages, pageRef{page: p, class: c})
		cs.bump = p * pageUnits
		cs.end = cs.bump + pageUnits
	}
	off := cs.bump
	cs.bump += units
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

// checkChunk panics unless off is a chunk boundary of class c in a page this segment owns,
// and (for a chunk coming off the free list) still poisoned. Invariants builds only: it is
// linear in the segment's pages.
func (s *segment) checkChunk(off uint32, c uint8, fromFree bool) {
	page := off / pageUnits
	for _, p := range s.pages {
		if p.page != page {
			continue
		}
		if p.class != c {
			panic("engine invariant: chunk of class " + itoa(int(classSize[c])) + " in a page of class " + itoa(int(classSize[p.class])))
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
		return
	}
	panic("engine invariant: chunk in a page the segment does not own")
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
