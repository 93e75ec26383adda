// Package engine is the keyspace: databases, segments, a pointer-free index, an off-heap
// arena, TTLs and exact memory accounting, behind a plain Go API that knows nothing of RESP.
//
// Layout (one Engine):
//
//	Engine ── dbs[0..Databases) ── segs[0..Segments) ── segment{mu, index, size classes, large}
//	   │                                                  │ index slots ──► arena offsets
//	   └── arena: one reserved mmap region cut into 64 KiB pages ◄── pages taken by segments
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
	Databases    int   // default 16
	Segments     int   // per database, a power of two, at most 1024; default 64
	MaxMemory    int64 // bytes; 0 = no limit
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
	ArenaCommitted int64 // bytes of 64 KiB arena pages held by segments (index tables not included)
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

	// used is UsedMemory: the sum of every segment's chunkBytes+indexBytes+largeBytes,
	// maintained with atomic adds by whoever holds the segment lock that changed.
	used      atomic.Int64
	maxMemory atomic.Int64

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
	e.dbs = make([]DB, cfg.Databases)
	for i := range e.dbs {
		d := &e.dbs[i]
		d.e = e
		d.num = i
		d.segs = make([]segment, cfg.Segments)
		for j := range d.segs {
			d.segs[j].init(e, i)
		}
	}
	return e, nil
}

// Close releases the arena and the index tables; no method may be called afterwards.
func (e *Engine) Close() error {
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

// Stats returns memory and counters. It takes every segment lock in turn, so it is meant for
// INFO and scrapes, not for hot paths.
func (e *Engine) Stats() Stats {
	var st Stats
	for i := range e.dbs {
		for j := range e.dbs[i].segs {
			s := &e.dbs[i].segs[j]
			s.mu.Lock()
			st.UsedMemory += s.chunkBytes + s.idxBytes + s.largeBytes
			st.IndexBytes += s.idxBytes
			st.LargeBytes += s.largeBytes
			st.Keys += s.keys
			st.ExpiresKeys += s.expires
			st.ExpiredKeys += s.expired
			st.EvictedKeys += s.evicted
			st.KeyspaceHits += s.hits
			st.KeyspaceMisses += s.misses
			s.unlock()
		}
	}
	st.ArenaCommitted = e.arena.committed()
	return st
}

// UsedMemory returns the current used_memory without taking any lock.
func (e *Engine) UsedMemory() int64 { return e.used.Load() }

// SetMaxMemory changes the limit at run time.
func (e *Engine) SetMaxMemory(n int64) { e.maxMemory.Store(n) }

// oom reports whether growing used memory by delta bytes would cross maxmemory.
func (e *Engine) oom(delta int64) bool {
	max := e.maxMemory.Load()
	return max > 0 && delta > 0 && e.used.Load()+delta > max
}

// FlushAll empties every database and returns their pages to the OS.
func (e *Engine) FlushAll() {
	for i := range e.dbs {
		e.dbs[i].flush(false)
	}
	if f := e.cfg.OnChange; f != nil {
		f(-1, nil, EventFlush)
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
	for i := range da.segs {
		da.segs[i].mu.Lock()
	}
	for i := range db.segs {
		db.segs[i].mu.Lock()
	}
	for i := range da.segs {
		da.segs[i].segData, db.segs[i].segData = db.segs[i].segData, da.segs[i].segData
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
