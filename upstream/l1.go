package upstream

import (
	"sync"
	"sync/atomic"

	"github.com/sidecache/sidecache/engine"
)

// The L1 is the engine's keyspace: upstream database n is cached in engine database n.
// Every L1 string entry starts with a tag byte saying what the L1 knows about the key;
// hashes are engine hashes, as they are upstream.
//
//	engine entry            meaning                                       answers
//	string 'v' + bytes      a string holding bytes                        GET STRLEN GETRANGE MGET EXISTS; hash reads: WRONGTYPE
//	string 'n'              the key does not exist                        every cached read (nil, 0, empty)
//	string 'w'              another type than string (GET: WRONGTYPE)     string reads: WRONGTYPE, MGET nil, EXISTS 1
//	string 'e'              the key exists, type unknown (EXISTS, PTTL)   EXISTS 1
//	string 'b'              a hash too large to cache                     string reads: WRONGTYPE, EXISTS 1; hash reads pass through
//	hash                    the whole hash                                hash reads, EXISTS 1; string reads: WRONGTYPE
//
// Why a tag rather than a second range of databases for "absent": one lookup answers every
// read (a separate range needs two for a key that is not cached), absent and wrong-type
// entries are evicted and expire like the rest, and nothing collides: no app command reads
// these bytes raw — in upstream mode every read of the keyspace goes through this package,
// which strips the tag. The byte costs one byte per entry.
const (
	tagValue     = 'v'
	tagAbsent    = 'n'
	tagNotString = 'w'
	tagExists    = 'e'
	tagBigHash   = 'b'
	// tagHash stands for an engine hash in results; it is never stored as a tag.
	tagHash = 'h'
)

// Coherence. Three things can make a fetched reply stale by the time it would be stored:
// an invalidation of the key (upstream push, or a write through this sidecar), a flush
// (null push, FLUSHALL through this sidecar), or the loss of the connection that was to
// carry the key's invalidation. So a fetch snapshots, before its request is sent, the
// key's generation and the L1 epoch; the store happens only if neither moved:
//
//	fetch:        gen0, epoch0 := snapshot      ... send, reply ...   flushMu.R  stripe.Lock
//	                                                                  gen == gen0 && epoch == epoch0 ? store
//	invalidate:   stripe.Lock  gen++  stripe.Unlock   then delete the key in every database
//	flush:        flushMu.Lock  epoch++  engine.FlushAll  flushMu.Unlock
//
// An invalidation either comes before the check (the store is refused) or after the store
// (its delete removes the entry); the stripe lock makes the check and the store one step
// for it. A flush holds flushMu for its whole length, so no store straddles it. Generations
// are per stripe of key hashes, not per key: two keys sharing a stripe only cost a refused
// store, never a stale one. In a cluster the snapshot also holds the epoch of the key's
// slot, checked under the same locks; dropping a slot bumps it under flushMu (slots.go).

const nStripes = 4096 // power of two

type stripe struct {
	mu  sync.Mutex
	gen atomic.Uint64
	_   [48]byte // one stripe per cache line
}

type l1 struct {
	eng *engine.Engine
	// flushMu is held shared by every write to the engine made off the event loops
	// (stores, invalidations) and exclusively by a flush and by close.
	flushMu sync.RWMutex
	closed  bool // under flushMu: the engine may be closed, touch it no more
	epoch   atomic.Uint64
	stripes [nStripes]stripe
	// slots, in a cluster, are the per-slot epochs and drains (slots.go); nil otherwise.
	// Set before the first fetch, never changed.
	slots *slotEpochs
}

// snap is what a fetch remembers of a key before its request leaves.
type snap struct {
	epoch, gen uint64
	slot       uint16 // the key's cluster slot, and its epoch (slots.go); 0 without slots
	slotEpoch  uint32
}

func (l *l1) stripeOf(key []byte) *stripe { return &l.stripes[fnv32(key)&(nStripes-1)] }

func (l *l1) snapshot(key []byte) snap {
	s := snap{epoch: l.epoch.Load(), gen: l.stripeOf(key).gen.Load()}
	if l.slots != nil {
		s.slot = keySlot(key)
		s.slotEpoch = l.slots.epoch[s.slot].Load()
	}
	return s
}

// slotFresh reports whether s's slot was not dropped since s was taken.
func (l *l1) slotFresh(s snap) bool {
	return l.slots == nil || l.slots.epoch[s.slot].Load() == s.slotEpoch
}

// fresh reports whether nothing invalidated key since s was taken (a hint: storing needs
// the locks of storeFn).
func (l *l1) fresh(key []byte, s snap) bool {
	return l.epoch.Load() == s.epoch && l.stripeOf(key).gen.Load() == s.gen && l.slotFresh(s)
}

// store runs put if nothing invalidated key since s, atomically with respect to
// invalidations and flushes; it reports whether put ran.
func (l *l1) store(key []byte, s snap, put func()) bool {
	l.flushMu.RLock()
	defer l.flushMu.RUnlock()
	st := l.stripeOf(key)
	st.mu.Lock()
	defer st.mu.Unlock()
	if l.closed || l.epoch.Load() != s.epoch || st.gen.Load() != s.gen || !l.slotFresh(s) {
		return false
	}
	put()
	return true
}

// invalidate drops key from every database and refuses the stores of fetches in flight.
func (l *l1) invalidate(key []byte, now int64) {
	st := l.stripeOf(key)
	st.mu.Lock()
	st.gen.Add(1)
	st.mu.Unlock()
	l.flushMu.RLock()
	defer l.flushMu.RUnlock()
	if l.closed {
		return
	}
	for i := 0; i < l.eng.NumDBs(); i++ {
		l.eng.DB(i).Delete(key, now)
	}
}

// flush empties the L1 and refuses the stores of every fetch in flight.
func (l *l1) flush() {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.epoch.Add(1)
	if !l.closed {
		l.eng.FlushAll()
	}
}

// close makes every later store, invalidation and flush leave the engine alone.
func (l *l1) close() {
	l.flushMu.Lock()
	l.closed = true
	l.epoch.Add(1)
	l.flushMu.Unlock()
}

// fnv32 is FNV-1a: the stripe only needs a spread, not the engine's hash.
func fnv32(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}
