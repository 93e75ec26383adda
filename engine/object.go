package engine

import "github.com/sidecache/sidecache/evict"

// KeyInfo is what OBJECT and MEMORY USAGE report about a key.
type KeyInfo struct {
	Type Type
	// Access is the 24-bit access field: minutes<<8 | log counter under an LFU policy, the
	// LRU clock (seconds) otherwise; evict.LFUCounter and evict.LRUIdleMs read it.
	Access uint32
	// Footprint is what the key holds in used memory: its chunk at its class size, its large
	// value's capacity, and its share of the segment's index (index bytes / keys).
	Footprint int64
}

// Inspect looks a key up without touching its access field (Redis's LOOKUP_NOTOUCH), for
// OBJECT and MEMORY USAGE. With count it counts a keyspace hit or miss, as OBJECT does (MEMORY
// USAGE does not). fn, if not nil, is called with the value, arena memory valid only until
// fn returns. found is false for a missing or expired key.
func (d *DB) Inspect(key []byte, now int64, count bool, fn func(val []byte)) (info KeyInfo, found bool) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	if count {
		s.countLookup(i)
	}
	if i < 0 {
		return KeyInfo{}, false
	}
	sl := &s.idx.slots[i]
	info = KeyInfo{Type: s.typeOf(sl.off), Access: sl.meta & metaLFU, Footprint: s.entrySize(sl.off)}
	if s.keys > 0 {
		info.Footprint += s.idxBytes / s.keys
	}
	if fn != nil {
		fn(s.valOf(sl.off))
	}
	return info, true
}

// Policy is maxmemory-policy (see package evict); the command layer names it through these.
type Policy = evict.Policy

// ParsePolicy reads a maxmemory-policy name.
func ParsePolicy(name string) (Policy, error) { return evict.ParsePolicy(name) }

// Freq is OBJECT FREQ: the key's LFU counter after decay, meaningful under an LFU policy.
func (e *Engine) Freq(info KeyInfo, now int64) int {
	return int(evict.LFUCounter(info.Access, now, e.LFUDecayTime()))
}

// IdleMs is OBJECT IDLETIME in ms: the least time the key has been idle, meaningful under a
// policy other than LFU.
func (e *Engine) IdleMs(info KeyInfo, now int64) int64 {
	return int64(evict.LRUIdleMs(info.Access, now))
}
