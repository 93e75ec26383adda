package pubsub

import (
	"bytes"
	"math/rand/v2"
	"sync"
)

// trackTable is one shard of the tracking table: keys, each with the ids of the clients
// that may cache it. Nothing in it is a Go pointer (but the slices themselves), so the GC
// does not scan its contents:
//
//	index: map[hash]int32 ───► ents[i] {hash, off, klen, next, head}
//	                              │        │              │     └──► nodes[j] {id, next} ──► nodes[k] ...
//	                              │        └──► kb[off:off+klen]   key bytes
//	                              └── next: the next entry with the same hash (a chain, rare)
//
// A free entry has head == -1 and next links the free list; a free node is linked by next
// too. Removed keys leave garbage in kb (dead bytes); the shard is rebuilt, dense, when
// garbage or free entries make up most of it, so its memory follows what it holds.
type trackTable struct {
	mu    sync.Mutex
	index map[uint64]int32
	ents  []trackEntry
	nodes []idNode
	kb    []byte

	freeEnt, freeNode int32
	live              int // entries in use
	items             int // nodes in use
	dead              int // bytes of kb no entry uses
	_                 [40]byte
}

type trackEntry struct {
	hash      uint64
	off, klen uint32
	next      int32
	head      int32
}

type idNode struct {
	id   int64
	next int32
}

// Rebuild thresholds: a shard is compacted when more than half its key bytes are dead
// (beyond deadMin) or more than three quarters of its entries are free (beyond entsMin).
const (
	deadMin = 64 << 10
	entsMin = 256
)

func (tb *trackTable) reset() {
	tb.index = map[uint64]int32{}
	tb.ents, tb.nodes, tb.kb = nil, nil, nil
	tb.freeEnt, tb.freeNode = -1, -1
	tb.live, tb.items, tb.dead = 0, 0, 0
}

// empty makes the shard empty again, keeping its memory unless it grew large: keys that are
// tracked and invalidated one at a time allocate nothing.
func (tb *trackTable) empty() {
	if cap(tb.kb) > deadMin || cap(tb.ents) > entsMin {
		tb.reset()
		return
	}
	clear(tb.index)
	tb.ents, tb.nodes, tb.kb = tb.ents[:0], tb.nodes[:0], tb.kb[:0]
	tb.freeEnt, tb.freeNode = -1, -1
	tb.live, tb.items, tb.dead = 0, 0, 0
}

func (tb *trackTable) keyOf(e int32) []byte {
	en := &tb.ents[e]
	return tb.kb[en.off : en.off+en.klen]
}

// find returns the entry of key (hash h), or -1.
func (tb *trackTable) find(h uint64, key []byte) int32 {
	e, ok := tb.index[h]
	if !ok {
		return -1
	}
	for ; e >= 0; e = tb.ents[e].next {
		if en := &tb.ents[e]; en.hash == h && bytes.Equal(tb.kb[en.off:en.off+en.klen], key) {
			return e
		}
	}
	return -1
}

// add records id for key (hash h), reporting whether the key and the (key, id) pair are
// new.
func (tb *trackTable) add(h uint64, key []byte, id int64) (newKey, newItem bool) {
	e := tb.find(h, key)
	if e < 0 {
		newKey = true
		if tb.freeEnt >= 0 {
			e = tb.freeEnt
			tb.freeEnt = tb.ents[e].next
		} else {
			tb.ents = append(tb.ents, trackEntry{})
			e = int32(len(tb.ents) - 1)
		}
		next := int32(-1)
		if first, ok := tb.index[h]; ok {
			next = first
		}
		tb.ents[e] = trackEntry{hash: h, off: uint32(len(tb.kb)), klen: uint32(len(key)), next: next, head: -1}
		tb.kb = append(tb.kb, key...)
		tb.index[h] = e
		tb.live++
	}
	for n := tb.ents[e].head; n >= 0; n = tb.nodes[n].next {
		if tb.nodes[n].id == id {
			return newKey, false
		}
	}
	var n int32
	if tb.freeNode >= 0 {
		n = tb.freeNode
		tb.freeNode = tb.nodes[n].next
	} else {
		tb.nodes = append(tb.nodes, idNode{})
		n = int32(len(tb.nodes) - 1)
	}
	tb.nodes[n] = idNode{id: id, next: tb.ents[e].head}
	tb.ents[e].head = n
	tb.items++
	return newKey, true
}

// remove drops entry e, appending its client ids to dst; it returns them and their number.
func (tb *trackTable) remove(e int32, dst []int64) ([]int64, int) {
	en := &tb.ents[e]
	cnt := 0
	for n := en.head; n >= 0; {
		nd := &tb.nodes[n]
		dst = append(dst, nd.id)
		next := nd.next
		nd.next = tb.freeNode
		tb.freeNode = n
		n = next
		cnt++
	}
	// Unlink from the hash chain.
	if first := tb.index[en.hash]; first == e {
		if en.next >= 0 {
			tb.index[en.hash] = en.next
		} else {
			delete(tb.index, en.hash)
		}
	} else {
		for p := first; p >= 0; p = tb.ents[p].next {
			if tb.ents[p].next == e {
				tb.ents[p].next = en.next
				break
			}
		}
	}
	tb.dead += int(en.klen)
	*en = trackEntry{next: tb.freeEnt, head: -1}
	tb.freeEnt = e
	tb.live--
	tb.items -= cnt
	if tb.live == 0 {
		tb.empty()
	} else if tb.dead > deadMin && tb.dead*2 > len(tb.kb) || len(tb.ents) > entsMin && tb.live*4 < len(tb.ents) {
		tb.rebuild()
	}
	return dst, cnt
}

// randomEntry returns an entry in use, picked at random; the shard must hold one. Free
// entries are at most three quarters of the shard (rebuild), so the scan is short.
func (tb *trackTable) randomEntry() int32 {
	n := len(tb.ents)
	start := rand.IntN(n)
	for i := range n {
		if e := (start + i) % n; tb.ents[e].head >= 0 {
			return int32(e)
		}
	}
	return -1
}

// rebuild copies the entries in use into dense new slices.
func (tb *trackTable) rebuild() {
	ents, nodes, kb := tb.ents, tb.nodes, tb.kb
	tb.index = make(map[uint64]int32, tb.live)
	tb.ents = make([]trackEntry, 0, tb.live)
	tb.nodes = make([]idNode, 0, tb.items)
	tb.kb = make([]byte, 0, len(kb)-tb.dead)
	tb.freeEnt, tb.freeNode = -1, -1
	tb.live, tb.items, tb.dead = 0, 0, 0
	for i := range ents {
		oe := &ents[i]
		if oe.head < 0 {
			continue
		}
		key := kb[oe.off : oe.off+oe.klen]
		// The order of a key's ids carries no meaning (add reverses it).
		for n := oe.head; n >= 0; n = nodes[n].next {
			tb.add(oe.hash, key, nodes[n].id)
		}
	}
}
