package command

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// WATCH: optimistic locking for MULTI/EXEC. EXEC answers a null array when a key the client
// watches was modified since WATCH, by anyone (the client itself included, before MULTI),
// or expired, was evicted, flushed, or swapped away (Redis 7.0's touchWatchedKey,
// touchAllWatchedKeysInDb and isWatchedKeyExpired).
//
// The table maps a key to its watchers, sharded by the key's hash:
//
//	shards[h(key)%16]: mu, keys: "k" -> [entry{c1, db 0}, entry{c2, db 3}]
//	client c1:        tx.watched -> [entry{c1, db 0, "k"}, ...]
//
// Every key modification reaches touchWatched through the engine's OnChange hook, under
// the key's segment lock, from whichever loop (or background goroutine) made it. It loads
// one atomic counter and returns while nobody watches anything, so other commands pay one
// load and allocate nothing; otherwise it locks one shard and marks the watchers of that
// key dirty (an atomic flag the watcher's loop reads at EXEC).
//
// WATCH itself is not atomic with respect to other loops: it registers the entry
// (pending), then looks the key up, then records whether the key existed. A write that
// races with it either precedes the lookup (the lookup sees it: not a change since WATCH)
// or reaches the entry (dirty); a write reaching a pending entry counts as after WATCH. An
// expiry that reaches a pending entry is the key being found expired at WATCH: not a
// change, as Redis's wk->expired.
//
// Existence is what flushes and expiry need: a flush dirties the watchers of keys that
// existed (a watched key that never existed is not changed by FLUSHALL, as in Redis), and
// at EXEC a key that existed at WATCH and is now expired is a change. So EXEC compares
// each watched key's existence with what WATCH saw; that also catches SWAPDB bringing in
// a key the watched db did not have (the flush event of a swap does not say which keys).

// watchShards is the number of shards of the watched-keys table (a power of two).
const watchShards = 16

// watchEntryOverhead is the memory of one watch entry beyond its key's bytes: the entry,
// its pointers in the client's list and the shard's list, and the map slot.
const watchEntryOverhead = 96

type watchTable struct {
	// n is the number of entries in all shards; touchWatched returns at once while it is 0.
	n      atomic.Int64
	seed   maphash.Seed
	once   sync.Once
	shards [watchShards]watchShard
}

type watchShard struct {
	mu   sync.Mutex
	keys map[string][]*watchEntry // under mu
	// peak is the most keys held since keys was made: a Go map keeps its buckets, so an
	// emptied map that grew large is replaced. Under mu.
	peak int
	_    [40]byte // one cache line per shard
}

// watchShardShrinkAt is the peak over which an emptied shard's map is made anew.
const watchShardShrinkAt = 1024

// watchEntry is one client watching one key of one db. c, db and key never change; the
// other fields are under the shard's lock.
type watchEntry struct {
	c   *Client
	db  int
	key string

	exists  bool // the key existed (and had not expired) when WATCH looked it up
	pending bool // WATCH registered the entry and has not looked the key up yet
	flushed bool // a flush of the key's db came while pending
}

func (w *watchTable) init() {
	w.once.Do(func() {
		w.seed = maphash.MakeSeed()
		for i := range w.shards {
			w.shards[i].keys = map[string][]*watchEntry{}
		}
	})
}

func (w *watchTable) shard(key []byte) *watchShard {
	return &w.shards[maphash.Bytes(w.seed, key)&(watchShards-1)]
}

// shardOf is shard for an entry's key (the same hash as of its bytes).
func (w *watchTable) shardOf(key string) *watchShard {
	return &w.shards[maphash.String(w.seed, key)&(watchShards-1)]
}

// touchWatched is the WATCH part of keyChanged: it marks dirty every client watching key
// in db, or, for a flush (key nil; db -1 for all), every client watching a key of the
// flushed db(s) that existed. Called under the key's segment lock; allocates nothing.
func (s *Server) touchWatched(db int, key []byte, ev engine.Event) {
	w := &s.watch
	if w.n.Load() == 0 {
		return
	}
	if key == nil {
		w.flushed(db)
		return
	}
	sh := w.shard(key)
	sh.mu.Lock()
	for _, e := range sh.keys[string(key)] {
		if e.db != db || (e.pending && ev == engine.EventExpire) {
			continue
		}
		e.c.tx.dirty.Store(true)
	}
	sh.mu.Unlock()
}

// flushed handles the flush of db (-1: all): see the top of this file.
func (w *watchTable) flushed(db int) {
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		for _, list := range sh.keys {
			for _, e := range list {
				switch {
				case db >= 0 && e.db != db:
				case e.pending:
					e.flushed = true
				case e.exists:
					e.c.tx.dirty.Store(true)
				}
			}
		}
		sh.mu.Unlock()
	}
}

// watchKey makes c watch key in db; watching a key twice is watching it once.
func (s *Server) watchKey(c *Client, db int, key []byte, now int64) {
	w := &s.watch
	w.init()
	sh := w.shard(key)
	sh.mu.Lock()
	for _, e := range sh.keys[string(key)] {
		if e.c == c && e.db == db {
			sh.mu.Unlock()
			return
		}
	}
	e := &watchEntry{c: c, db: db, key: string(key), pending: true}
	sh.keys[e.key] = append(sh.keys[e.key], e)
	sh.peak = max(sh.peak, len(sh.keys))
	// Counted before the lookup below: a write the lookup does not see is made after it,
	// under the same segment lock, and so sees the count and the entry.
	w.n.Add(1)
	sh.mu.Unlock()
	c.tx.watched = append(c.tx.watched, e)
	c.tx.watchMem += len(key) + watchEntryOverhead

	exists := s.eng.DB(db).Exists(key, now)
	sh.mu.Lock()
	e.exists, e.pending = exists, false
	if e.flushed && exists {
		// The lookup saw the key before the flush removed it.
		c.tx.dirty.Store(true)
	}
	sh.mu.Unlock()
}

// detachWatches removes c's entries from the table; c.tx.watched keeps them. Called on c's
// loop.
func (s *Server) detachWatches(c *Client) {
	w := &s.watch
	for _, e := range c.tx.watched {
		sh := w.shardOf(e.key)
		sh.mu.Lock()
		list := sh.keys[e.key]
		for i, x := range list {
			if x == e {
				last := len(list) - 1
				list[i] = list[last]
				list[last] = nil
				list = list[:last]
				break
			}
		}
		if len(list) == 0 {
			delete(sh.keys, e.key)
			if len(sh.keys) == 0 && sh.peak > watchShardShrinkAt {
				sh.keys, sh.peak = map[string][]*watchEntry{}, 0
			}
		} else {
			sh.keys[e.key] = list
		}
		w.n.Add(-1)
		sh.mu.Unlock()
	}
}

// unwatchAll makes c watch nothing and clears its dirty flag (Redis's unwatchAllKeys plus
// the caller's flag reset).
func (s *Server) unwatchAll(c *Client) {
	t := &c.tx
	if len(t.watched) > 0 {
		s.detachWatches(c)
		clear(t.watched)
		t.watched = t.watched[:0]
		if cap(t.watched) > 1024 {
			t.watched = nil
		}
		t.watchMem = 0
	}
	// After the entries are gone: no event can set the flag again.
	t.dirty.Store(false)
}

// watchHolds reports whether no key c watches changed since WATCH, for EXEC (inside the
// Barrier, so nothing changes while it looks), and stops watching them. A key that existed
// at WATCH and no longer does expired meanwhile (Redis's isWatchedKeyExpired); one that did
// not and now does came with SWAPDB. The lookups run after the entries left the table, so
// expiring a watched key here does not mark c itself.
func (s *Server) watchHolds(c *Client, now int64) bool {
	t := &c.tx
	if len(t.watched) == 0 {
		return true
	}
	s.detachWatches(c)
	ok := !t.dirty.Load()
	for i := 0; ok && i < len(t.watched); i++ {
		e := t.watched[i]
		key := append(c.scratch[:0], e.key...)
		if s.eng.DB(e.db).Exists(key, now) != e.exists {
			ok = false
		}
		c.keepScratch(key)
	}
	clear(t.watched)
	t.watched = t.watched[:0]
	t.watchMem = 0
	t.dirty.Store(false)
	return ok
}

func cmdWatch(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if c.tx.on {
		return appendErr(out, errWatchInMulti)
	}
	// Redis: no point in watching more once a watched key changed.
	if !c.tx.dirty.Load() {
		for _, key := range args[1:] {
			s.watchKey(c, c.DB, key, now)
		}
		c.tx.publish()
	}
	return protocol.AppendSimple(out, "OK")
}

func cmdUnwatch(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	s.unwatchAll(c)
	c.tx.publish()
	return protocol.AppendSimple(out, "OK")
}
