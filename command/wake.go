package command

import "sync/atomic"

// Deferred wake-ups (DESIGN: no syscall under a segment lock). Client-side caching
// invalidations are produced in the engine's change hook, under the changed key's segment
// lock, and waking the target's event loop may write gnet's eventfd. So a push made there
// only queues the message (queuePush) and, when the target needs waking, lists the target
// on the Server's wake list; the wake-ups are issued once no segment lock is held:
//
//	under a segment lock:  queuePush ─► c.push.buf += msg ─► first since c's last drain?
//	                                                          └─► wakes: c ─► c' ─► …
//	lock released:         FlushWakes ─► each listed client: its Wake hook (or, when the
//	                                     push overflowed its limit, its Overflow hook)
//
// FlushWakes runs where every engine call that can change keys returns to a caller that
// holds no lock: Exec and ExecTimed after the command (writes, lazy expiry, evictions a
// write makes, flushes, EXEC, the eviction of denyoom), Quiesce after its job (active
// expiry, background eviction), shrink after its first slice (CONFIG SET maxmemory), and
// TrackInvalidate and TrackFlush (upstream mode). Any other code that changes keys through
// the engine outside a command must call FlushWakes afterwards. Whichever goroutine flushes
// first wakes every listed client, its own or not.
//
// The list is a lock-free stack linked through the clients themselves, so listing
// allocates nothing, and a client is on it at most once (listed). No wake-up is lost: a
// push that finds its client listed is covered by the coming wake, because the flusher
// clears listed before it calls Wake, so the drain Wake causes comes after that push. With
// nothing listed FlushWakes is one atomic load.

// wakeList is the Server's list of clients waiting for a deferred wake-up.
type wakeList struct {
	head atomic.Pointer[Client]
}

// add lists c unless it is listed already. Safe under any lock: no syscall, no allocation.
func (w *wakeList) add(c *Client) {
	q := &c.push
	if !q.listed.CompareAndSwap(false, true) {
		return
	}
	for {
		old := w.head.Load()
		q.wakeNext.Store(old)
		if w.head.CompareAndSwap(old, c) {
			return
		}
	}
}

// FlushWakes issues the wake-ups that pushes made under an engine lock deferred (see the
// top of this file). Call it, holding no engine lock, after any engine call made outside
// Exec that may change keys (expire, evict, delete, flush): the client-side caching
// invalidations it produced are queued, and reach their clients only after a flush. Safe
// from any goroutine; one atomic load when nothing waits.
func (s *Server) FlushWakes() {
	w := &s.wakes
	if w.head.Load() == nil {
		return
	}
	for c := w.head.Swap(nil); c != nil; {
		q := &c.push
		next := q.wakeNext.Load()
		q.wakeNext.Store(nil)
		q.listed.Store(false) // before the wake: a push from now on lists c again
		q.mu.Lock()
		h := q.hooks
		q.mu.Unlock()
		switch {
		case q.overflowDue.Swap(false):
			if h.Overflow != nil {
				h.Overflow()
			}
		case h.Wake != nil:
			h.Wake()
		}
		c = next
	}
}
