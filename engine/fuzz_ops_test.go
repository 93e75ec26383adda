package engine

import (
	"fmt"
	"maps"
	"math/bits"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/sidecache/sidecache/evict"
)

// FuzzEngineOps drives the oracle's operation stream (opRunner, oracle_test.go) over a small
// keyspace in three databases, adds what moves keys between keys and databases (COPY, MOVE,
// SWAPDB, SELECT, FLUSHALL), bitmaps (SETBIT, GETBIT, BITCOUNT, BITOP), clock jumps of
// minutes and, in the variants with a small maxmemory, eviction and refused writes.
//
// After every operation the whole keyspace is read straight from the index (no lookup, so
// the check expires nothing lazily and the next operation still meets expired keys) and
// compared with the model: same keys, types, values and expiry times, except that
//   - a key past its expiry may still be there or be gone (lazy and active expiry);
//   - under maxmemory, a key may be gone if the engine reported evicting it (EventEvict);
//     then it is dropped from the model too. Evicted keys are absent, never altered.
//
// It also checks that every key whose stored state changed was reported through OnChange
// (tracking invalidates on these), that no key is evicted without a maxmemory, that a write
// leaves used_memory within maxmemory (or, after maxmemory was lowered, no higher than it
// found it), and Engine.Verify's full recount.
//
// Input: the first byte picks the variant (maxmemory, policy, segments); every following
// choice takes one byte, or two for a range above 256 (see fuzzChoices).
func FuzzEngineOps(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 { // bounds one execution's time
			data = data[:4096]
		}
		// A hang (a lock taken twice, an eviction loop that never ends) would stall the
		// fuzzer silently: crash instead, with every goroutine's stack, so that the input
		// is saved as a crasher.
		watchdog := time.AfterFunc(time.Minute, func() {
			debug.SetTraceback("all")
			panic("FuzzEngineOps: one input ran for a minute")
		})
		defer watchdog.Stop()
		fr := newFuzzRunner(t, data)
		for !fr.done() {
			fr.op()
		}
		fr.finish()
	})
}

// fuzzChoices returns the choice source of an input: a choice in [0, n) takes one byte for
// n <= 256 and two bytes above; past the end every choice is 0. done reports the end.
func fuzzChoices(data []byte) (next func(n int) int, done func() bool) {
	pos := 0
	next = func(n int) int {
		v := 0
		for k := 0; k < 1+bits.Len(uint(n-1))/9; k++ {
			if pos < len(data) {
				v = v<<8 | int(data[pos])
			}
			pos++
		}
		return v % n
	}
	return next, func() bool { return pos >= len(data) }
}

// The operations of this file; the opRunner's own come after them (extraOps + its op).
const (
	xSelect = iota
	xSwapDB
	xCopy
	xMove
	xSetBit
	xGetBit
	xBitCount
	xBitOp
	xFlushAll
	xMaxMemory
	xClockMinutes
	extraOps
)

// stepWeight is how many of the draws go to the opRunner's operations.
const stepWeight = 3 * extraOps

// fuzzMemory are the variants' maxmemory (0: none); fuzzPolicies their policies.
var (
	fuzzMemory   = [...]int64{0, 0, 0, 0, 64 << 10, 128 << 10, 256 << 10, 512 << 10}
	fuzzPolicies = [...]evict.Policy{evict.AllKeysLFU, evict.AllKeysLRU, evict.AllKeysRandom,
		evict.VolatileLFU, evict.VolatileLRU, evict.VolatileRandom, evict.VolatileTTL, evict.NoEviction}
)

// keyState is one key as stored: its type, value (strings: length and xxhash, so that a
// snapshot copies no values) or fields (hashes), and absolute expiry (0: none).
type keyState struct {
	t    Type
	vlen int
	vsum uint64
	h    map[string]string
	exp  int64
}

func (a keyState) equal(b keyState) bool {
	return a.t == b.t && a.vlen == b.vlen && a.vsum == b.vsum && a.exp == b.exp && maps.Equal(a.h, b.h)
}

func (e oentry) state() keyState {
	if e.h != nil {
		return keyState{t: TypeHash, h: e.h, exp: e.exp}
	}
	return keyState{t: TypeString, vlen: len(e.val), vsum: xxhash.Sum64String(e.val), exp: e.exp}
}

type fuzzEvent struct {
	db  int // -1: all databases (FLUSHALL)
	key string
	ev  Event
}

// oomAbort ends an opRunner operation that failed with ErrOOM (see oomTB).
type oomAbort struct{}

// oomTB stands between the opRunner and the test. Under maxmemory a write may be refused
// with ErrOOM, which the opRunner's checks (written for an engine without a limit) report
// as a failure; oomTB turns exactly those failures into an early end of the operation, and
// the check after it proves the refused write changed nothing beyond reported evictions.
// Every other failure goes to the test.
type oomTB struct {
	testing.TB
	allow bool
}

func (t *oomTB) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if t.allow && strings.Contains(msg, ErrOOM.Error()) {
		panic(oomAbort{})
	}
	t.TB.Helper()
	t.TB.Fatal(msg)
}

type fuzzRunner struct {
	*opRunner
	tb      *oomTB
	names   map[string]string // the keys, so that a snapshot does not copy them
	done    func() bool
	cur     int                 // the selected database: r.d and r.m.m are its
	models  []map[string]oentry // per database
	policy  evict.Policy
	limit   int64 // maxmemory now
	changes []fuzzEvent
	// reached counts the operations run: extra ops first, then the opRunner's; evicted and
	// refused count keys evicted and writes refused with ErrOOM (for the seed check).
	reached          [extraOps + 19 + hashOps]int
	evicted, refused int
	// refusedOp: the current operation was refused with ErrOOM.
	refusedOp bool
}

func newFuzzRunner(t testing.TB, data []byte) *fuzzRunner {
	var variant byte
	if len(data) > 0 {
		variant, data = data[0], data[1:]
	}
	next, done := fuzzChoices(data)
	fr := &fuzzRunner{
		tb:     &oomTB{TB: t},
		done:   done,
		limit:  fuzzMemory[variant&7],
		policy: fuzzPolicies[variant>>3&7],
	}
	segs := 4
	if variant&0x40 != 0 {
		segs = 1 // every key in one segment: eviction finds no partner
	}
	const maxSize = 40000
	e, err := Open(Config{Databases: 3, Segments: segs, MaxValueSize: maxSize, MaxMemory: fr.limit,
		Policy: fr.policy, OnChange: fr.record})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	fr.tb.allow = fr.limit > 0
	for range e.NumDBs() {
		fr.models = append(fr.models, map[string]oentry{})
	}
	fr.opRunner = &opRunner{t: fr.tb, e: e, d: e.DB(0), m: model{m: fr.models[0], maxSize: maxSize},
		now: 1_700_000_000_000, next: next}
	fr.keys = []string{"a", "b", "c", "", strings.Repeat("K", 300), strings.Repeat("L", 33000)}
	fr.initHashes()
	fr.hkeys = []string{"hash:0", "hash:1", strings.Repeat("H", 33000)}
	fr.names = map[string]string{}
	for _, k := range append(fr.keys, fr.hkeys...) {
		fr.names[k] = k
	}
	return fr
}

func (fr *fuzzRunner) record(db int, key []byte, ev Event) {
	if ev == EventEvict {
		fr.evicted++
	}
	fr.changes = append(fr.changes, fuzzEvent{db: db, key: string(key), ev: ev})
}

// snapshot reads every key of every database from the index, under each segment's lock,
// without lookups: nothing expires, nothing is touched.
func (fr *fuzzRunner) snapshot() []map[string]keyState {
	var out []map[string]keyState
	for di := range fr.e.dbs {
		m := map[string]keyState{}
		d := &fr.e.dbs[di]
		for si := range d.segs {
			s := &d.segs[si]
			s.mu.Lock()
			for i := range s.idx.slots {
				sl := &s.idx.slots[i]
				if sl.meta&metaUsed == 0 {
					continue
				}
				st := keyState{t: s.typeOf(sl.off)}
				if sl.meta&metaTTL != 0 {
					st.exp = s.expAt(sl.off)
				}
				switch st.t {
				case TypeString:
					v := s.valOf(sl.off)
					st.vlen, st.vsum = len(v), xxhash.Sum64(v)
				case TypeHash:
					st.h = map[string]string{}
					b := s.valOf(sl.off)
					for pos := 0; ; {
						f, v, next, ok := hbNext(b, pos)
						if !ok {
							break
						}
						st.h[string(f)] = string(v)
						pos = next
					}
				}
				k := s.keyOf(sl.off)
				name, ok := fr.names[string(k)]
				if !ok {
					name = string(k)
				}
				m[name] = st
			}
			s.unlock()
		}
		out = append(out, m)
	}
	return out
}

// get is model.get on database db.
func (fr *fuzzRunner) get(db int, k string) (oentry, bool) {
	e, ok := fr.models[db][k]
	if ok && e.exp != 0 && e.exp < fr.now {
		delete(fr.models[db], k)
		return oentry{}, false
	}
	return e, ok
}

func (fr *fuzzRunner) anyKey(hash bool) string {
	if hash {
		return fr.hkeys[fr.next(len(fr.hkeys))]
	}
	return fr.key()
}

// use makes db the selected database of the opRunner.
func (fr *fuzzRunner) use(db int) {
	fr.cur = db
	fr.d = fr.e.DB(db)
	fr.m.m = fr.models[db]
}

// op runs one operation and checks the whole engine after it.
func (fr *fuzzRunner) op() {
	before := fr.snapshot()
	usedBefore := fr.e.UsedMemory()
	fr.changes = fr.changes[:0]
	fr.refusedOp = false
	saved := make([]map[string]oentry, len(fr.models))
	for i, m := range fr.models {
		saved[i] = maps.Clone(m)
	}
	op := fr.next(extraOps + stepWeight)
	if op < extraOps {
		fr.reached[op]++
		fr.extra(op)
	} else if fr.runStep() {
		// Refused with ErrOOM: the model stays as it was before the operation.
		fr.models = saved
		fr.use(fr.cur)
	}
	if len(fr.log) > 1000 {
		fr.log = fr.log[len(fr.log)-100:]
	}
	fr.check(before, usedBefore)
}

// runStep runs one opRunner operation; it reports whether the operation stopped on ErrOOM.
func (fr *fuzzRunner) runStep() (oom bool) {
	at := len(fr.log)
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(oomAbort); !ok {
				panic(v)
			}
			oom = true
			fr.refused++
			fr.refusedOp = true
			fr.log = append(fr.log, "  refused: OOM")
		}
		var now int64
		var n int
		if at < len(fr.log) {
			if _, err := fmt.Sscanf(fr.log[at], "now=%d op=%d", &now, &n); err == nil && n < 19+hashOps {
				fr.reached[extraOps+n]++
			}
		}
		fr.models[fr.cur] = fr.m.m // FLUSHDB replaces the map
	}()
	fr.step()
	return false
}

// okOOM reports whether err is a refusal the variant allows (the operation then changed
// nothing but evicted keys, which check verifies); any other error fails the test.
func (fr *fuzzRunner) okOOM(what string, err error) bool {
	if err == ErrOOM && fr.limit > 0 {
		fr.refused++
		fr.refusedOp = true
		fr.log = append(fr.log, "  refused: "+what+": OOM")
		return true
	}
	if err != nil {
		fr.fail("%s: %v", what, err)
	}
	return false
}

func (fr *fuzzRunner) extra(op int) {
	now := fr.now
	logf := func(format string, args ...any) {
		fr.log = append(fr.log, fmt.Sprintf("now=%d db=%d x%d ", now, fr.cur, op)+fmt.Sprintf(format, args...))
	}
	switch op {
	case xSelect:
		fr.use(fr.next(len(fr.models)))
		logf("select")
	case xSwapDB:
		a, b := fr.next(len(fr.models)), fr.next(len(fr.models))
		logf("swapdb %d %d", a, b)
		if err := fr.e.Swap(a, b); err != nil {
			fr.fail("swapdb: %v", err)
		}
		fr.models[a], fr.models[b] = fr.models[b], fr.models[a]
		fr.use(fr.cur)
	case xCopy:
		hash := fr.next(3) == 0
		src, dst := fr.anyKey(hash), fr.anyKey(hash)
		to, replace := fr.next(len(fr.models)), fr.next(2) == 0
		logf("copy %.20q -> db %d %.20q replace=%v", src, to, dst, replace)
		e, found := fr.get(fr.cur, src)
		_, dfound := fr.get(to, dst)
		ok, err := fr.d.Copy(fr.e.DB(to), []byte(src), []byte(dst), replace, now)
		if fr.okOOM("copy", err) {
			return
		}
		want := found && (!dfound || replace) && (to != fr.cur || src != dst)
		if ok != want {
			fr.fail("copy: %v, want %v", ok, want)
		}
		if want {
			e.h = maps.Clone(e.h)
			fr.models[to][dst] = e
		}
	case xMove:
		hash := fr.next(3) == 0
		k := fr.anyKey(hash)
		to := (fr.cur + 1 + fr.next(len(fr.models)-1)) % len(fr.models)
		logf("move %.20q -> db %d", k, to)
		e, found := fr.get(fr.cur, k)
		_, dfound := fr.get(to, k)
		ok, err := fr.d.Move(fr.e.DB(to), []byte(k), now)
		if fr.okOOM("move", err) {
			return
		}
		if want := found && !dfound; ok != want {
			fr.fail("move: %v, want %v", ok, want)
		}
		if ok {
			delete(fr.models[fr.cur], k)
			fr.models[to][k] = e
		}
	case xSetBit, xGetBit:
		hash := fr.next(8) == 0
		k := fr.anyKey(hash)
		var off uint64
		switch fr.next(8) {
		case 0:
			off = uint64(fr.m.maxSize)*8 - 1 - uint64(fr.next(2)) // the last bits
		case 1:
			off = uint64(fr.m.maxSize) * 8 // the first offset past the limit
		case 2:
			off = uint64(fr.next(2000)) * 8
		default:
			off = uint64(fr.next(256))
		}
		on := fr.next(2) == 0
		e, found := fr.get(fr.cur, k)
		if op == xSetBit && hash && !found {
			// Keep the hash keys for hashes: SETBIT there only to meet an existing one.
			k = fr.key()
			e, found = fr.get(fr.cur, k)
		}
		logf("setbit/getbit %.20q %d %v", k, off, on)
		var got int
		var err error
		if op == xSetBit {
			got, err = fr.d.SetBit([]byte(k), off, on, now)
		} else {
			got, err = fr.d.GetBit([]byte(k), off, now)
		}
		switch {
		case op == xSetBit && off>>3 >= uint64(fr.m.maxSize):
			if err != ErrBitOffset {
				fr.fail("setbit past the limit: %v", err)
			}
			return
		case found && e.h != nil:
			if err != ErrWrongType {
				fr.fail("bit op on a hash: %v", err)
			}
			return
		case fr.okOOM("setbit", err):
			return
		}
		v := []byte(e.val)
		want := 0
		if b := off >> 3; b < uint64(len(v)) && v[b]&(0x80>>(off&7)) != 0 {
			want = 1
		}
		if got != want {
			fr.fail("bit %d: %d, want %d", off, got, want)
		}
		if op == xSetBit {
			if need := int(off>>3) + 1; need > len(v) {
				v = append(v, make([]byte, need-len(v))...)
			}
			if on {
				v[off>>3] |= 0x80 >> (off & 7)
			} else {
				v[off>>3] &^= 0x80 >> (off & 7)
			}
			fr.models[fr.cur][k] = oentry{val: string(v), exp: e.exp}
		}
	case xBitCount:
		k := fr.anyKey(fr.next(8) == 0)
		logf("bitcount %.20q", k)
		e, found := fr.get(fr.cur, k)
		n, err := fr.d.BitCount([]byte(k), BitRange{}, now)
		want := int64(0)
		for _, c := range []byte(e.val) {
			want += int64(bits.OnesCount8(c))
		}
		if found && e.h != nil {
			if err != ErrWrongType {
				fr.fail("bitcount on a hash: %v", err)
			}
		} else if err != nil || n != want {
			fr.fail("bitcount: %d %v, want %d", n, err, want)
		}
	case xBitOp:
		kind := BitOpKind(fr.next(4))
		nsrc := 1
		if kind != BitNot {
			nsrc += fr.next(3)
		}
		dst := fr.key()
		var srcs, vals [][]byte
		wrong := false
		for range nsrc {
			srcs = append(srcs, []byte(fr.anyKey(fr.next(10) == 0)))
		}
		logf("bitop %d %.20q %d sources", kind, dst, len(srcs))
		for _, s := range srcs { // looked up in order up to the first that is not a string
			e, found := fr.get(fr.cur, string(s))
			if found && e.h != nil {
				wrong = true
				break
			}
			vals = append(vals, []byte(e.val))
		}
		n, res, err := fr.d.BitOp(kind, []byte(dst), srcs, now, nil)
		if wrong {
			if err != ErrWrongType {
				fr.fail("bitop with a hash source: %v", err)
			}
			return
		}
		if fr.okOOM("bitop", err) {
			return
		}
		want := refBitOp(kind, vals)
		if n != int64(len(want)) || (n > 0 && string(res) != string(want)) {
			fr.fail("bitop: %d %.60q, want %.60q", n, res, want)
		}
		if len(want) == 0 {
			delete(fr.models[fr.cur], dst)
		} else {
			fr.models[fr.cur][dst] = oentry{val: string(want)}
		}
	case xFlushAll:
		if fr.next(8) != 0 {
			return
		}
		logf("flushall")
		fr.e.FlushAll()
		for i := range fr.models {
			fr.models[i] = map[string]oentry{}
		}
		fr.use(fr.cur)
	case xMaxMemory:
		if fr.limit == 0 {
			return
		}
		// Lowered (or raised) at run time, as CONFIG SET maxmemory does, then brought
		// within the new limit as the server's background task does.
		lim := fuzzMemory[4+fr.next(4)] >> fr.next(2)
		logf("maxmemory %d", lim)
		fr.limit = lim
		fr.e.SetMaxMemory(lim)
		switch err := fr.e.EvictToLimit(now, time.Hour); {
		case err == nil:
			if u := fr.e.UsedMemory(); u > lim {
				fr.fail("EvictToLimit: used %d over %d", u, lim)
			}
		case err == ErrOOM:
			if !fr.policy.Volatile() && fr.policy != evict.NoEviction && fr.e.Stats().Keys > 0 {
				fr.fail("EvictToLimit under %v gave up with keys left", fr.policy)
			}
		default:
			fr.fail("EvictToLimit: %v", err)
		}
	case xClockMinutes: // LFU decay and long TTLs
		fr.now += int64(1+fr.next(20)) * 60_000
		logf("clock +min")
	}
}

// reported reports whether a change of key in db was signalled during the operation.
func (fr *fuzzRunner) reported(db int, key string, ev Event) bool {
	for _, c := range fr.changes {
		if c.ev == EventFlush && (c.db == db || c.db == -1) && ev == 0 {
			return true
		}
		if c.db == db && c.key == key && (ev == 0 || c.ev == ev) {
			return true
		}
	}
	return false
}

// check compares the engine with the model after an operation (see FuzzEngineOps).
func (fr *fuzzRunner) check(before []map[string]keyState, usedBefore int64) {
	fr.t.Helper()
	now := fr.now
	after := fr.snapshot()
	for _, c := range fr.changes {
		if c.ev == EventEvict && fr.limit == 0 && fr.e.MaxMemory() == 0 {
			fr.fail("key %q of db %d evicted without maxmemory", c.key, c.db)
		}
	}
	for db := range after {
		for k, a := range after[db] {
			if b, ok := before[db][k]; (!ok || !a.equal(b)) && !fr.reported(db, k, 0) {
				fr.fail("db %d key %.40q changed without a change event", db, k)
			}
		}
		for k := range before[db] {
			if _, ok := after[db][k]; !ok && !fr.reported(db, k, 0) {
				fr.fail("db %d key %.40q vanished without a change event", db, k)
			}
		}
	}
	for db, m := range fr.models {
		for k, e := range m {
			alive := e.exp == 0 || e.exp >= now
			got, ok := after[db][k]
			switch {
			case ok && e.h != nil && fr.partialHash(db, k, got, e.exp):
				m[k] = oentry{h: got.h, exp: got.exp}
			case ok && !got.equal(e.state()):
				fr.fail("db %d key %.40q: engine %s, model %s %.60q", db, k, showState(got), showState(e.state()), e.val)
			case !ok && !alive:
				delete(m, k)
			case !ok && fr.reported(db, k, EventEvict):
				delete(m, k)
			case !ok:
				fr.fail("db %d key %.40q: gone from the engine, neither expired nor evicted", db, k)
			}
		}
		for k, got := range after[db] {
			if _, ok := m[k]; !ok && fr.partialHash(db, k, got, 0) {
				m[k] = oentry{h: got.h}
			} else if !ok && (got.exp == 0 || got.exp >= now) {
				fr.fail("db %d key %.40q: in the engine (%s), not in the model", db, k, showState(got))
			}
		}
	}
	if fr.limit > 0 {
		if u := fr.e.UsedMemory(); u > max(fr.limit, usedBefore) {
			fr.fail("used memory %d over maxmemory %d (was %d)", u, fr.limit, usedBefore)
		}
	}
	if err := fr.e.Verify(); err != nil {
		fr.fail("verify: %v", err)
	}
}

// partialHash reports whether got may be what a refused multi-field HSET left of key: the
// engine keeps the pairs written before the reallocation that failed, and reports the write
// (hashWrite in hash.go; Redis would have refused the whole command or run all of it).
func (fr *fuzzRunner) partialHash(db int, k string, got keyState, exp int64) bool {
	return fr.refusedOp && got.t == TypeHash && got.exp == exp && fr.reported(db, k, EventWrite)
}

func showState(s keyState) string {
	v := fmt.Sprintf("%d bytes (xxhash %x)", s.vlen, s.vsum)
	if s.t == TypeHash {
		v = fmt.Sprintf("%d fields", len(s.h))
	}
	return fmt.Sprintf("%v %s exp %d", s.t, v, s.exp)
}

// finish compares every database through the engine's own reads (opRunner.compare).
func (fr *fuzzRunner) finish() {
	cur := fr.cur
	for db := range fr.models {
		fr.use(db)
		fr.compare()
		fr.models[db] = fr.m.m
	}
	fr.use(cur)
}

// TestEngineOpsSeedsReachEveryOp keeps the committed corpus of FuzzEngineOps meaningful:
// together its inputs run every operation, with and without a memory limit, and evict keys
// and refuse writes. The seeds are random choices after a variant byte (one per policy,
// with and without a limit, with one segment and with four), picked among many for the
// operations they reach; when the operation set changes, fuzzer output can replace them.
func TestEngineOpsSeedsReachEveryOp(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzEngineOps", "*"))
	if len(files) == 0 {
		t.Skip("no seed corpus")
	}
	var reached [extraOps + 19 + hashOps]int
	limited, evicted, refused := 0, 0, 0
	for _, name := range files {
		data := readCorpusBytes(t, name)
		fr := newFuzzRunner(t, data)
		for !fr.done() {
			fr.op()
		}
		fr.finish()
		for i, n := range fr.reached {
			reached[i] += n
		}
		if fr.limit > 0 {
			limited++
		}
		evicted += fr.evicted
		refused += fr.refused
	}
	for i, n := range reached {
		if n == 0 {
			t.Errorf("no seed reaches operation %d", i)
		}
	}
	if limited == 0 || evicted == 0 || refused == 0 {
		t.Errorf("seeds under maxmemory: %d, keys evicted %d, writes refused %d: want some of each", limited, evicted, refused)
	}
}

// readCorpusBytes reads a "go test fuzz v1" file holding one []byte.
func readCorpusBytes(t *testing.T, name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") {
		t.Fatalf("%s: not a one-[]byte corpus file", name)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}
