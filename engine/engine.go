// Package engine is the keyspace: databases, segments, a pointer-free index, an off-heap
// arena, TTLs and exact memory accounting, behind a plain Go API that knows nothing of RESP.
//
// Layout (one Engine):
//
//	Engine ── dbs[0..Databases) ── segs[0..Segments) ── segment{mu, index, size classes, large}
//	   │                                                  │ index slots ──► arena offsets
//	   └── arena: one reserved mmap region cut into 64 KiB pages, carved per size class for all segments
//
// A key's xxhash picks its segment (high bits) and its index position and tag (low 32 bits);
// see index.go for the table's picture and arena.go for pages, size classes and the entry
// layout.
//
// Time: every operation takes now, milliseconds since the Unix epoch, read once per batch by
// the caller (the netpoll loop), so TTL checks cost no clock read and tests use a fake clock.
// A key with expiry at T is alive while now <= T (Redis's keyIsExpired: now > when); a write
// that sets an expiry at or before now deletes the key (Redis's checkAlreadyExpired).
//
// Borrowed bytes: a func(val []byte) callback is called under the key's segment lock; val is
// arena memory valid only until the callback returns. Copy what you keep. Callbacks must not
// call back into the engine.
package engine

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/sidecache/sidecache/evict"
)

// Errors. The command layer maps them to Redis's reply texts.
var (
	ErrWrongType  = errors.New("WRONGTYPE Operation against a key holding the wrong kind of value")
	ErrNotInteger = errors.New("ERR value is not an integer or out of range")
	ErrOverflow   = errors.New("ERR increment or decrement would overflow")
	ErrNotFloat   = errors.New("ERR value is not a valid float")
	ErrNaN        = errors.New("ERR increment would produce NaN or Infinity")
	ErrNoSuchKey  = errors.New("ERR no such key")
	ErrTooLarge   = errors.New("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
	ErrOOM        = errors.New("OOM command not allowed when used memory > 'maxmemory'.")
	ErrDBIndex    = errors.New("ERR DB index is out of range")
	// ErrOffset is SETRANGE's reply to a negative offset.
	ErrOffset = errors.New("ERR offset is out of range")
)

// Type is a value's type as TYPE names it.
type Type uint8

const (
	TypeNone Type = iota
	TypeString
	TypeHash // issue 3
	TypeList // later
	TypeSet
	TypeZSet
)

var typeNames = [...]string{"none", "string", "hash", "list", "set", "zset"}

// String returns the TYPE reply: "none", "string", "hash", ...
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "none"
}

// Event says why a key changed, for tracking invalidations and keyspace statistics.
type Event uint8

const (
	EventWrite Event = iota + 1
	EventDelete
	EventExpire
	EventEvict
	EventFlush // key is nil: the whole db (or all dbs when db == -1)
)

// Config of an engine. Zero values take the defaults.
type Config struct {
	Databases int   // default 16
	Segments  int   // per database, a power of two, at most 1024; default 64
	MaxMemory int64 // bytes; 0 = no limit
	// Policy is maxmemory-policy. The zero value is noeviction: an embedded engine evicts
	// only when asked to; the server passes its configuration (default allkeys-lfu).
	Policy evict.Policy
	// Samples is maxmemory-samples, keys sampled per eviction; default 5.
	Samples int
	// LFULogFactor and LFUDecayTime (minutes) are lfu-log-factor and lfu-decay-time; the
	// zero values take Redis's defaults 10 and 1 (SetLFU accepts 0 for either).
	LFULogFactor int
	LFUDecayTime int
	MaxValueSize int64 // proto-max-bulk-len; SETRANGE/APPEND beyond it fail with ErrTooLarge; default 512 MiB
	// OnChange, if set, is called under the segment lock after a key changes; key is valid
	// only during the call.
	OnChange func(db int, key []byte, ev Event)
}

// maxSegments bounds Config.Segments so that multi-key commands can keep the set of segments
// to lock in a bitset on the stack.
const maxSegments = 1024

// Stats is a point-in-time view of memory and counters.
type Stats struct {
	UsedMemory     int64 // arena chunks as allocated + index capacity + large values (+ sub-tables)
	ArenaCommitted int64 // bytes of 64 KiB arena pages carved into size classes (index tables not included)
	IndexBytes     int64 // index mappings, rounded to OS pages (separate mmaps, not arena pages)
	LargeBytes     int64 // cap of values beyond the largest size class, on the Go heap
	Keys           int64 // all dbs
	ExpiresKeys    int64 // keys with a TTL, all dbs
	ExpiredKeys    int64 // removed by lazy or active expiry since start
	EvictedKeys    int64
	KeyspaceHits   int64
	KeyspaceMisses int64
}

// Engine owns all databases.
type Engine struct {
	cfg      Config
	arena    arena
	dbs      []DB
	segShift uint // hash >> segShift picks the segment (64 when there is one segment)
	segMask  uint64

	// noTouch are views of dbs sharing their segments whose reads leave the access field
	// alone (CLIENT NO-TOUCH); see DBNoTouch.
	noTouch []DB

	// used is UsedMemory: the sum of every segment's chunkBytes+indexBytes+largeBytes,
	// maintained with atomic adds by whoever holds the segment lock that changed, plus the
	// part of the reservations of writes in progress their allocations have not consumed
	// yet, which includes what they have evicted so far (evict.go).
	used atomic.Int64
	// segBytes is used without the reservations: what the segments hold. A write that
	// allocates before it frees (a rewrite, RENAME) has its new bytes in used beyond what it
	// reserved for the net change, so used alone passes maxmemory for a moment while nothing
	// is over it; whether the segments really hold more than the limit is segBytes, one
	// atomic (two reads, used and the sum of reservations, could straddle a release and
	// overstate it).
	segBytes  atomic.Int64
	maxMemory atomic.Int64

	// Eviction settings, changed at run time by the setters in evict.go.
	policy       atomic.Uint32 // evict.Policy
	samples      atomic.Int32
	lfuLogFactor atomic.Int32
	lfuDecayTime atomic.Int32
	// hash holds hash-max-listpack-entries and -value (hash.go).
	hash hashConf
	// evictNext is where the next search for a victim outside the writer's own segment
	// starts (a position db*Segments+seg), so that no segment is always tried first.
	evictNext atomic.Uint32
	// nonEmpty has bit db*Segments+seg set while that segment holds keys (changed under its
	// lock, read without), so a writer looking for a victim elsewhere skips empty segments.
	nonEmpty []atomic.Uint64
	shrinkMu sync.Mutex // one EvictToLimit at a time
	closed   bool       // set by Close; guarded by shrinkMu

	// rebalanceMu serialises Rebalance with what moves entries between segments or drops
	// them wholesale (SWAPDB, flushes, Close); taken before any segment lock.
	rebalanceMu     sync.Mutex
	rebal           rebalanceState
	layoutEpoch     uint64 // bumped by SWAPDB; guarded by rebalanceMu
	rebalanceClosed bool   // guarded by rebalanceMu

	expireMu  sync.Mutex
	expirePos int // next (db*Segments + seg) for ActiveExpire; guarded by expireMu
}

// Open creates an engine.
func Open(cfg Config) (*Engine, error) {
	if cfg.Databases <= 0 {
		cfg.Databases = 16
	}
	if cfg.Segments <= 0 {
		cfg.Segments = 64
	}
	if cfg.Segments&(cfg.Segments-1) != 0 || cfg.Segments > maxSegments {
		return nil, fmt.Errorf("engine: Segments must be a power of two <= %d, got %d", maxSegments, cfg.Segments)
	}
	if cfg.MaxValueSize <= 0 {
		cfg.MaxValueSize = 512 << 20
	}
	e := &Engine{cfg: cfg}
	if err := e.arena.init(); err != nil {
		return nil, err
	}
	segBits := uint(bits.TrailingZeros(uint(cfg.Segments)))
	e.segShift = 64 - segBits
	e.segMask = uint64(cfg.Segments - 1)
	e.maxMemory.Store(cfg.MaxMemory)
	if cfg.Samples <= 0 {
		cfg.Samples = 5
	}
	if cfg.LFULogFactor == 0 && cfg.LFUDecayTime == 0 {
		cfg.LFULogFactor, cfg.LFUDecayTime = 10, 1
	}
	e.SetPolicy(cfg.Policy)
	e.SetSamples(cfg.Samples)
	e.SetLFU(cfg.LFULogFactor, cfg.LFUDecayTime)
	e.SetHashMaxListpack(512, 64) // Redis's defaults
	e.dbs = make([]DB, cfg.Databases)
	e.nonEmpty = make([]atomic.Uint64, (cfg.Databases*cfg.Segments+63)/64)
	for i := range e.dbs {
		d := &e.dbs[i]
		d.e = e
		d.num = i
		d.segs = make([]segment, cfg.Segments)
		for j := range d.segs {
			d.segs[j].init(e, i, j)
		}
	}
	e.noTouch = make([]DB, len(e.dbs))
	for i := range e.dbs {
		e.noTouch[i] = e.dbs[i]
		e.noTouch[i].noTouch = true
	}
	return e, nil
}

// Close releases the arena and the index tables; no method may be called afterwards.
func (e *Engine) Close() error {
	// A background EvictToLimit finishes its slice before the memory goes, and starts no other.
	e.shrinkMu.Lock()
	e.closed = true
	e.shrinkMu.Unlock()
	e.rebalanceMu.Lock()
	e.rebalanceClosed = true
	e.rebalanceMu.Unlock()
	for i := range e.dbs {
		for j := range e.dbs[i].segs {
			s := &e.dbs[i].segs[j]
			s.mu.Lock()
			if m := s.idx.release(); m != nil {
				unmapTable(m) // closing: nothing else runs
			}
			s.unlock()
		}
	}
	return e.arena.close()
}

// NumDBs returns the number of databases.
func (e *Engine) NumDBs() int { return len(e.dbs) }

// DB returns database i (0 <= i < NumDBs()).
func (e *Engine) DB(i int) *DB { return &e.dbs[i] }

// DBNoTouch returns database i for a client in CLIENT NO-TOUCH mode: the same keys, but
// the lookups that record an access through DB.touch (the string, bitmap, BITFIELD, LCS
// and hash reads, the sources of BITOP, COPY and MOVE) leave the keys' access field (LFU
// counter or LRU clock) as it was. Writes and TOUCH still update it.
func (e *Engine) DBNoTouch(i int) *DB { return &e.noTouch[i] }

// Stats returns memory and counters. It holds every segment lock at once, taken in the
// writers' order (database, then segment), so used_memory is the footprint of one instant:
// summed one lock at a time, a write that evicts in one segment and allocates in another
// could be counted twice and read above maxmemory although it never was. Meant for INFO,
// scrapes and the memory-limit ticker, not for hot paths.
func (e *Engine) Stats() Stats {
	var st Stats
	for i := range e.dbs {
		for j := range e.dbs[i].segs {
			e.dbs[i].segs[j].mu.Lock()
		}
	}
	for i := range e.dbs {
		for j := range e.dbs[i].segs {
			s := &e.dbs[i].segs[j]
			st.UsedMemory += s.chunkBytes + s.idxBytes + s.largeBytes
			st.IndexBytes += s.idxBytes
			st.LargeBytes += s.largeBytes
			st.Keys += s.keys
			st.ExpiresKeys += s.expires
			st.ExpiredKeys += s.expired
			st.EvictedKeys += s.evicted
			st.KeyspaceHits += s.hits
			st.KeyspaceMisses += s.misses
		}
	}
	for i := range e.dbs {
		for j := range e.dbs[i].segs {
			e.dbs[i].segs[j].unlock()
		}
	}
	st.ArenaCommitted = e.arena.committed()
	return st
}

// OffHeapBytes is what the arena has committed plus what the indexes take: the memory the Go
// runtime does not see. It takes one segment lock at a time (a budget needs no single
// instant), so a caller that polls it, like the memory-limit ticker, does not stop every
// writer at once as Stats does.
func (e *Engine) OffHeapBytes() int64 {
	idx, _ := e.indexAndLargeBytes()
	return e.arena.committed() + idx
}

// indexAndLargeBytes sums the segments' index mappings and large values, one segment lock
// at a time (so not one instant's sum).
func (e *Engine) indexAndLargeBytes() (idx, large int64) {
	for i := range e.dbs {
		for j := range e.dbs[i].segs {
			s := &e.dbs[i].segs[j]
			s.mu.Lock()
			idx += s.idxBytes
			large += s.largeBytes
			s.unlock()
		}
	}
	return idx, large
}

// UsedMemory returns the current used_memory without taking any lock.
func (e *Engine) UsedMemory() int64 { return e.used.Load() }

// SetMaxMemory changes the limit at run time (0 = none). A lower limit is not enforced on
// what is already stored until EvictToLimit runs (or a write needs memory).
func (e *Engine) SetMaxMemory(n int64) { e.maxMemory.Store(max(n, 0)) }

// MaxMemory returns the limit in bytes (0 = none).
func (e *Engine) MaxMemory() int64 { return e.maxMemory.Load() }

// SetOnChange installs Config.OnChange after Open, for a layer built on top of the engine
// (the command server's WATCH and tracking). It must be called before the engine is used
// by more than one goroutine: the hook is read without synchronisation on every write.
func (e *Engine) SetOnChange(f func(db int, key []byte, ev Event)) { e.cfg.OnChange = f }

// FlushAll empties every database and returns every page to the OS.
func (e *Engine) FlushAll() {
	e.rebalanceMu.Lock()
	e.lockAll()
	pages, maps := e.dropAll()
	e.unlockAll()
	e.rebalanceMu.Unlock()
	e.giveBack(pages, maps)
	if f := e.cfg.OnChange; f != nil {
		f(-1, nil, EventFlush)
	}
}

// lockAll locks every segment of every database, in the lock order.
func (e *Engine) lockAll() {
	for i := range e.dbs {
		for j := range e.dbs[i].segs {
			e.dbs[i].segs[j].mu.Lock()
		}
	}
}

// unlockAll releases lockAll's locks, leaving retired index mappings to the caller's
// giveBack (the drops and flushes it follows retire none).
func (e *Engine) unlockAll() {
	for i := range e.dbs {
		for j := range e.dbs[i].segs {
			e.dbs[i].segs[j].unlock()
		}
	}
}

// dropAll empties every segment and forgets every carved chunk (rebalanceMu and all segment
// locks held); it returns the pages and index mappings for giveBack.
func (e *Engine) dropAll() ([]uint32, [][]byte) {
	e.abandonRebalance()
	var maps [][]byte
	for i := range e.dbs {
		for j := range e.dbs[i].segs {
			if m := e.dbs[i].segs[j].drop(); m != nil {
				maps = append(maps, m)
			}
		}
	}
	return e.arena.resetClasses(), maps
}

// giveBack returns pages to the OS and unmaps index mappings, outside every segment lock.
func (e *Engine) giveBack(pages []uint32, maps [][]byte) {
	e.arena.givePages(pages)
	for _, m := range maps {
		unmapTable(m)
	}
}

// Swap exchanges the contents of two databases (SWAPDB). It locks every segment of both
// databases, lower database first, segments in ascending order: the same order MSet and
// Rename use inside one database, so no cycle can form.
func (e *Engine) Swap(a, b int) error {
	if a < 0 || b < 0 || a >= len(e.dbs) || b >= len(e.dbs) {
		return ErrDBIndex
	}
	if a == b {
		return nil
	}
	if a > b {
		a, b = b, a
	}
	da, db := &e.dbs[a], &e.dbs[b]
	e.rebalanceMu.Lock()
	defer e.rebalanceMu.Unlock()
	e.layoutEpoch++
	for i := range da.segs {
		da.segs[i].mu.Lock()
	}
	for i := range db.segs {
		db.segs[i].mu.Lock()
	}
	for i := range da.segs {
		da.segs[i].segData, db.segs[i].segData = db.segs[i].segData, da.segs[i].segData
		da.segs[i].markNonEmpty(da.segs[i].keys > 0)
		db.segs[i].markNonEmpty(db.segs[i].keys > 0)
	}
	for i := range db.segs {
		db.segs[i].unlock()
	}
	for i := range da.segs {
		da.segs[i].unlock()
	}
	if f := e.cfg.OnChange; f != nil {
		f(a, nil, EventFlush)
		f(b, nil, EventFlush)
	}
	return nil
}
