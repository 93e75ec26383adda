package upstream

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidecache/sidecache/engine"
)

// Per-slot coherence of a cluster upstream. A cluster's keys are vouched for per node, and
// a node owns slots: when a node's connection ends or a slot changes primary (cluster.go,
// nodeconn.go), only the entries of those slots lose their invalidations. So besides the L1
// epoch of l1.go, every slot has one:
//
//	slot s:  epoch[s]   bumped when s's entries may have lost their invalidations
//	         drain bit  set with the bump; cleared once a scan of every database has
//	                    deleted the entries of s that were stored before the bump
//
//	fetch:   slot epoch e0 in the snapshot ...           flushMu.R  stripe.Lock  epoch[s] == e0 ? store
//	drop:    flushMu.Lock  epoch[s]++  drain bit on  flushMu.Unlock   then the drain's scan
//	hit:     draining == 0 ? answer from L1 : (drain bit of s ? miss : answer from L1)
//
// A drop holds flushMu exclusively, so a store either ended before it — its entry is in the
// engine when the drain's scan starts, which deletes it — or checks after it and is
// refused. While s drains, no read of a key of s is answered from L1: it goes to the
// upstream, and its store is kept unless the scan deletes it (a miss, never a stale read).
// The hit path pays one atomic load while no slot drains, which is nearly always.
//
// Why a scan rather than an epoch in each entry, checked on read: hashes are engine hashes,
// whose blob has no room for one (not without changing the engine's format), and strings
// alone would leave hashes needing the scan anyway; nor does a scan cost the entries a
// byte. A scan visits every key of the L1 once per round, computing its slot; drops that
// arrive during a round wait for the next one, so a resharding that moves slot after slot
// costs back-to-back scans, not one per slot.
type slotEpochs struct {
	epoch    [clusterSlots]atomic.Uint32
	draining atomic.Int32                     // slots whose drain bit is set
	bits     [clusterSlots / 64]atomic.Uint64 // drain bits

	mu      sync.Mutex
	pending slotSet // under mu: dropped since the running round took its set
	running bool    // under mu: the drain goroutine runs
}

// slotSet is a set of cluster slots.
type slotSet [clusterSlots / 64]uint64

func (s *slotSet) add(slot int)         { s[slot>>6] |= 1 << (slot & 63) }
func (s *slotSet) has(slot uint16) bool { return s[slot>>6]&(1<<(slot&63)) != 0 }
func (s *slotSet) addRange(lo, hi int64) {
	for x := max(lo, 0); x <= min(hi, clusterSlots-1); x++ {
		s.add(int(x))
	}
}

func (s *slotSet) count() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// drainingAny reports whether some key of keys is in a slot being drained. It allocates
// nothing: it runs on the hit path.
func (e *slotEpochs) drainingAny(keys [][]byte) bool {
	if e == nil || e.draining.Load() == 0 {
		return false
	}
	for _, k := range keys {
		if e.drainBit(k) {
			return true
		}
	}
	return false
}

// drainingKey is drainingAny for one key.
func (e *slotEpochs) drainingKey(key []byte) bool {
	return e != nil && e.draining.Load() != 0 && e.drainBit(key)
}

func (e *slotEpochs) drainBit(key []byte) bool {
	s := keySlot(key)
	return e.bits[s>>6].Load()&(1<<(s&63)) != 0
}

// dropSlots makes the L1 forget what it holds of the slots in set: their fetches in flight
// store nothing, their reads miss until the drain has deleted their entries. It returns
// the number of slots in set.
func (l *l1) dropSlots(set *slotSet) int {
	e := l.slots
	n := set.count()
	if n == 0 {
		return 0
	}
	l.flushMu.Lock()
	e.mu.Lock()
	for w, word := range set {
		for word != 0 {
			b := word & -word
			word &^= b
			s := w<<6 | bits.TrailingZeros64(b)
			e.epoch[s].Add(1)
			if e.bits[w].Load()&b == 0 {
				e.bits[w].Or(b)
				e.draining.Add(1)
			}
		}
		e.pending[w] |= set[w]
	}
	start := !e.running && !l.closed
	e.running = e.running || start
	e.mu.Unlock()
	l.flushMu.Unlock()
	if start {
		go l.drain()
	}
	return n
}

// beforeDrain, set by tests only, runs at the start of each drain round: a test holds the
// round there to read while a slot drains.
var beforeDrain atomic.Pointer[func()]

// drain runs rounds until no slot is pending: each takes the pending set, deletes the
// entries of its slots in every database, and clears the drain bits of those not dropped
// again meanwhile.
func (l *l1) drain() {
	e := l.slots
	var keys []byte // the keys of one scan step, back to back
	var lens []int  // their lengths
	for {
		e.mu.Lock()
		cur := e.pending
		e.pending = slotSet{}
		if cur.count() == 0 {
			e.running = false
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		if h := beforeDrain.Load(); h != nil {
			(*h)()
		}
		if !l.deleteSlots(&cur, &keys, &lens) {
			e.mu.Lock()
			e.running = false // closed: nothing reads the L1 any more
			e.mu.Unlock()
			return
		}
		e.mu.Lock()
		for w := range cur {
			done := cur[w] &^ e.pending[w]
			for done != 0 {
				b := done & -done
				done &^= b
				e.bits[w].And(^b)
				e.draining.Add(-1)
			}
		}
		e.mu.Unlock()
	}
}

// drainStep is how many keys a scan step visits: the segment lock is held that long.
const drainStep = 256

// deleteSlots deletes every entry of the slots in set from every database; false when the
// L1 was closed meanwhile. keys and lens are its buffers, kept across rounds.
func (l *l1) deleteSlots(set *slotSet, keys *[]byte, lens *[]int) bool {
	collect := func(key []byte, _ engine.Type) {
		if set.has(keySlot(key)) {
			*keys = append(*keys, key...)
			*lens = append(*lens, len(key))
		}
	}
	for i := 0; i < l.eng.NumDBs(); i++ {
		// Scan touches no key, so one view serves the scan and the deletes.
		d := l.eng.DB(i)
		for cursor := uint64(0); ; {
			*keys, *lens = (*keys)[:0], (*lens)[:0]
			now := time.Now().UnixMilli()
			l.flushMu.RLock()
			if l.closed {
				l.flushMu.RUnlock()
				return false
			}
			cursor = d.Scan(cursor, drainStep, now, collect)
			for off, n := 0, 0; n < len(*lens); n++ {
				k := (*keys)[off : off+(*lens)[n]]
				off += len(k)
				d.Delete(k, now)
			}
			l.flushMu.RUnlock()
			if cursor == 0 {
				break
			}
		}
	}
	return true
}
