package engine

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidecache/sidecache/evict"
)

const minuteMs = 60000

// evictModel is the oracle of the eviction tests: every db's keys with value and expiry,
// kept in step with the engine through OnChange (an evicted or expired key leaves the
// model when the engine says so).
type evictModel struct {
	mu      sync.Mutex
	dbs     []map[string]oentry
	evicted int64
}

func newEvictEngine(t testing.TB, cfg Config) (*Engine, *evictModel) {
	m := &evictModel{}
	n := cfg.Databases
	if n == 0 {
		n = 16
	}
	for i := 0; i < n; i++ {
		m.dbs = append(m.dbs, map[string]oentry{})
	}
	cfg.OnChange = func(db int, key []byte, ev Event) {
		m.mu.Lock()
		defer m.mu.Unlock()
		switch ev {
		case EventEvict:
			m.evicted++
			delete(m.dbs[db], string(key))
		case EventExpire:
			delete(m.dbs[db], string(key))
		}
	}
	return open(t, cfg), m
}

// TestEvictionRandomOps drives random writes through every policy under a small maxmemory
// with a fake clock: after every write used memory is within maxmemory, the engine holds
// exactly the model's keys (evictions reported through OnChange), allkeys policies never
// answer OOM, and every so often the full recount (Verify) agrees with the accounting.
func TestEvictionRandomOps(t *testing.T) {
	for p := evict.NoEviction; p <= evict.VolatileTTL; p++ {
		t.Run(p.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(p), 42))
			const maxmem = 1 << 20
			e, m := newEvictEngine(t, Config{Databases: 2, Segments: 8, MaxMemory: maxmem, Policy: p, MaxValueSize: 1 << 20})
			now := int64(t0)
			key := func() string { return "k" + strconv.Itoa(rng.IntN(3000)) }
			val := func() string {
				switch rng.IntN(20) {
				case 0:
					return strings.Repeat("L", 33000+rng.IntN(40000)) // large entry
				case 1, 2:
					return strconv.Itoa(rng.IntN(1000))
				default:
					return strings.Repeat("v", rng.IntN(1500))
				}
			}
			ooms, released := 0, 0
			ops := 6000
			if testing.Short() {
				ops = 1500
			}
			for n := 0; n < ops; n++ {
				db := rng.IntN(2)
				d := e.DB(db)
				k := key()
				now += int64(rng.IntN(20000))
				var exp int64
				if rng.IntN(2) == 0 {
					exp = now + 1 + int64(rng.IntN(30*minuteMs))
				}
				var err error
				op := rng.IntN(7)
				v := val()
				m.mu.Lock()
				model := m.dbs[db]
				m.mu.Unlock()
				get := func(k string) (oentry, bool) {
					m.mu.Lock()
					defer m.mu.Unlock()
					en, ok := model[k]
					if ok && en.exp != 0 && en.exp < now {
						return oentry{}, false
					}
					return en, ok
				}
				put := func(k string, en oentry) {
					m.mu.Lock()
					model[k] = en
					m.mu.Unlock()
				}
				switch op {
				case 0, 1: // SET
					_, err = d.Set([]byte(k), []byte(v), now, SetOptions{ExpireAt: exp}, nil)
					if err == nil {
						put(k, oentry{val: v, exp: exp})
					}
				case 2: // APPEND
					var n int64
					old, ok := get(k)
					n, err = d.Append([]byte(k), []byte(v[:min(len(v), 300)]), now)
					if err == nil {
						if !ok {
							old = oentry{}
						}
						old.val += v[:min(len(v), 300)]
						put(k, old)
						if n != int64(len(old.val)) {
							t.Fatalf("append length %d, model %d", n, len(old.val))
						}
					}
				case 3: // SETRANGE
					old, ok := get(k)
					off := rng.IntN(200)
					part := v[:min(len(v), 100)]
					if len(part) == 0 {
						continue
					}
					_, err = d.SetRange([]byte(k), int64(off), []byte(part), now)
					if err == nil {
						if !ok {
							old = oentry{}
						}
						b := []byte(old.val)
						if len(b) < off+len(part) {
							b = append(b, make([]byte, off+len(part)-len(b))...)
						}
						copy(b[off:], part)
						old.val = string(b)
						put(k, old)
					}
				case 4: // MSET
					k2 := key()
					v2 := strings.Repeat("m", rng.IntN(800))
					_, err = d.MSet([][]byte{[]byte(k), []byte(v), []byte(k2), []byte(v2)}, false, now)
					if err == nil {
						put(k, oentry{val: v})
						put(k2, oentry{val: v2})
					}
				case 5: // RENAME
					k2 := key()
					old, ok := get(k)
					_, err = d.Rename([]byte(k), []byte(k2), false, now)
					switch {
					case !ok:
						if err != ErrNoSuchKey {
							t.Fatalf("rename of a missing key: %v", err)
						}
						err = nil
					case err == nil && k != k2:
						m.mu.Lock()
						delete(model, k)
						model[k2] = old
						m.mu.Unlock()
					}
				case 6: // DEL, GET
					if rng.IntN(2) == 0 {
						d.Delete([]byte(k), now)
						m.mu.Lock()
						delete(model, k)
						m.mu.Unlock()
					} else {
						got, ok, _ := d.AppendGet(nil, []byte(k), now)
						if en, want := get(k); ok != want || (ok && string(got) != en.val) {
							t.Fatalf("op %d: GET %s = %v (%d bytes), model %v (%d bytes)", n, k, ok, len(got), want, len(en.val))
						}
					}
				}
				if err == ErrOOM {
					ooms++
					if !p.Volatile() && p != evict.NoEviction {
						t.Fatalf("op %d (%d): OOM under %v with %d keys", n, op, p, e.Stats().Keys)
					}
				} else if err != nil && err != ErrTooLarge {
					t.Fatalf("op %d (%d): %v", n, op, err)
				}
				if u := e.UsedMemory(); u > maxmem {
					t.Fatalf("op %d (%d): used %d > maxmemory %d", n, op, u, maxmem)
				}
				switch {
				case n%97 == 96:
					released += e.Rebalance(0) // a slice of a round: rounds span operations
				case n%1001 == 1000:
					if err := e.Swap(0, 1); err != nil {
						t.Fatal(err)
					}
					m.mu.Lock()
					m.dbs[0], m.dbs[1] = m.dbs[1], m.dbs[0]
					m.mu.Unlock()
				}
				if n%500 == 499 {
					mustVerify(t, e)
					compareEvictModel(t, e, m, now)
				}
			}
			for n := e.Rebalance(time.Hour); n > 0; n = e.Rebalance(time.Hour) {
				released += n
			}
			mustVerify(t, e)
			compareEvictModel(t, e, m, now)
			st := e.Stats()
			if st.EvictedKeys != m.evicted {
				t.Fatalf("evicted_keys %d, EventEvict reported %d", st.EvictedKeys, m.evicted)
			}
			if p == evict.NoEviction && (st.EvictedKeys != 0 || ooms == 0) {
				t.Fatalf("noeviction: %d evicted, %d OOM", st.EvictedKeys, ooms)
			}
			if p != evict.NoEviction && st.EvictedKeys == 0 {
				t.Fatalf("%v evicted nothing", p)
			}
			t.Logf("%v: %d keys, %d evicted, %d OOM, used %d, %d pages rebalanced away", p, st.Keys, st.EvictedKeys, ooms, st.UsedMemory, released)
		})
	}
}

// compareEvictModel checks that the engine holds exactly the model's live keys and values.
func compareEvictModel(t *testing.T, e *Engine, m *evictModel, now int64) {
	t.Helper()
	m.mu.Lock()
	want := make([]map[string]oentry, len(m.dbs))
	for i, mm := range m.dbs {
		want[i] = map[string]oentry{}
		for k, v := range mm {
			if v.exp == 0 || v.exp >= now {
				want[i][k] = v
			}
		}
	}
	m.mu.Unlock()
	for db := range want {
		d := e.DB(db)
		seen := 0
		var cur uint64
		for {
			cur = d.Scan(cur, 100, now, func(k []byte, _ Type) {
				seen++
				if _, ok := want[db][string(k)]; !ok {
					t.Fatalf("db %d: engine holds %q, the model does not", db, k)
				}
			})
			if cur == 0 {
				break
			}
		}
		if seen != len(want[db]) {
			t.Fatalf("db %d: engine has %d live keys, model %d", db, seen, len(want[db]))
		}
		for k, en := range want[db] {
			got, ok, _ := d.AppendGet(nil, []byte(k), now)
			if !ok || string(got) != en.val {
				t.Fatalf("db %d: %q = %v (%d bytes), model %d bytes", db, k, ok, len(got), len(en.val))
			}
		}
	}
}

func fill(t *testing.T, d *DB, prefix string, n, size int, exp int64, now int64) {
	t.Helper()
	v := make([]byte, size)
	for i := 0; i < n; i++ {
		if _, err := d.Set([]byte(prefix+strconv.Itoa(i)), v, now, SetOptions{ExpireAt: exp}, nil); err != nil {
			t.Fatalf("set %s%d: %v", prefix, i, err)
		}
	}
}

// fillUntil adds keys prefix0, prefix1, ... until the engine has evicted n keys in all.
func fillUntil(t *testing.T, e *Engine, d *DB, prefix string, evicted int64, size int, exp, now int64) {
	t.Helper()
	v := make([]byte, size)
	for i := 0; e.Stats().EvictedKeys < evicted; i++ {
		if i > 1_000_000 {
			t.Fatal("no eviction")
		}
		if _, err := d.Set([]byte(prefix+strconv.Itoa(i)), v, now, SetOptions{ExpireAt: exp}, nil); err != nil {
			t.Fatalf("set %s%d: %v", prefix, i, err)
		}
	}
}

func survivors(d *DB, prefix string, n int, now int64) int {
	c := 0
	for i := 0; i < n; i++ {
		if _, ok := d.Inspect([]byte(prefix+strconv.Itoa(i)), now, false, nil); ok {
			c++
		}
	}
	return c
}

// Under allkeys-lfu, keys read often survive a flood of new keys; keys never read do not.
func TestEvictLFUKeepsHotKeys(t *testing.T) {
	e := open(t, Config{Databases: 1, Segments: 4, MaxMemory: 2 << 20, Policy: evict.AllKeysLFU})
	d := e.DB(0)
	now := int64(t0)
	fill(t, d, "hot", 500, 200, 0, now)
	fill(t, d, "cold", 500, 200, 0, now)
	for r := 0; r < 20; r++ {
		for i := 0; i < 500; i++ {
			d.Get([]byte("hot"+strconv.Itoa(i)), now, func([]byte) {})
		}
	}
	fill(t, d, "new", 20000, 200, 0, now) // ~5x what fits
	hot, cold := survivors(d, "hot", 500, now), survivors(d, "cold", 500, now)
	t.Logf("hot %d/500, cold %d/500 survive", hot, cold)
	// Cold keys tie with the new ones (both at the initial counter): they go at the same rate.
	if hot < 480 || cold > 250 {
		t.Fatalf("LFU kept hot %d/500, cold %d/500", hot, cold)
	}
	if e.UsedMemory() > 2<<20 {
		t.Fatal("over maxmemory")
	}
}

// Under allkeys-lru, keys read recently survive; keys idle for long go first.
func TestEvictLRUKeepsRecentKeys(t *testing.T) {
	e := open(t, Config{Databases: 1, Segments: 4, MaxMemory: 2 << 20, Policy: evict.AllKeysLRU})
	d := e.DB(0)
	now := int64(t0)
	fill(t, d, "old", 7000, 200, 0, now) // nearly full
	now += 3600_000
	for i := 0; i < 3500; i++ {
		d.Get([]byte("old"+strconv.Itoa(i)), now, func([]byte) {}) // the first half is recent again
	}
	now += 1000
	fillUntil(t, e, d, "new", 2000, 200, 0, now)
	recent, idle := survivors(d, "old", 3500, now), 0
	for i := 3500; i < 7000; i++ {
		if _, ok := d.Inspect([]byte("old"+strconv.Itoa(i)), now, false, nil); ok {
			idle++
		}
	}
	t.Logf("recent %d/3500, idle %d/3500 survive", recent, idle)
	if recent < 3300 || idle > 1700 {
		t.Fatalf("LRU kept recent %d/3500, idle %d/3500", recent, idle)
	}
}

// volatile-ttl evicts the keys expiring soonest first, never keys without a TTL.
func TestEvictVolatileTTL(t *testing.T) {
	e := open(t, Config{Databases: 1, Segments: 2, MaxMemory: 2 << 20, Policy: evict.VolatileTTL})
	d := e.DB(0)
	now := int64(t0)
	fill(t, d, "perm", 1000, 200, 0, now)
	fill(t, d, "soon", 3000, 200, now+60_000, now)
	fill(t, d, "late", 3000, 200, now+3600_000, now)
	fillUntil(t, e, d, "new", 1500, 200, now+7200_000, now)
	if n := survivors(d, "perm", 1000, now); n != 1000 {
		t.Fatalf("volatile-ttl evicted %d keys without a TTL", 1000-n)
	}
	soon, late := survivors(d, "soon", 3000, now), survivors(d, "late", 3000, now)
	t.Logf("soon %d/3000, late %d/3000 survive", soon, late)
	if soon > 1800 || late < 2700 {
		t.Fatalf("volatile-ttl kept soon %d, late %d", soon, late)
	}
}

// Without evictable keys a write is refused with ErrOOM and changes nothing; reads work.
func TestEvictNothingToEvict(t *testing.T) {
	for _, p := range []evict.Policy{evict.NoEviction, evict.VolatileLRU, evict.VolatileLFU, evict.VolatileRandom, evict.VolatileTTL} {
		e := open(t, Config{Databases: 2, Segments: 4, MaxMemory: 256 << 10, Policy: p})
		d := e.DB(0)
		var err error
		n := 0
		for ; n < 100000 && err == nil; n++ {
			_, err = d.Set([]byte("k"+strconv.Itoa(n)), make([]byte, 100), t0, SetOptions{}, nil)
		}
		if err != ErrOOM {
			t.Fatalf("%v: no OOM after %d keys", p, n)
		}
		for err = nil; err == nil; n++ {
			_, err = d.Set([]byte("k"+strconv.Itoa(n)), nil, t0, SetOptions{}, nil)
		}
		used := e.UsedMemory()
		if _, err := e.DB(1).Set([]byte("other"), []byte("x"), t0, SetOptions{}, nil); err != ErrOOM {
			t.Fatalf("%v: set in db 1: %v", p, err)
		}
		if _, err := d.Append([]byte("k1"), make([]byte, 100), t0); err != ErrOOM {
			t.Fatalf("%v: append: %v", p, err)
		}
		if v, ok := getString(d, "k1", t0); !ok || len(v) != 100 {
			t.Fatalf("%v: reads must keep working", p)
		}
		if e.UsedMemory() != used || e.Stats().EvictedKeys != 0 {
			t.Fatalf("%v: a refused write changed memory or evicted", p)
		}
		mustVerify(t, e)
	}
}

// A value larger than maxmemory is refused at once, without evicting anything.
func TestEvictTooLargeForLimit(t *testing.T) {
	e := open(t, Config{Databases: 1, Segments: 2, MaxMemory: 256 << 10, Policy: evict.AllKeysLRU})
	d := e.DB(0)
	fill(t, d, "k", 100, 100, 0, t0)
	if _, err := d.Set([]byte("big"), make([]byte, 300<<10), t0, SetOptions{}, nil); err != ErrOOM {
		t.Fatal(err)
	}
	if st := e.Stats(); st.EvictedKeys != 0 || st.Keys != 100 {
		t.Fatalf("%+v", st)
	}
}

// Lowering maxmemory and EvictToLimit evict down to the new limit, one event per key.
func TestEvictToLimit(t *testing.T) {
	e, m := newEvictEngine(t, Config{Databases: 2, Segments: 8, Policy: evict.AllKeysLFU})
	now := int64(t0)
	fill(t, e.DB(0), "a", 20000, 100, 0, now)
	fill(t, e.DB(1), "b", 5000, 100, 0, now)
	before := e.UsedMemory()
	e.SetMaxMemory(before / 3)
	if !e.OverLimit() {
		t.Fatal("not over the limit")
	}
	for {
		err := e.EvictToLimit(now, time.Millisecond)
		if err == nil {
			break
		}
		if err != ErrBudget {
			t.Fatal(err)
		}
	}
	if u := e.UsedMemory(); u > before/3 {
		t.Fatalf("used %d > %d", u, before/3)
	}
	st := e.Stats()
	if st.EvictedKeys == 0 || st.EvictedKeys != m.evicted || st.Keys+st.EvictedKeys != 25000 {
		t.Fatalf("%+v, events %d", st, m.evicted)
	}
	mustVerify(t, e)
	// Under noeviction there is nothing to do: ErrOOM, and memory stays.
	e.SetPolicy(evict.NoEviction)
	e.SetMaxMemory(1)
	if err := e.EvictToLimit(now, time.Second); err != ErrOOM {
		t.Fatal(err)
	}
}

// A write in a database short of memory takes keys from the others: under LFU when the
// others' keys are colder or tie, under random in proportion to their keys.
func TestEvictAcrossDatabases(t *testing.T) {
	for _, p := range []evict.Policy{evict.AllKeysLFU, evict.AllKeysRandom} {
		e := open(t, Config{Databases: 4, Segments: 4, MaxMemory: 1 << 20, Policy: p})
		fill(t, e.DB(0), "a", 20000, 100, 0, t0) // evicts within db 0
		fill(t, e.DB(3), "z", 2000, 100, 0, t0)  // db 3 starts empty
		n := e.DB(3).Len()
		t.Logf("%v: db 3 keeps %d/2000, db 0 %d", p, n, e.DB(0).Len())
		if n < 800 {
			t.Fatalf("%v: db 3 has %d keys", p, n)
		}
		if e.UsedMemory() > 1<<20 {
			t.Fatal("over maxmemory")
		}
		mustVerify(t, e)
	}
}

// OBJECT FREQ's counter: 5 for a new key, 6 after the first read (the increment is certain
// at the initial value), decaying by one per lfu-decay-time minutes.
func TestLFUCounterThroughEngine(t *testing.T) {
	e := open(t, Config{Databases: 1, Segments: 1, Policy: evict.AllKeysLFU})
	d := e.DB(0)
	now := int64(t0)
	d.Set([]byte("k"), []byte("v"), now, SetOptions{}, nil)
	freq := func(now int64) uint8 {
		info, ok := d.Inspect([]byte("k"), now, false, nil)
		if !ok {
			t.Fatal("missing")
		}
		return evict.LFUCounter(info.Access, now, e.LFUDecayTime())
	}
	if f := freq(now); f != evict.LFUInitVal {
		t.Fatalf("new key: %d", f)
	}
	d.Get([]byte("k"), now, func([]byte) {})
	if f := freq(now); f != evict.LFUInitVal+1 {
		t.Fatalf("after a read: %d", f)
	}
	if f := freq(now + 3*minuteMs); f != evict.LFUInitVal-2 {
		t.Fatalf("after 3 minutes: %d", f)
	}
	e.SetLFU(10, 0)
	if f := freq(now + 3*minuteMs); f != evict.LFUInitVal+1 {
		t.Fatalf("decay off: %d", f)
	}
}

// Writers on several goroutines under eviction, with the value sizes shifting twice
// (100 B, then ~3 KiB, then ~300 B) while rebalancing and SWAPDB run alongside: no OOM under
// allkeys-lru, within maxmemory once they stop, every value intact (each value's bytes
// derive from its length, so a misplaced move shows), and the recount agrees (-race checks
// the locking).
func TestEvictConcurrentWriters(t *testing.T) {
	const maxmem = 4 << 20
	e := open(t, Config{Databases: 2, Segments: 8, MaxMemory: maxmem, Policy: evict.AllKeysLRU})
	mkval := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(n + i)
		}
		return b
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := 0; i < 20000; i++ {
				d := e.DB(rng.IntN(2))
				k := []byte(fmt.Sprintf("g%d:%d", g, rng.IntN(50000)))
				size := 100 + rng.IntN(16)
				switch {
				case i > 14000:
					size = 300 + rng.IntN(40)
				case i > 7000:
					size = 3000 + rng.IntN(200)
				}
				var err error
				switch rng.IntN(4) {
				case 0:
					_, err = d.MSet([][]byte{k, mkval(size), []byte(fmt.Sprint("m", i)), mkval(1)}, false, t0)
				case 1:
					_, err = d.Rename(k, []byte(fmt.Sprintf("g%d:%d", g, rng.IntN(50000))), false, t0)
					if err == ErrNoSuchKey {
						err = nil
					}
				default:
					_, err = d.Set(k, mkval(size), t0, SetOptions{}, nil)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	// Rebalancing and SWAPDB run alongside the writers, as the background task and clients do.
	stop := make(chan struct{})
	bg := make(chan int)
	go func() {
		released := 0
		for i := 0; ; i++ {
			select {
			case <-stop:
				bg <- released
				return
			default:
			}
			released += e.Rebalance(100 * time.Microsecond)
			if i%50 == 0 {
				e.Swap(0, 1)
			}
		}
	}()
	wg.Wait()
	close(stop)
	released := <-bg
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for e.Rebalance(time.Hour) > 0 {
	}
	if u := e.UsedMemory(); u > maxmem {
		t.Fatalf("used %d > %d", u, maxmem)
	}
	st := e.Stats()
	t.Logf("%d pages given back while writing; used %d KiB, arena committed %d KiB", released, st.UsedMemory>>10, st.ArenaCommitted>>10)
	mustVerify(t, e)
	for db := 0; db < 2; db++ {
		var keys []string
		var cur uint64
		for {
			cur = e.DB(db).Scan(cur, 1000, t0, func(k []byte, _ Type) { keys = append(keys, string(k)) })
			if cur == 0 {
				break
			}
		}
		for _, k := range keys {
			got, ok, _ := e.DB(db).AppendGet(nil, []byte(k), t0)
			if !ok || string(got) != string(mkval(len(got))) {
				t.Fatalf("db %d %s: value corrupted", db, k)
			}
		}
	}
}

// The write path under eviction pressure allocates nothing.
func TestEvictingSetDoesNotAllocate(t *testing.T) {
	e := open(t, Config{Databases: 1, Segments: 4, MaxMemory: 1 << 20, Policy: evict.AllKeysLFU})
	d := e.DB(0)
	keys := make([][]byte, 50000)
	for i := range keys {
		keys[i] = []byte("key:" + strconv.Itoa(i))
	}
	val := make([]byte, 100)
	i := 0
	set := func() {
		d.Set(keys[i%len(keys)], val, t0, SetOptions{}, nil)
		i++
	}
	for j := 0; j < 20000; j++ {
		set()
	}
	if e.Stats().EvictedKeys == 0 {
		t.Fatal("no eviction happened")
	}
	if n := testing.AllocsPerRun(1000, set); n != 0 {
		t.Fatalf("%v allocations per evicting SET", n)
	}
	// MSET's gate (its per-segment plan, asked again after each eviction) allocates nothing.
	kv := make([][]byte, 8)
	mset := func() {
		for k := 0; k < len(kv); k += 2 {
			kv[k], kv[k+1] = keys[i%len(keys)], val
			i++
		}
		if _, err := d.MSet(kv, false, t0); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(1000, mset); n != 0 {
		t.Fatalf("%v allocations per evicting MSET", n)
	}
}

// While used memory is above a lowered limit, a write evicts about what it adds, not the
// whole excess, and never raises used memory.
func TestWriteWhileOverLimitIsNeutral(t *testing.T) {
	e := open(t, Config{Databases: 1, Segments: 4, Policy: evict.AllKeysLRU})
	d := e.DB(0)
	fill(t, d, "k", 20000, 100, 0, t0)
	used := e.UsedMemory()
	e.SetMaxMemory(used / 2)
	for i := 0; i < 100; i++ {
		if _, err := d.Set([]byte("new"+strconv.Itoa(i)), make([]byte, 100), t0, SetOptions{}, nil); err != nil {
			t.Fatal(err)
		}
		if u := e.UsedMemory(); u > used {
			t.Fatalf("write %d raised used memory %d -> %d", i, used, u)
		}
		used = e.UsedMemory()
	}
	if n := e.Stats().EvictedKeys; n < 100 || n > 400 {
		t.Fatalf("100 writes evicted %d keys", n)
	}
	if err := e.EvictToLimit(t0, time.Hour); err != nil || e.OverLimit() {
		t.Fatal(err)
	}
	mustVerify(t, e)
}

// With mixed value sizes under maxmemory, the arena commits little beyond used memory: pages
// are carved per size class for all segments, and free chunks beyond a few KiB per segment
// and class go to a list every segment draws from (DESIGN.md invariant 5's RSS bound needs
// the committed arena near used_memory; per-segment pages committed 3.8x).
func TestArenaCommittedNearUsed(t *testing.T) {
	const maxmem = 16 << 20
	e := open(t, Config{Segments: 64, MaxMemory: maxmem, Policy: evict.AllKeysLFU})
	d := e.DB(0)
	r := rand.New(rand.NewPCG(1, 2))
	val := make([]byte, 8192)
	for i := 0; i < 300000; i++ {
		k := r.IntN(100000)
		u := int(uint64(k)*0x9E3779B97F4A7C15>>40) % 1000
		sz := 64 + u%192
		if u >= 600 {
			sz = 256 + (u*7919)%1792
		}
		if u >= 900 {
			sz = 2048 + (u*104729)%6144
		}
		if _, err := d.Set([]byte("key:"+strconv.Itoa(k)), val[:sz], t0, SetOptions{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	st := e.Stats()
	t.Logf("used %d KiB, arena committed %d KiB (%.2fx), evicted %d", st.UsedMemory>>10, st.ArenaCommitted>>10, float64(st.ArenaCommitted)/float64(st.UsedMemory), st.EvictedKeys)
	if st.ArenaCommitted > st.UsedMemory*13/10+int64(numClasses)*pageSize {
		t.Fatalf("arena committed %d for %d used", st.ArenaCommitted, st.UsedMemory)
	}
	mustVerify(t, e)
}

// When the size mix shifts (small values, then only 8 KiB ones) under maxmemory, Rebalance
// empties the small class's sparse pages and gives them back, so the arena does not hold
// both mixes; every value survives its move intact.
func TestRebalanceAfterMixShift(t *testing.T) {
	const maxmem = 16 << 20
	e := open(t, Config{Databases: 2, Segments: 16, MaxMemory: maxmem, Policy: evict.AllKeysRandom})
	d := e.DB(0)
	val := func(k string, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = k[len(k)-1] + byte(i)
		}
		return b
	}
	for i := 0; i < 200000; i++ {
		k := "small:" + strconv.Itoa(i)
		if _, err := d.Set([]byte(k), val(k, 100), t0, SetOptions{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 1500; i++ {
		k := "big:" + strconv.Itoa(i)
		if _, err := e.DB(i%2).Set([]byte(k), val(k, 8000), t0, SetOptions{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := e.Stats()
	released := 0
	for n := e.Rebalance(time.Hour); n > 0; n = e.Rebalance(time.Hour) {
		released += n
		mustVerify(t, e)
	}
	after := e.Stats()
	t.Logf("used %d KiB; arena committed %d KiB before rebalancing, %d KiB after (%d pages given back)",
		after.UsedMemory>>10, before.ArenaCommitted>>10, after.ArenaCommitted>>10, released)
	if released == 0 || after.ArenaCommitted > after.UsedMemory*13/10+int64(numClasses)*pageSize {
		t.Fatalf("arena committed %d for %d used after rebalancing", after.ArenaCommitted, after.UsedMemory)
	}
	if after.UsedMemory != before.UsedMemory || after.Keys != before.Keys {
		t.Fatalf("rebalancing changed the keyspace: %+v -> %+v", before, after)
	}
	for db := 0; db < 2; db++ {
		var keys []string
		var cur uint64
		for {
			cur = e.DB(db).Scan(cur, 1000, t0, func(k []byte, _ Type) { keys = append(keys, string(k)) })
			if cur == 0 {
				break
			}
		}
		for _, k := range keys {
			got, ok, _ := e.DB(db).AppendGet(nil, []byte(k), t0)
			n := 100
			if strings.HasPrefix(k, "big:") {
				n = 8000
			}
			if want := val(k, n); !ok || string(got) != string(want) {
				t.Fatalf("%s changed in its move", k)
			}
		}
	}
	mustVerify(t, e)
}

// Concurrent writers flooding new keys while the value size shifts between tiny and large:
// at no point does what the segments hold pass maxmemory (Stats sums them under every
// lock, so it sees only completed writes). Three ways it used to: a writer admitted
// "neutrally" while used was over the limit only because another write had allocated under
// its reservation (the room it freed was spent twice); the same while segBytes read over
// the limit for a moment, an eviction having reached used before segBytes (one small write
// over, 32 or 64 bytes, seen only in busy parallel -race runs); and an insert whose slot
// spilled past the index's overflow region rebuilt the index without having reserved it.
func TestUsedNeverOverLimitUnderShiftingFlood(t *testing.T) {
	const maxmem = 16 << 20
	e := open(t, Config{Databases: 1, MaxMemory: maxmem, Policy: evict.AllKeysLRU})
	var stop atomic.Bool
	var worst, samples atomic.Int64
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		for !stop.Load() {
			worst.Store(max(worst.Load(), e.Stats().UsedMemory))
			samples.Add(1)
		}
	}()
	for phase, size := range []int{16, 128 << 10, 16, 8 << 10, 100} {
		val := make([]byte, size)
		n := 2 * maxmem / max(size, 64)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < n/4; i++ {
					k := fmt.Appendf(nil, "f:%d:%d:%d", phase, g, i)
					// With few large keys, a writer may find every other one's segment busy
					// and be refused (evictElsewhereOrGiveUp): allowed, and not the point.
					if _, err := e.DB(0).Set(k, val, t0, SetOptions{}, nil); err != nil && err != ErrOOM {
						t.Error(err)
						return
					}
				}
			}(g)
		}
		wg.Wait()
	}
	stop.Store(true)
	<-checked
	if w := worst.Load(); w > maxmem {
		t.Fatalf("the segments held %d bytes, over maxmemory %d (%d samples)", w, int64(maxmem), samples.Load())
	}
	mustVerify(t, e)
}

// The room a writer evicts is its own until its write completes: between two of its
// evictions no other writer finds more room to reserve than there was before it started.
// The eviction callback runs at that point, under the evicting writer's locks, where a writer
// of another segment could run. Before, evicted bytes went back to used at once: another
// writer could reserve them, and the first, admitted on what it had evicted, spent them a
// second time (TestUsedNeverOverLimitUnderShiftingFlood).
func TestEvictedRoomStaysWithTheWriter(t *testing.T) {
	const maxmem = 1 << 20
	var e *Engine
	var on bool
	var evictions int
	var room int64 // most room any other writer could have reserved during the write
	e = open(t, Config{Databases: 1, Segments: 4, MaxMemory: maxmem, Policy: evict.AllKeysLRU,
		OnChange: func(_ int, _ []byte, ev Event) {
			if on && ev == EventEvict {
				evictions++
				room = max(room, maxmem-e.UsedMemory())
			}
		}})
	d := e.DB(0)
	fillUntil(t, e, d, "k", 100, 100, 0, t0)
	big := make([]byte, 8<<10)
	for _, write := range []struct {
		name string
		do   func() error
	}{
		{"SET", func() error { _, err := d.Set([]byte("big"), big, t0, SetOptions{}, nil); return err }},
		{"MSET", func() error {
			_, err := d.MSet([][]byte{[]byte("big1"), big, []byte("big2"), big}, false, t0)
			return err
		}},
	} {
		before := maxmem - e.UsedMemory()
		on, evictions, room = true, 0, 0
		err := write.do()
		on = false
		if err != nil {
			t.Fatal(err)
		}
		if evictions < 2 || room > before {
			t.Fatalf("%s: %d evictions; %d bytes free before it, %d during it", write.name, evictions, before, room)
		}
		if u := e.UsedMemory(); u > maxmem {
			t.Fatalf("%s: used memory %d over %d", write.name, u, int64(maxmem))
		}
		mustVerify(t, e)
	}
}

// An insert whose slot spills past the index's overflow region may rebuild the index more
// than once: a table grown for an unlucky cluster can still be too short at the end, and
// then the next is built, until one holds every entry. The gate reserves what the whole
// chain of rebuilds adds, not only the first: under noeviction the write is refused and
// changes nothing, under an evicting policy used memory stays within maxmemory.
func TestInsertReservesEveryRebuildOfASpill(t *testing.T) {
	for _, p := range []evict.Policy{evict.NoEviction, evict.AllKeysLRU} {
		// The 130th key is the write.
		e, d, keys := filledTail(t, p, 130)
		key, val := keys[129], []byte("v")
		before, maxmem := roomForFirstRebuild(e, d, key, val)
		ok, err := d.Set(key, val, t0, SetOptions{}, nil)
		u := e.UsedMemory()
		if p == evict.NoEviction {
			if err != ErrOOM || u != before {
				t.Fatalf("noeviction: set %v %v, used %d -> %d (maxmemory %d)", ok, err, before, u, maxmem)
			}
		} else if err != nil || !ok {
			t.Fatalf("%v: set %v %v", p, ok, err)
		}
		if u > maxmem {
			t.Fatalf("%v: used memory %d over maxmemory %d", p, u, maxmem)
		}
		mustVerify(t, e)
	}
}

// A rewrite into a new entry (SET of another size, APPEND past the chunk, a hash's new blob)
// allocates the new entry before it frees the old one, under the segment lock. With the
// segments exactly at maxmemory, OverLimit must never see both at once: it would make
// denyOOM evict a key for nothing, or under noeviction refuse another client's write.
func TestRewriteNeverShowsOldAndNewEntry(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("needs a second P to look while the writer holds the lock")
	}
	f := func(name string, small, add int, appends bool) {
		t.Helper()
		e := open(t, Config{Databases: 1, Segments: 1})
		d := e.DB(0)
		key := []byte("k")
		sv, bv, av := make([]byte, small), make([]byte, small+add), make([]byte, add)
		if _, err := d.Set(key, sv, t0, SetOptions{}, nil); err != nil {
			t.Fatal(err)
		}
		e.SetMaxMemory(e.UsedMemory() + entryCost(len(key), len(bv)) - entryCost(len(key), len(sv)))
		var stop atomic.Bool
		var over, looks atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				if e.OverLimit() {
					over.Add(1)
				}
				looks.Add(1)
			}
		}()
		var err error
		for i := 0; i < 3000 && err == nil; i++ {
			switch i % 3 {
			case 0:
				_, err = d.Set(key, bv, t0, SetOptions{}, nil)
			case 1:
				_, err = d.Set(key, sv, t0, SetOptions{}, nil)
			case 2:
				if appends {
					_, err = d.Append(key, av, t0)
				}
			}
		}
		stop.Store(true)
		<-done
		if err != nil {
			t.Fatal(name, err)
		}
		if n := over.Load(); n != 0 {
			t.Fatalf("%s: OverLimit true %d times in %d looks while one key was rewritten at maxmemory", name, n, looks.Load())
		}
		mustVerify(t, e)
	}
	f("inline", 1000, 1000, true)
	f("large", 40<<10, 40<<10, false) // a large value's APPEND regrows in place, with slack
}

// MSET reserves, per segment, every index rebuild its new keys can chain: keys homed past
// the end of a full overflow region rebuild the index, and a rebuilt table still too short
// for the cluster is followed by the next. Under noeviction the MSET is refused and writes
// no key; under an evicting policy used memory stays within maxmemory.
func TestMSetReservesEveryRebuildOfASpill(t *testing.T) {
	for _, p := range []evict.Policy{evict.NoEviction, evict.AllKeysLRU} {
		// The MSET adds three more keys and overwrites one of the 129.
		e, d, keys := filledTail(t, p, 132)
		s := &d.segs[0]
		val := []byte("v")
		kv := [][]byte{keys[0], val, keys[129], val, keys[130], val, keys[131], val}
		s.mu.Lock()
		// What the gate reserved before it followed the chain: the growth for the pairs
		// and one spill.
		one := s.idx.growBytesFor(4) + s.idx.spillBytes()
		s.mu.Unlock()
		before := e.UsedMemory()
		var entries int64
		for k := 0; k < len(kv); k += 2 {
			entries += entryCost(len(kv[k]), len(kv[k+1]))
		}
		maxmem := before + entries + one + 4096
		e.SetMaxMemory(maxmem)
		ok, err := d.MSet(kv, false, t0)
		u := e.UsedMemory()
		if p == evict.NoEviction {
			if err != ErrOOM || ok || u != before {
				t.Fatalf("noeviction: mset %v %v, used %d -> %d (maxmemory %d)", ok, err, before, u, maxmem)
			}
			for _, k := range keys[129:] {
				if found, _ := d.Get(k, t0, func([]byte) {}); found {
					t.Fatalf("noeviction: refused MSET wrote %s", k)
				}
			}
		} else if err != nil || !ok {
			t.Fatalf("%v: mset %v %v", p, ok, err)
		}
		if u > maxmem {
			t.Fatalf("%v: used memory %d over maxmemory %d", p, u, maxmem)
		}
		mustVerify(t, e)
	}
}

// spillBytes is what the one rebuild a spill starts adds to the index: the reservation the
// gate made before it walked the whole rebuild chain (chainBytes), kept to size the tests.
func (x *index) spillBytes() int64 {
	c, extra := x.spill()
	size, _ := tableBytes(c, extra)
	return int64(size - len(x.mem))
}

// growBytesFor is what k inserts add to the index as insert grows it, leaving out the
// rebuilds of a spill: the reservation MSET and BITOP made before they followed every
// rebuild, kept to size the tests.
func (x *index) growBytesFor(k uint32) int64 {
	c, n, size, mapped := x.cap, x.n, len(x.mem), x.mem != nil
	for ; k > 0; k-- {
		if !mapped || uint64(n+1)*10 > uint64(c)*9 {
			size, c = tableBytes(nextCap(c), x.minExtra)
			mapped = true
		}
		n++
	}
	return int64(size - len(x.mem))
}

// tailKeys returns n keys whose hashes are homed in the last slot of every index table up
// to 4096 homes: each table's overflow region takes them all.
// filledTail opens a one-segment engine under policy p and returns n tailKeys, the first
// 129 of them SET (value "v"): homed in the last slot of every table up to 4096 homes, they
// fill the tail of the first table exactly, so each of the others would spill. minExtra is
// what an earlier flood of identical hashes leaves (spill doubles the overflow region):
// each rebuild for a bigger capacity keeps the same tail, so only the one that doubles the
// overflow again (past 4 n + 1024 homes) holds them.
func filledTail(t *testing.T, p evict.Policy, n int) (*Engine, *DB, [][]byte) {
	t.Helper()
	e := open(t, Config{Databases: 1, Segments: 1, Policy: p})
	d := e.DB(0)
	s := &d.segs[0]
	keys := tailKeys(d, n)
	s.mu.Lock()
	s.idx.minExtra = 128
	s.mu.Unlock()
	for _, k := range keys[:129] {
		if _, err := d.Set(k, []byte("v"), t0, SetOptions{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys[129:] {
		if _, h := d.seg(k); s.idx.roomAfter(h, 1) || s.idx.full() {
			t.Fatal("the cluster does not fill the tail")
		}
	}
	return e, d, keys
}

// roomForFirstRebuild sets maxmemory to the used memory plus room for key's entry and the
// first index rebuild its insert sets off (filledTail's segment), not for the chain after
// it; it returns the used memory before and the new maxmemory.
func roomForFirstRebuild(e *Engine, d *DB, key, val []byte) (before, maxmem int64) {
	s := &d.segs[0]
	s.mu.Lock()
	first := s.idx.spillBytes()
	s.mu.Unlock()
	before = e.UsedMemory()
	maxmem = before + entryCost(len(key), len(val)) + first + 4096
	e.SetMaxMemory(maxmem)
	return before, maxmem
}

func tailKeys(d *DB, n int) [][]byte {
	var keys [][]byte
	for i := 0; len(keys) < n; i++ {
		k := []byte(fmt.Sprint("k", i))
		if _, h := d.seg(k); h >= ^uint32(0)-^uint32(0)/4096 {
			keys = append(keys, k)
		}
	}
	return keys
}

// A write's allocations consume its own reservation, so between its allocation and the end
// of the write used memory counts it once. Another writer, in another segment, whose write
// fits next to it is admitted as is: before, used counted the first write twice at that
// point (reservation and allocation), and the second was refused under noeviction (a false
// OOM) or evicted a key for room that was there. The first writer is an MSET of one key
// (admitSet) or a COPY (admit with a second segment held): its EventWrite is reported after
// the allocation and before the reservation's end, under its locks; the second, a SET, runs
// from that callback, on the same goroutine, in a later segment (the lock order), so the
// interleaving is fixed.
func TestWriteCountsItsAllocationOnce(t *testing.T) {
	for _, first := range []string{"MSET", "COPY"} {
		for _, p := range []evict.Policy{evict.NoEviction, evict.AllKeysLRU} {
			t.Run(first+"/"+p.String(), func(t *testing.T) { writeCountsItsAllocationOnce(t, first, p) })
		}
	}
}

func writeCountsItsAllocationOnce(t *testing.T, first string, p evict.Policy) {
	var e *Engine
	var on bool
	var keyA, keyB []byte
	var errB error
	var evictions int
	var during int64
	val := make([]byte, 100)
	e = open(t, Config{Databases: 1, Segments: 2, Policy: p,
		OnChange: func(_ int, key []byte, ev Event) {
			switch {
			case !on:
			case ev == EventEvict:
				evictions++
			case ev == EventWrite && string(key) == string(keyA):
				during = e.UsedMemory()
				_, errB = e.DB(0).Set(keyB, val, t0, SetOptions{}, nil)
			}
		}})
	d := e.DB(0)
	// A and B, then a filler in A's segment (0) and one in B's (1): the fillers create the
	// indexes (the writes grow none) and are what an evicting policy would take.
	var keys [4][]byte
	for i, n := 0, 0; n < 4; i++ {
		k := []byte(fmt.Sprint("w", i))
		if si, _ := d.segOf(hashKey(k)); si == n%2 {
			keys[n] = k
			n++
		}
	}
	keyA, keyB = keys[0], keys[1]
	for _, k := range keys[2:] {
		if _, err := d.Set(k, val, t0, SetOptions{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := e.UsedMemory()
	costA, costB := entryCost(len(keyA), len(val)), entryCost(len(keyB), len(val))
	maxmem := before + costA + costB // both fit, exactly
	e.SetMaxMemory(maxmem)
	on = true
	var ok bool
	var err error
	if first == "MSET" {
		ok, err = d.MSet([][]byte{keyA, val}, false, t0)
	} else { // a copy of A's filler: the same entry size
		ok, err = d.Copy(d, keys[2], keyA, false, t0)
	}
	on = false
	if err != nil || !ok {
		t.Fatalf("%v: %s %v %v", p, first, ok, err)
	}
	if errB != nil || evictions != 0 {
		t.Fatalf("%v: second write %v after %d evictions (used %d, maxmemory %d)", p, errB, evictions, during, maxmem)
	}
	if during != before+costA {
		t.Fatalf("%v: used memory %d during the first write, %d before it, which adds %d", p, during, before, costA)
	}
	if u := e.UsedMemory(); u != maxmem {
		t.Fatalf("%v: used memory %d, want %d", p, u, maxmem)
	}
	for _, k := range keys {
		if found, _ := d.Get(k, t0, func([]byte) {}); !found {
			t.Fatalf("%v: %s missing", p, k)
		}
	}
	mustVerify(t, e)
}

// batchBytes bounds what an MSET's inserts add to an index, from any table state and for any
// batch: random tables (some with keys crowded at the end of the overflow region, as an
// earlier flood of one hash leaves them), random batches of new keys, overwrites and
// repeats, some keys evicted after the batch was sketched (late). The bound is checked
// against what the MSET then adds; it is exact for every batch that fits the table as it is
// (0), and otherwise never more than one step of growth or spill over what is added.
func TestBatchBytesBoundsMSetIndexGrowth(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	rounds := 400
	if testing.Short() {
		rounds = 100
	}
	var exact, over, fitsOver, crowdOver, otherOver int
	var worst, worstCrowd, worstOther float64
	var allTail [][]byte
	for round := 0; round < rounds; round++ {
		e := open(t, Config{Databases: 1, Segments: 1})
		d := e.DB(0)
		s := &d.segs[0]
		key := func(i int) []byte { return []byte(fmt.Sprint("r", round, ":", i)) }
		crowd := rng.IntN(4) == 0 // keys homed at the end of every table
		var tail [][]byte
		if crowd {
			if allTail == nil {
				allTail = tailKeys(d, 600) // every engine of one segment hashes alike
			}
			tail = allTail[:300+rng.IntN(300)]
			s.mu.Lock()
			s.idx.minExtra = uint32(rng.IntN(3)) * 64
			s.mu.Unlock()
		}
		n0 := rng.IntN(4000)
		if rng.IntN(3) == 0 {
			n0 = rng.IntN(40)
		}
		var present [][]byte
		val := []byte("v")
		for i := 0; i < n0; i++ {
			k := key(i)
			if crowd && i < len(tail)/2 {
				k = tail[i]
			}
			if _, err := d.Set(k, val, t0, SetOptions{}, nil); err != nil {
				t.Fatal(err)
			}
			present = append(present, k)
		}
		var kv [][]byte
		pairs := 1 + rng.IntN(600)
		repeats := rng.IntN(4) == 0
		for i := 0; i < pairs; i++ {
			var k []byte
			switch c := rng.IntN(10); {
			case c < 2 && len(present) > 0:
				k = present[rng.IntN(len(present))]
			case c < 3 && repeats && len(kv) > 0:
				k = kv[2*rng.IntN(len(kv)/2)]
			case c < 6 && crowd && len(tail) > n0:
				k = tail[len(tail)/2+rng.IntN(len(tail)-len(tail)/2)]
			default:
				k = key(n0 + i)
			}
			kv = append(kv, k, val)
		}
		// As MSet sketches the batch; then the gate evicts some of the keys present.
		s.mu.Lock()
		s.batch.reset()
		var absent uint32
		fresh := map[string]uint32{} // the distinct new keys' hashes
		for k := 0; k < len(kv); k += 2 {
			if _, h := d.seg(kv[k]); s.lookup(h, kv[k], t0) < 0 {
				absent++
				s.batch.add(h)
				fresh[string(kv[k])] = h
			}
		}
		var late uint32
		evicts := rng.IntN(4) == 0
		for k := 0; evicts && k < len(kv); k += 2 {
			if _, h := d.seg(kv[k]); rng.IntN(8) == 0 {
				if i := s.find(h, kv[k]); i >= 0 {
					s.removeAt(i, 0, false)
					late++
				}
			}
		}
		bound := s.idx.batchBytes(&s.batch, late, absent+late)
		// Whether the new keys fit the table as it is, exactly: within its load limit, and
		// for every home as many empty slots at or after it as keys homed there or later.
		fits := late == 0 && s.idx.mem != nil && uint64(s.idx.n)+uint64(len(fresh)) <= uint64(s.idx.cap)*9/10
		if fits {
			var hs []uint32
			for _, h := range fresh {
				hs = append(hs, h)
			}
			slices.Sort(hs)
			empty, i := 0, len(s.idx.slots)
			for k := len(hs) - 1; k >= 0 && fits; k-- {
				for ; i > int(s.idx.home(hs[k])); i-- {
					if s.idx.slots[i-1].meta&metaUsed == 0 {
						empty++
					}
				}
				fits = empty >= len(hs)-k
			}
		}
		dups := len(fresh) != int(absent)
		before := s.idxBytes
		s.mu.Unlock()
		if _, err := d.MSet(kv, false, t0); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		added := s.idxBytes - before
		size := s.idxBytes
		s.mu.Unlock()
		if bound < added {
			t.Fatalf("round %d: batchBytes %d, the MSET added %d (%d entries, %d new, %d late, crowd %v)", round, bound, added, n0, absent, late, crowd)
		}
		r := float64(bound+before) / float64(size) // the largest table bounded over the one built
		switch {
		case bound == added:
			exact++
		case crowd:
			crowdOver++
			worstCrowd = max(worstCrowd, r)
		case dups || late > 0:
			otherOver++
			worstOther = max(worstOther, r)
		default:
			// Distinct keys spread over the hash space: the sketch places them almost where
			// they are; one growth or spill step and its page is the most it may be over.
			if fits {
				fitsOver++
			}
			over++
			worst = max(worst, r)
			if r > 1.5+float64(osPage)/float64(size) {
				t.Fatalf("round %d: batchBytes %d, the MSET added %d to %d bytes (%d entries, %d new)", round, bound, added, before, n0, absent)
			}
		}
		mustVerify(t, e)
		e.Close()
	}
	t.Logf("%d rounds: bound exact in %d; over in %d of distinct spread keys (%d of which fit as they were; the largest table bounded %.2fx the one built), %d with crowded keys (%.2fx), %d with repeated or evicted keys (%.2fx)",
		rounds, exact, over, fitsOver, worst, crowdOver, worstCrowd, otherOver, worstOther)
	if exact*10 < rounds*8 {
		t.Fatalf("the bound is exact in %d of %d rounds", exact, rounds)
	}
}

// An MSET of many new keys into a segment whose index has room for them all reserves no
// index growth: under noeviction it fits a maxmemory that leaves room for the entries only.
// The bound used to place every key at the batch's greatest hash: 200 keys reserved the
// rebuilds of a cluster of 200 at the end of the table.
func TestMSetReservesNoIndexGrowthItDoesNotNeed(t *testing.T) {
	e := open(t, Config{Databases: 1, Segments: 1, Policy: evict.NoEviction})
	d := e.DB(0)
	s := &d.segs[0]
	val := []byte("v")
	for i := 0; i < 1000; i++ {
		if _, err := d.Set([]byte(fmt.Sprint("old", i)), val, t0, SetOptions{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var kv [][]byte
	var entries int64
	for i := 0; i < 200; i++ {
		k := []byte(fmt.Sprint("new", i))
		kv = append(kv, k, val)
		entries += entryCost(len(k), len(val))
	}
	s.mu.Lock()
	idx := s.idxBytes
	if uint64(s.idx.n+200)*10 > uint64(s.idx.cap)*9 {
		t.Fatalf("%d keys in %d homes: the batch would grow the index", s.idx.n, s.idx.cap)
	}
	s.mu.Unlock()
	before := e.UsedMemory()
	e.SetMaxMemory(before + entries)
	if ok, err := d.MSet(kv, false, t0); err != nil || !ok {
		t.Fatalf("mset %v %v (used %d, maxmemory %d)", ok, err, before, before+entries)
	}
	if u := e.UsedMemory(); u != before+entries || s.idxBytes != idx {
		t.Fatalf("used memory %d -> %d, index %d -> %d bytes, for %d bytes of entries", before, u, idx, s.idxBytes, entries)
	}
	mustVerify(t, e)
}
