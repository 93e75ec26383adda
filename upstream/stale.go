package upstream

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidecache/sidecache/engine"
)

// Serving stale (upstream-serve-stale N, seconds; 0, the default, is off). Off, a lost
// upstream connection flushes L1 (doc.go). On, the loss puts L1 on hold instead:
//
//	coherent ──(connection lost: rueidis's nil)──► held: entries kept, fetches in flight refused
//	held ──(any answer from the upstream)──► flush, coherent          (cause stale_recovered)
//	held ──(N seconds after the loss)──────► flush, coherent          (cause stale_expired)
//
// While held, no read is answered from L1 as if it were coherent: a cached read goes to the
// upstream, and only when the upstream is known to be unreachable does L1 answer it. Known
// unreachable is: the breaker of the node is open (the read does not even try), or the
// read's own fetch failed (refused, reset, timed out: not an error reply). Any answer from
// the upstream — the tracking connection is back, rueidis re-enables tracking on it before
// it carries anything — flushes L1 before the state returns to coherent, so no read served
// after the return sees an entry from before the loss. With the breaker open, the return
// is noticed by the first probe after the cool-down: entries may be served stale for up to
// upstream-breaker-cooldown after the upstream is back, never past the N seconds.
//
// rueidis reports a null invalidation push (FLUSHALL or FLUSHDB upstream) exactly as a lost
// connection, so with serve-stale on a FLUSHALL upstream also puts L1 on hold: the next read
// goes to the upstream, finds it answering and flushes. Nothing is served from L1 in
// between, so the FLUSHALL is not missed. App clients tracking keys through the sidecar are
// told to flush when L1 goes on hold, and again when it is flushed.
//
// In a cluster, with serve-stale on, a lost connection holds the whole L1 as above, not
// only its node's slots (nodeconn.go drops nothing then): a hold per node would need a
// window per node. Slot map changes drop the moved slots either way, and no read of a
// slot being drained is answered from a held L1.

// staleState is the hold. until is read on the hit path (one atomic load); the rest changes
// under mu.
type staleState struct {
	window atomic.Int64 // upstream-serve-stale, ms; 0: off
	until  atomic.Int64 // unix ms: while held, the end of the window; 0: coherent
	mu     sync.Mutex
	since  int64       // under mu: unix ms of the loss that started the hold
	timer  *time.Timer // under mu: ends the hold at until
	gen    uint64      // under mu: holds so far; a timer ends only its own
}

// SetServeStale changes upstream-serve-stale; a hold in progress keeps its window.
func (u *Upstream) SetServeStale(d time.Duration) { u.stale.window.Store(d.Milliseconds()) }

// StaleHold reports whether L1 is on hold after a lost connection, and for how much longer.
func (u *Upstream) StaleHold() (held bool, left time.Duration) {
	until := u.stale.until.Load()
	if until == 0 {
		return false, 0
	}
	return true, max(0, time.Duration(until-time.Now().UnixMilli())*time.Millisecond)
}

// connectionLost is rueidis's report that a connection ended or that the upstream sent a
// null push: the invalidations the connection would have carried are lost.
func (u *Upstream) connectionLost() {
	w := u.stale.window.Load()
	if w <= 0 {
		u.flush(FlushUpstream)
		return
	}
	if u.ctx.Err() != nil {
		return // Close closed the connections: no hold, no timer after it
	}
	u.hold(w)
}

// hold puts L1 on hold for window ms from now, unless it already is: the window counts from
// the first loss.
func (u *Upstream) hold(window int64) {
	s := &u.stale
	s.mu.Lock()
	// The fetches in flight read on a connection whose invalidations may be lost.
	u.l1.refuseInFlight()
	started := s.until.Load() == 0
	if started {
		now := time.Now().UnixMilli()
		s.since = now
		s.gen++
		gen := s.gen
		s.until.Store(now + window)
		s.timer = time.AfterFunc(time.Duration(window)*time.Millisecond, func() { u.endHold(gen) })
	}
	s.mu.Unlock()
	if f := u.opt.OnFlush; f != nil {
		f()
	}
	if started {
		u.log.Warn("upstream connection lost (or a null push: FLUSHALL upstream): L1 kept, served only while the upstream is unreachable",
			"serve_stale", time.Duration(window)*time.Millisecond)
	}
}

// endHold drops the held entries when hold number gen reaches the end of its window.
func (u *Upstream) endHold(gen uint64) {
	s := &u.stale
	s.mu.Lock()
	if s.gen != gen || s.until.Load() == 0 || u.ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	// Flushed before the state says coherent: no read may see held entries as coherent.
	u.flush(FlushExpiry)
	s.until.Store(0)
	held := time.Duration(time.Now().UnixMilli()-s.since) * time.Millisecond
	s.mu.Unlock()
	u.log.Warn("upstream still unreachable at the end of upstream-serve-stale: stale L1 entries dropped", "held_for", held)
}

// upstreamAnswered is called after every answer from the upstream: a hold ends, its entries
// flushed.
func (u *Upstream) upstreamAnswered() {
	s := &u.stale
	if s.until.Load() == 0 {
		return
	}
	s.mu.Lock()
	if s.until.Load() == 0 {
		s.mu.Unlock()
		return
	}
	u.flush(FlushReturn)
	s.until.Store(0)
	s.gen++
	s.timer.Stop()
	held := time.Duration(time.Now().UnixMilli()-s.since) * time.Millisecond
	s.mu.Unlock()
	u.log.Info("upstream answers again: stale L1 entries dropped, L1 coherent", "held_for", held)
}

// staleHit reports whether a held L1 may answer a hit on key at now (ms): within the
// window, and the breaker of key's node open, so the upstream is not even tried.
func (u *Upstream) staleHit(now, until int64, key []byte) bool {
	return now < until && u.breakerFor(key).rejecting(now*int64(time.Millisecond))
}

// serveStale replaces the failure of f's fetch with what the held L1 knows of its key, if
// anything: the upstream was just found unreachable.
func (u *Upstream) serveStale(f *flight) {
	until := u.stale.until.Load()
	now := time.Now().UnixMilli()
	if until == 0 || now >= until || u.l1.slots.drainingKey(f.key) {
		return
	}
	// Shared flushMu: a hold's end flushes under it exclusively, so the entry read here is
	// either from before that flush or not there.
	u.l1.flushMu.RLock()
	defer u.l1.flushMu.RUnlock()
	if u.l1.closed {
		return
	}
	if r, ok := staleResult(u.eng.DB(f.fk.db), f.fk.kind, f.key, now); ok {
		f.res = r
		u.stats.StaleServes.Add(1)
	}
}

// staleResult reads key's L1 entry in d as the result of a fetch of kind k, copied off the
// arena; false when the entry cannot answer such a read (as on the hit path).
func staleResult(d *engine.DB, k kind, key []byte, now int64) (result, bool) {
	if k == kindHash && d.TypeOf(key, now) == engine.TypeHash {
		var fv [][]byte
		found, err := d.HGetAll(key, now, func(int) {}, func(f, v []byte) {
			fv = append(fv, append([]byte(nil), f...), append([]byte(nil), v...))
		})
		if err != nil || !found {
			return result{}, false
		}
		return result{tag: tagHash, fields: fv}, true
	}
	var r result
	ok := false
	found, err := d.Get(key, now, func(val []byte) {
		if len(val) == 0 {
			return
		}
		r.tag = val[0]
		switch val[0] {
		case tagValue:
			r.val = append([]byte(nil), val[1:]...)
			ok = true
		case tagAbsent:
			ok = true
		case tagNotString, tagBigHash: // hash reads of these pass through or refetch
			ok = k != kindHash
		case tagExists:
			ok = k == kindExists
		}
	})
	if err != nil { // an L1 hash, replaced since TypeOf or read as a string
		return result{tag: tagHash}, k != kindHash
	}
	return r, found && ok
}

// refuseInFlight makes every fetch in flight refuse to store, leaving the entries in place.
func (l *l1) refuseInFlight() {
	l.flushMu.Lock()
	l.epoch.Add(1)
	l.flushMu.Unlock()
}
