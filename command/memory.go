package command

import (
	"math"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// Memory settings, OBJECT and MEMORY: the command side of the engine's memory gate.

// wireMemory applies the memory settings to the engine and follows CONFIG SET of them.
func (s *Server) wireMemory() {
	if s.cfg == nil || s.eng == nil || s.cfg.Lookup("maxmemory") == nil {
		return
	}
	apply := func(c *config.Config) {
		if p, err := engine.ParsePolicy(c.String("maxmemory-policy")); err == nil {
			s.eng.SetPolicy(p)
		}
		s.eng.SetSamples(int(c.Int("maxmemory-samples")))
		s.eng.SetLFU(int(c.Int("lfu-log-factor")), int(c.Int("lfu-decay-time")))
	}
	apply(s.cfg)
	s.eng.SetMaxMemory(s.cfg.Int("maxmemory"))
	for _, name := range []string{"maxmemory-policy", "maxmemory-samples", "lfu-log-factor", "lfu-decay-time"} {
		s.cfg.OnChange(name, apply)
	}
	// A lower maxmemory evicts down to it: one time-budgeted slice at once, as Redis does
	// in CONFIG SET, the rest in the background.
	s.cfg.OnChange("maxmemory", func(c *config.Config) {
		s.eng.SetMaxMemory(c.Int("maxmemory"))
		s.shrink()
	})
}

// evictBudget is Redis's evictionTimeLimitUs for maxmemory-eviction-tenacity: 50 µs per step
// up to 10, then 15% more per step, unlimited at 100.
func (s *Server) evictBudget() time.Duration {
	t := int64(10)
	if s.cfg != nil {
		t = s.cfg.Int("maxmemory-eviction-tenacity")
	}
	switch {
	case t <= 10:
		return time.Duration(50*t) * time.Microsecond
	case t < 100:
		return time.Duration(500*math.Pow(1.15, float64(t-10))) * time.Microsecond
	}
	return time.Duration(math.MaxInt64)
}

// shrink evicts down to maxmemory: one slice now, then slices in one background goroutine
// (at most one runs) until within the limit or nothing more can be evicted.
func (s *Server) shrink() {
	err := s.eng.EvictToLimit(s.nowMs(), s.evictBudget())
	s.FlushWakes() // CONFIG SET may come from outside a command (maxmemory auto)
	if err != engine.ErrBudget {
		return
	}
	if !s.shrinking.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.shrinking.Store(false)
		for s.evictSlice() == engine.ErrBudget {
			time.Sleep(time.Millisecond) // leave the segment locks to the event loops between slices
		}
	}()
}

// evictSlice is one background eviction slice, never inside a transaction (Quiesce).
func (s *Server) evictSlice() (err error) {
	s.Quiesce(func() { err = s.eng.EvictToLimit(s.nowMs(), s.evictBudget()) })
	return err
}

// shrinkState is the Server's part of the memory gate.
type shrinkState struct {
	shrinking atomic.Bool
}

// denyOOM is Redis's processCommand check for a command flagged denyoom: when used memory
// is above maxmemory (only after the limit was lowered; writes never take it there), evict
// a time-budgeted slice first, and refuse the command if nothing more can be evicted.
func (s *Server) denyOOM() bool {
	if !s.eng.OverLimit() {
		return false
	}
	return s.eng.EvictToLimit(s.nowMs(), s.evictBudget()) == engine.ErrOOM && s.eng.OverLimit()
}

const (
	errOOMText      = "OOM command not allowed when used memory > 'maxmemory'."
	errNoLFU        = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
	errLFUNoIdle    = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
	sharedRefcount  = 2147483647 // OBJ_SHARED_REFCOUNT: Redis's shared integers 0..9999
	sharedIntegers  = 10000
	embstrSizeLimit = 44 // OBJ_ENCODING_EMBSTR_SIZE_LIMIT
)

// isLFU reports whether the policy in force keeps LFU counters.
func (s *Server) isLFU() bool { p := s.eng.Policy(); return p.LFU() }

// objectLookup is OBJECT's lookup (no touch, counts a hit or miss); it appends the null
// reply and reports false for a missing key.
func (s *Server) objectLookup(c *Client, key []byte, now int64, fn func(val []byte), out *[]byte) (engine.KeyInfo, bool) {
	info, ok := s.db(c).Inspect(key, now, true, fn)
	if !ok {
		*out = protocol.AppendNull(*out, c.Proto)
	}
	return info, ok
}

func cmdObjectFreq(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	info, ok := s.objectLookup(c, args[2], now, nil, &out)
	if !ok {
		return out
	}
	if !s.isLFU() {
		return appendErr(out, errNoLFU)
	}
	return protocol.AppendInt(out, int64(s.eng.Freq(info, now)))
}

func cmdObjectIdletime(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	info, ok := s.objectLookup(c, args[2], now, nil, &out)
	if !ok {
		return out
	}
	if s.isLFU() {
		return appendErr(out, errLFUNoIdle)
	}
	return protocol.AppendInt(out, s.eng.IdleMs(info, now)/1000)
}

// stringShape is how Redis would encode a string value: an integer (string2l), short
// enough for embstr, or raw. (Redis also remembers how a value was made: APPEND and
// SETRANGE leave raw strings; sidecache reports by shape.)
func stringShape(v []byte) (isInt bool, n int64, embstr bool) {
	if len(v) <= 20 {
		if n, ok := parseInt(v); ok {
			return true, n, false
		}
	}
	return false, 0, len(v) <= embstrSizeLimit
}

func cmdObjectEncoding(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	enc, hashEnc := "raw", ""
	info, ok := s.objectLookup(c, args[2], now, func(v []byte) {
		switch isInt, _, emb := stringShape(v); {
		case isInt:
			enc = "int"
		case emb:
			enc = "embstr"
		}
		hashEnc = engine.HashEncoding(v) // meaningful for a hash only
	}, &out)
	if !ok {
		return out
	}
	if info.Type == engine.TypeHash {
		enc = hashEnc
	}
	return protocol.AppendBulkString(out, enc)
}

func cmdObjectRefcount(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	shared := false
	_, ok := s.objectLookup(c, args[2], now, func(v []byte) {
		isInt, n, _ := stringShape(v)
		p := s.eng.Policy()
		// Redis shares integers unless an LRU/LFU policy needs per-object access data.
		shared = isInt && n >= 0 && n < sharedIntegers && (s.eng.MaxMemory() == 0 || !(p.LFU() || p.LRU()))
	}, &out)
	if !ok {
		return out
	}
	if shared {
		return protocol.AppendInt(out, sharedRefcount)
	}
	return protocol.AppendInt(out, 1)
}

func cmdObjectHelp(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendHelp(out, "OBJECT", []string{
		"ENCODING <key>",
		"    Return the kind of internal representation used in order to store the value",
		"    associated with a <key>.",
		"FREQ <key>",
		"    Return the access frequency index of the <key>. The returned integer is",
		"    proportional to the logarithm of the recent access frequency of the key.",
		"IDLETIME <key>",
		"    Return the idle time of the <key>, that is the approximated number of",
		"    seconds elapsed since the last access to the key.",
		"REFCOUNT <key>",
		"    Return the number of references of the value associated with the specified",
		"    <key>.",
	})
}

// cmdMemoryUsage answers MEMORY USAGE key [SAMPLES count]: the key's real footprint in
// used_memory (its chunk at its size class, a large value's capacity, its share of the
// index). SAMPLES is checked as Redis does and otherwise ignored: no type here is sampled.
func cmdMemoryUsage(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args) > 3 {
		if len(args) != 5 || !eqFold(args[3], "samples") {
			return appendErr(out, errSyntax)
		}
		n, ok := parseInt(args[4])
		if !ok {
			return appendErr(out, errNotInt)
		}
		if n < 0 {
			return appendErr(out, errSyntax)
		}
	}
	info, ok := s.db(c).Inspect(args[2], now, false, nil)
	if !ok {
		return protocol.AppendNull(out, c.Proto)
	}
	return protocol.AppendInt(out, info.Footprint)
}

// cmdMemoryStats answers MEMORY STATS with Redis's field names where they have a meaning
// here, and sidecache's own figures (arena, index, large values) after them.
func cmdMemoryStats(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	st := s.eng.Stats()
	r := RSS()
	peak := s.notePeak(st.UsedMemory)
	type field struct {
		name string
		i    int64
		f    float64
		isF  bool
	}
	perKey := int64(0)
	if st.Keys > 0 {
		perKey = st.UsedMemory / st.Keys
	}
	dataset := st.UsedMemory - st.IndexBytes
	pct := func(a, b int64) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) * 100 / float64(b)
	}
	frag := 0.0
	if st.UsedMemory > 0 {
		frag = float64(r) / float64(st.UsedMemory)
	}
	fields := []field{
		{name: "peak.allocated", i: peak},
		{name: "total.allocated", i: st.UsedMemory},
		{name: "startup.allocated", i: 0},
		{name: "replication.backlog", i: 0},
		{name: "clients.slaves", i: 0},
		{name: "clients.normal", i: 0},
		{name: "overhead.total", i: st.IndexBytes},
		{name: "keys.count", i: st.Keys},
		{name: "keys.bytes-per-key", i: perKey},
		{name: "dataset.bytes", i: dataset},
		{name: "dataset.percentage", f: pct(dataset, st.UsedMemory), isF: true},
		{name: "peak.percentage", f: pct(st.UsedMemory, peak), isF: true},
		{name: "fragmentation", f: frag, isF: true},
		{name: "fragmentation.bytes", i: r - st.UsedMemory},
		{name: "arena.committed", i: st.ArenaCommitted},
		{name: "index.bytes", i: st.IndexBytes},
		{name: "large-values.bytes", i: st.LargeBytes},
		{name: "maxmemory", i: s.eng.MaxMemory()},
		{name: "evicted.keys", i: st.EvictedKeys},
	}
	out = protocol.AppendMapLen(out, c.Proto, len(fields))
	for _, f := range fields {
		out = protocol.AppendBulkString(out, f.name)
		if f.isF {
			out = protocol.AppendDouble(out, c.Proto, f.f)
		} else {
			out = protocol.AppendInt(out, f.i)
		}
	}
	return out
}

func cmdMemoryDoctor(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	msg := "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
	if s.eng.UsedMemory() < 5<<20 {
		msg = "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
	}
	return protocol.AppendVerbatim(out, c.Proto, "txt", []byte(msg))
}

func cmdMemoryMallocStats(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendVerbatim(out, c.Proto, "txt", []byte("Stats not supported for the current allocator"))
}

func cmdMemoryPurge(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendSimple(out, "OK")
}

func cmdMemoryHelp(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendHelp(out, "MEMORY", []string{
		"DOCTOR",
		"    Return memory problems reports.",
		"MALLOC-STATS",
		"    Return internal statistics report from the memory allocator.",
		"PURGE",
		"    Attempt to purge dirty pages for reclamation by the allocator.",
		"STATS",
		"    Return information about the memory usage of the server.",
		"USAGE <key> [SAMPLES <count>]",
		"    Return memory in bytes used by <key> and its value. Nested values are",
		"    sampled up to <count> times (default: 5, 0 means sample all).",
	})
}

// appendMemorySizing writes INFO memory's account of "maxmemory auto" (memory.go): the
// limit it split, where it came from, the shares, and the Go runtime's current limit.
func (s *Server) appendMemorySizing(w *infoWriter) {
	z, auto := config.MemorySizing{}, false
	if s.cfg != nil && s.cfg.Lookup("maxmemory") != nil {
		z, auto = s.cfg.MemorySizing()
	}
	if auto {
		w.str("maxmemory_source", "auto")
		w.int("memory_limit", z.Limit)
		w.str("memory_limit_human", bytesToHuman(z.Limit))
		w.str("memory_limit_source", z.Source)
		w.int("maxmemory_clients_reserved", z.Clients)
		w.int("memory_overhead_reserved", z.Overhead)
	} else {
		w.str("maxmemory_source", "explicit")
	}
	w.int("go_memory_limit", debug.SetMemoryLimit(-1))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.int("go_heap_inuse", int64(ms.HeapInuse))
}

// notePeak records used memory in the peak INFO and MEMORY STATS report and returns the peak.
func (s *Server) notePeak(used int64) int64 {
	for {
		p := s.peak.Load()
		if used <= p {
			return p
		}
		if s.peak.CompareAndSwap(p, used) {
			return used
		}
	}
}
