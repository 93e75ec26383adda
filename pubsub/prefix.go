package pubsub

import (
	"bytes"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sidecache/sidecache/protocol"
)

// BCAST mode (Redis's PrefixTable): a client subscribes to key prefixes ("" is every key)
// and hears of every change of a matching key, read by it or not. Changed keys gather per
// prefix and go out together, one message per prefix with the keys sorted and without
// repeats, as Redis sends them from beforeSleep. Here a batch ends with the command that
// made the changes (FlushBcast, from the command layer), and at once for an expiry or an
// eviction, which no command end follows. Commands of several event loops may share a
// batch; a batch never waits for a later command.
//
// Each pending key remembers which NOLOOP subscriber changed it, if one did (Redis keeps the
// last writing client), so that subscriber's copy of the message leaves it out.
type prefixTable struct {
	mu    sync.Mutex
	list  []*bcastPrefix // sorted by prefix
	n     atomic.Int32   // len(list): the lock-free "any prefix?"
	dirty atomic.Bool    // some prefix holds keys not sent yet

	order []int32 // scratch for sorting a prefix's keys; under mu
	proto []byte  // scratch for the key array; under mu
	own   []byte  // the same for a NOLOOP subscriber; under mu
}

type bcastPrefix struct {
	prefix string
	subs   []*TrackingClient
	kb     []byte       // bytes of the pending keys
	pend   []pendingKey // keys changed since the last flush, in change order
}

type pendingKey struct {
	off, n uint32
	by     int64 // id of the NOLOOP subscriber that changed the key; 0 none
}

// keepPending is the largest pending-key buffer kept after a flush.
const keepPending = 64 << 10

func (pt *prefixTable) find(prefix []byte) (int, bool) {
	return slices.BinarySearchFunc(pt.list, prefix, func(p *bcastPrefix, t []byte) int {
		return strings.Compare(p.prefix, string(t))
	})
}

// subscribe adds tc to prefix (Redis's enableBcastTrackingForPrefix); nothing if it is
// subscribed already.
func (pt *prefixTable) subscribe(tc *TrackingClient, prefix []byte) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	i, ok := pt.find(prefix)
	if !ok {
		pt.list = slices.Insert(pt.list, i, &bcastPrefix{prefix: string(prefix)})
		pt.n.Store(int32(len(pt.list)))
	}
	bp := pt.list[i]
	if slices.Contains(bp.subs, tc) {
		return
	}
	bp.subs = append(bp.subs, tc)
	tc.mu.Lock()
	j, _ := slices.BinarySearch(tc.prefixes, bp.prefix)
	tc.prefixes = slices.Insert(tc.prefixes, j, bp.prefix)
	tc.mu.Unlock()
}

// unsubscribeAll removes tc from all its prefixes; a prefix left without subscribers goes,
// with its pending keys.
func (pt *prefixTable) unsubscribeAll(tc *TrackingClient) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	tc.mu.Lock()
	prefixes := tc.prefixes
	tc.prefixes = nil
	tc.mu.Unlock()
	for _, p := range prefixes {
		i, ok := pt.find([]byte(p))
		if !ok {
			continue
		}
		bp := pt.list[i]
		if j := slices.Index(bp.subs, tc); j >= 0 {
			bp.subs = slices.Delete(bp.subs, j, j+1)
		}
		if len(bp.subs) == 0 {
			pt.list = slices.Delete(pt.list, i, i+1)
		}
	}
	pt.n.Store(int32(len(pt.list)))
}

// note records a change of key for every prefix it matches (Redis's
// trackingRememberKeyToBroadcast); an expiry or an eviction is sent at once, queued only
// (the caller holds an engine lock: Invalidate).
func (pt *prefixTable) note(t *Tracker, key []byte, cause Cause) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	matched := false
	for _, bp := range pt.list {
		if !bytes.HasPrefix(key, []byte(bp.prefix)) {
			continue
		}
		matched = true
		var by int64
		for _, tc := range bp.subs {
			if tc.flags.Load()&TrackNoLoop != 0 && tc.modifies(key, cause) {
				by = tc.id
				break
			}
		}
		bp.pend = append(bp.pend, pendingKey{off: uint32(len(bp.kb)), n: uint32(len(key)), by: by})
		bp.kb = append(bp.kb, key...)
	}
	if !matched {
		return
	}
	pt.dirty.Store(true)
	if cause != CauseWrite {
		pt.flushLocked(t, true)
	}
}

// FlushBcast sends the BCAST invalidations gathered since the last flush (Redis's
// trackingBroadcastInvalidationMessages). The command layer calls it when a command that
// may write ends, holding no engine lock (the messages wake their clients); it costs one
// atomic load when nothing is pending.
func (t *Tracker) FlushBcast() {
	pt := &t.bcast
	if !pt.dirty.Load() {
		return
	}
	pt.mu.Lock()
	pt.flushLocked(t, false)
	pt.mu.Unlock()
}

// flushLocked sends every prefix's pending keys to its subscribers: one array of the keys,
// sorted, each once, and for a NOLOOP subscriber the same without the keys it changed last
// (nothing when none is left). queue: the caller holds an engine lock (Tracker.send).
func (pt *prefixTable) flushLocked(t *Tracker, queue bool) {
	pt.dirty.Store(false)
	for _, bp := range pt.list {
		if len(bp.pend) == 0 {
			continue
		}
		pt.order = pt.order[:0]
		for i := range bp.pend {
			pt.order = append(pt.order, int32(i))
		}
		key := func(i int32) []byte { p := bp.pend[i]; return bp.kb[p.off : p.off+p.n] }
		slices.SortStableFunc(pt.order, func(a, b int32) int { return bytes.Compare(key(a), key(b)) })
		// Keep the last change of each key: it names the client that changed it last.
		w := 0
		for i, o := range pt.order {
			if i+1 < len(pt.order) && bytes.Equal(key(o), key(pt.order[i+1])) {
				continue
			}
			pt.order[w] = o
			w++
		}
		pt.order = pt.order[:w]
		pt.proto = pt.appendKeys(pt.proto[:0], bp, 0)
		for _, tc := range bp.subs {
			if tc.flags.Load()&TrackNoLoop == 0 {
				t.send(tc, nil, pt.proto, queue)
				continue
			}
			if pt.own = pt.appendKeys(pt.own[:0], bp, tc.id); len(pt.own) > 0 {
				t.send(tc, nil, pt.own, queue)
			}
		}
		bp.pend = bp.pend[:0]
		bp.kb = bp.kb[:0]
		if cap(bp.kb) > keepPending {
			bp.kb, bp.pend = nil, nil
		}
	}
	if cap(pt.proto) > keepPending || cap(pt.own) > keepPending {
		pt.proto, pt.own = nil, nil
	}
}

// appendKeys appends the array of bp's sorted pending keys (pt.order), leaving out those
// changed last by client skip (0: none); nothing when that leaves none.
func (pt *prefixTable) appendKeys(dst []byte, bp *bcastPrefix, skip int64) []byte {
	n := 0
	for _, o := range pt.order {
		if skip == 0 || bp.pend[o].by != skip {
			n++
		}
	}
	if n == 0 {
		return dst
	}
	dst = protocol.AppendArrayLen(dst, n)
	for _, o := range pt.order {
		if p := bp.pend[o]; skip == 0 || p.by != skip {
			dst = protocol.AppendBulk(dst, bp.kb[p.off:p.off+p.n])
		}
	}
	return dst
}
