package engine

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sidecache/sidecache/evict"
)

func bs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// hashOf returns a hash's contents as a map, nil if the key is missing.
func hashOf(t testing.TB, d *DB, key string, now int64) map[string]string {
	t.Helper()
	var m map[string]string
	found, err := d.HGetAll([]byte(key), now, func(n int) { m = make(map[string]string, n) },
		func(f, v []byte) { m[string(f)] = string(v) })
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return nil
	}
	return m
}

// hashOrder returns a hash's fields in HGETALL order.
func hashOrder(t testing.TB, d *DB, key string) []string {
	t.Helper()
	var fs []string
	if _, err := d.HGetAll([]byte(key), t0, func(int) {}, func(f, v []byte) { fs = append(fs, string(f)) }); err != nil {
		t.Fatal(err)
	}
	return fs
}

func hashEnc(t testing.TB, d *DB, key string) string {
	t.Helper()
	enc := ""
	info, ok := d.Inspect([]byte(key), t0, false, func(v []byte) { enc = HashEncoding(v) })
	if !ok || info.Type != TypeHash {
		t.Fatalf("%s: not a hash (%v %v)", key, ok, info.Type)
	}
	return enc
}

// verifyAll is Verify plus every hash blob's structure (Verify walks blobs only in
// invariants builds).
func verifyAll(t testing.TB, e *Engine) {
	t.Helper()
	mustVerify(t, e)
	for di := range e.dbs {
		for si := range e.dbs[di].segs {
			s := &e.dbs[di].segs[si]
			s.mu.Lock()
			for i := range s.idx.slots {
				sl := &s.idx.slots[i]
				if sl.meta&metaUsed != 0 && s.typeOf(sl.off) == TypeHash {
					if err := hbVerify(s.valOf(sl.off)); err != nil {
						s.unlock()
						t.Fatalf("db %d key %q: %v", di, s.keyOf(sl.off), err)
					}
				}
			}
			s.unlock()
		}
	}
}

func TestHashBasics(t *testing.T) {
	var evs []string
	e := open(t, Config{OnChange: func(db int, key []byte, ev Event) { evs = append(evs, fmt.Sprintf("%s:%d", key, ev)) }})
	d := e.DB(0)
	k := []byte("h")
	if n, err := d.HSet(k, bs("a", "1", "b", "2", "a", "3"), false, t0); n != 2 || err != nil {
		t.Fatal("hset", n, err)
	}
	if n, _ := d.HSet(k, bs("a", "4"), true, t0); n != 0 {
		t.Fatal("hsetnx on an existing field wrote")
	}
	if n, _ := d.HSet(k, bs("c", "5"), true, t0); n != 1 {
		t.Fatal("hsetnx on a new field did not write")
	}
	if got := hashOrder(t, d, "h"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("order %q", got)
	}
	var v []byte
	if ok, err := d.HGet(k, []byte("a"), t0, func(b []byte) { v = append(v[:0], b...) }); !ok || err != nil || string(v) != "3" {
		t.Fatal("hget", ok, err, v)
	}
	if ok, _ := d.HGet(k, []byte("zz"), t0, nil); ok {
		t.Fatal("hget of a missing field")
	}
	if ok, err := d.HGet([]byte("nokey"), []byte("a"), t0, nil); ok || err != nil {
		t.Fatal("hget of a missing key", ok, err)
	}
	var got []string
	d.HMGet(k, bs("c", "x", "a"), t0, func(v []byte, ok bool) { got = append(got, fmt.Sprintf("%s/%v", v, ok)) })
	if fmt.Sprint(got) != "[5/true /false 3/true]" {
		t.Fatal("hmget", got)
	}
	if n, _ := d.HLen(k, t0); n != 3 {
		t.Fatal("hlen", n)
	}
	if n, _ := d.HDel(k, bs("a", "x", "a"), t0); n != 1 {
		t.Fatal("hdel", n)
	}
	evs = nil
	if n, _ := d.HDel(k, bs("b", "c", "never-looked-at"), t0); n != 2 || d.Exists(k, t0) {
		t.Fatal("hdel of every field must delete the key", n)
	}
	if fmt.Sprint(evs) != "[h:2]" {
		t.Fatal("events", evs)
	}
	// WRONGTYPE both ways.
	d.Set([]byte("s"), []byte("v"), t0, SetOptions{}, nil)
	for name, err := range map[string]error{
		"hset":  func() error { _, err := d.HSet([]byte("s"), bs("f", "v"), false, t0); return err }(),
		"hget":  func() error { _, err := d.HGet([]byte("s"), []byte("f"), t0, nil); return err }(),
		"hdel":  func() error { _, err := d.HDel([]byte("s"), bs("f"), t0); return err }(),
		"hlen":  func() error { _, err := d.HLen([]byte("s"), t0); return err }(),
		"hmget": d.HMGet([]byte("s"), bs("f"), t0, func([]byte, bool) { t.Fatal("called") }),
		"hincr": func() error { _, err := d.HIncrBy([]byte("s"), []byte("f"), 1, t0); return err }(),
		"hscan": func() error { _, _, err := d.HScan([]byte("s"), 0, 10, t0, nil); return err }(),
		"hrand": func() error { _, err := d.HRandField([]byte("s"), 1, t0, nil, nil); return err }(),
	} {
		if err != ErrWrongType {
			t.Errorf("%s on a string: %v", name, err)
		}
	}
	d.HSet(k, bs("f", "v"), false, t0)
	if _, err := d.Get(k, t0, func([]byte) {}); err != ErrWrongType {
		t.Error("get on a hash", err)
	}
	if _, err := d.IncrBy(k, 1, t0); err != ErrWrongType {
		t.Error("incrby on a hash", err)
	}
	verifyAll(t, e)
}

func TestHashEncodingConversion(t *testing.T) {
	e := open(t, Config{})
	d := e.DB(0)
	for i := 0; i < 512; i++ {
		d.HSet([]byte("h"), bs(fmt.Sprint("f", i), "v"), false, t0)
	}
	if hashEnc(t, d, "h") != "listpack" {
		t.Fatal("512 fields must stay packed")
	}
	d.HSet([]byte("h"), bs("f0", "updated"), false, t0)
	if hashEnc(t, d, "h") != "listpack" {
		t.Fatal("an update keeps the encoding")
	}
	d.HSet([]byte("h"), bs("f512", "v"), false, t0)
	if hashEnc(t, d, "h") != "hashtable" {
		t.Fatal("513 fields must be a table")
	}
	d.HDel([]byte("h"), bs("f512", "f511", "f510"), t0)
	if hashEnc(t, d, "h") != "hashtable" {
		t.Fatal("a table never goes back")
	}
	long := strings.Repeat("x", 65)
	d.HSet([]byte("v64"), bs("f", long[:64]), false, t0)
	d.HSet([]byte("v65"), bs("f", long), false, t0)
	d.HSet([]byte("f65"), bs(long, "v"), false, t0)
	d.HIncrByFloat(nil, []byte("incr"), []byte("f"), []byte("1e100"), t0)
	for k, want := range map[string]string{"v64": "listpack", "v65": "hashtable", "f65": "hashtable", "incr": "hashtable"} {
		if got := hashEnc(t, d, k); got != want {
			t.Errorf("%s: %s, want %s", k, got, want)
		}
	}
	// HSETNX on an existing field converts nothing.
	d.HSet([]byte("v64"), bs("f", long), true, t0)
	if hashEnc(t, d, "v64") != "listpack" {
		t.Error("HSETNX on an existing field converted")
	}
	e.SetHashMaxListpack(0, 64)
	d.HSet([]byte("zero"), bs("f", "v"), false, t0)
	if hashEnc(t, d, "zero") != "hashtable" {
		t.Error("entries 0: every hash is a table")
	}
	e.SetHashMaxListpack(2, 64)
	d.HSet([]byte("v64"), bs("g", "1", "h", "2"), false, t0)
	if hashEnc(t, d, "v64") != "hashtable" {
		t.Error("a lowered limit converts at the next write")
	}
	if m := hashOf(t, d, "v64", t0); len(m) != 3 || m["f"] != long[:64] {
		t.Error("contents after conversion", m)
	}
	verifyAll(t, e)
}

func TestHashIncr(t *testing.T) {
	e := open(t, Config{})
	d := e.DB(0)
	k, f := []byte("h"), []byte("f")
	if n, err := d.HIncrBy(k, f, 5, t0); n != 5 || err != nil {
		t.Fatal(n, err)
	}
	if _, err := d.HIncrBy(k, f, math.MaxInt64, t0); err != ErrOverflow {
		t.Fatal("overflow", err)
	}
	if n, _ := d.HIncrBy(k, f, math.MinInt64, t0); n != math.MinInt64+5 {
		t.Fatal(n)
	}
	for _, bad := range []string{"", " 1", "01", "-0", "1.5", "abc", "99999999999999999999"} {
		d.HSet(k, bs("b", bad), false, t0)
		if _, err := d.HIncrBy(k, []byte("b"), 1, t0); err != ErrHashNotInteger {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, c := range []struct{ start, incr, want string }{
		{"", "1.5", "1.5"},
		{"1.0", "1", "2"},
		{"3.1", "5.0e3", "5003.10000000000000009"},
		{"5003.10000000000000009", "-5003", "0.10000000000000009"},
		{"10", "0x10", "26"},
	} {
		d.HDel(k, bs("x"), t0)
		if c.start != "" {
			d.HSet(k, bs("x", c.start), false, t0)
		}
		out, err := d.HIncrByFloat([]byte("pre"), k, []byte("x"), []byte(c.incr), t0)
		if err != nil || string(out) != "pre"+c.want {
			t.Errorf("%s + %s: %q %v", c.start, c.incr, out, err)
		}
		var v []byte
		d.HGet(k, []byte("x"), t0, func(b []byte) { v = append(v, b...) })
		if string(v) != c.want {
			t.Errorf("%s + %s stored %q", c.start, c.incr, v)
		}
	}
	d.Set([]byte("s"), []byte("1"), t0, SetOptions{}, nil)
	for _, c := range []struct {
		key, field, incr string
		want             error
	}{
		{"s", "x", "abc", ErrNotFloat},  // the increment first
		{"s", "x", "inf", ErrNotFinite}, // then its finiteness
		{"s", "x", "1", ErrWrongType},
		{"h", "b", "1", ErrHashNotFloat}, // "99999999999999999999" is a float: set b to text
	} {
		if c.field == "b" {
			d.HSet(k, bs("b", "abc"), false, t0)
		}
		if _, err := d.HIncrByFloat(nil, []byte(c.key), []byte(c.field), []byte(c.incr), t0); err != c.want {
			t.Errorf("%+v: %v", c, err)
		}
	}
	d.HSet(k, bs("inf", "inf"), false, t0)
	if _, err := d.HIncrByFloat(nil, k, []byte("inf"), []byte("1"), t0); err != ErrNaN {
		t.Error("inf + 1", err)
	}
	verifyAll(t, e)
}

// fillHash writes n fields "field:i" = "value:i" to key (one HSET of n pairs when one is set).
func fillHash(t testing.TB, d *DB, key string, n int, one bool) {
	t.Helper()
	var fv [][]byte
	for i := 0; i < n; i++ {
		fv = append(fv, []byte(fmt.Sprint("field:", i)), []byte(fmt.Sprint("value:", i)))
		if !one {
			if _, err := d.HSet([]byte(key), fv, false, t0); err != nil {
				t.Fatal(err)
			}
			fv = fv[:0]
		}
	}
	if one {
		if n, err := d.HSet([]byte(key), fv, false, t0); err != nil || n != len(fv)/2 {
			t.Fatal(n, err)
		}
	}
}

// TestHashSelfContained: a hash of each shape (packed, table in a chunk, table on the Go
// heap) survives every operation that moves or drops entries as bytes, unchanged.
func TestHashSelfContained(t *testing.T) {
	e := open(t, Config{Databases: 2, Segments: 4})
	d0, d1 := e.DB(0), e.DB(1)
	sizes := map[string]int{"small": 5, "table": 600, "large": 5000}
	want := map[string]map[string]string{}
	for k, n := range sizes {
		fillHash(t, d0, k, n, k == "large")
		want[k] = hashOf(t, d0, k, t0)
		if len(want[k]) != n {
			t.Fatalf("%s: %d fields", k, len(want[k]))
		}
	}
	if e.Stats().LargeBytes == 0 {
		t.Fatal("the large hash should live on the Go heap")
	}
	same := func(d *DB, key, name string) {
		t.Helper()
		if got := hashOf(t, d, key, t0); !maps.Equal(got, want[name]) {
			t.Fatalf("%s (was %s): %d fields, want %d", key, name, len(got), len(want[name]))
		}
		// Still writable where it landed.
		d.HSet([]byte(key), bs("new", "x"), false, t0)
		d.HDel([]byte(key), bs("new"), t0)
	}
	for k := range sizes {
		if ok, err := d0.Rename([]byte(k), []byte(k+"-r"), false, t0); !ok || err != nil {
			t.Fatal(err)
		}
		same(d0, k+"-r", k)
		if ok, err := d0.Copy(d1, []byte(k+"-r"), []byte(k+"-c"), false, t0); !ok || err != nil {
			t.Fatal(err)
		}
		same(d1, k+"-c", k)
		if ok, err := d0.Move(d1, []byte(k+"-r"), t0); !ok || err != nil {
			t.Fatal(err)
		}
		same(d1, k+"-r", k)
	}
	verifyAll(t, e)
	if err := e.Swap(0, 1); err != nil {
		t.Fatal(err)
	}
	for k := range sizes {
		same(d0, k+"-c", k)
	}
	verifyAll(t, e)
	// Expiry removes a hash like any key.
	d0.Expire([]byte("large-c"), t0+10, ExpireAlways, t0)
	if hashOf(t, d0, "large-c", t0+11) != nil {
		t.Fatal("expired hash still there")
	}
	d0.Flush()
	d1.Flush()
	if st := e.Stats(); st.UsedMemory != 0 || st.LargeBytes != 0 {
		t.Fatalf("flush left %+v", st)
	}
	verifyAll(t, e)
}

// TestHashMemory: used_memory follows a hash exactly through growth, conversion, updates,
// deletes and shrinking (Verify recounts it), and MEMORY USAGE counts the blob.
func TestHashMemory(t *testing.T) {
	e := open(t, Config{Segments: 1})
	d := e.DB(0)
	var prev int64
	for i := 0; i < 3000; i++ {
		d.HSet([]byte("h"), bs(fmt.Sprint("f", i), strings.Repeat("v", i%70)), false, t0)
		if i%250 == 0 {
			verifyAll(t, e)
			info, _ := d.Inspect([]byte("h"), t0, false, nil)
			if info.Footprint < prev {
				t.Fatalf("footprint shrank while growing: %d after %d", info.Footprint, prev)
			}
			prev = info.Footprint
		}
	}
	info, _ := d.Inspect([]byte("h"), t0, false, nil)
	if info.Footprint != e.UsedMemory() {
		t.Fatalf("MEMORY USAGE %d, used_memory %d (one key)", info.Footprint, e.UsedMemory())
	}
	big := e.UsedMemory()
	for i := 0; i < 2990; i++ {
		d.HDel([]byte("h"), bs(fmt.Sprint("f", i)), t0)
	}
	verifyAll(t, e)
	if u := e.UsedMemory(); u > big/8 {
		t.Fatalf("10 fields left hold %d bytes (3000 held %d)", u, big)
	}
	if m := hashOf(t, d, "h", t0); len(m) != 10 || m["f2995"] != strings.Repeat("v", 2995%70) {
		t.Fatal("survivors", m)
	}
	d.HDel([]byte("h"), bs("f2990", "f2991", "f2992", "f2993", "f2994", "f2995", "f2996", "f2997", "f2998", "f2999"), t0)
	if st := e.Stats(); d.Exists([]byte("h"), t0) || st.UsedMemory != st.IndexBytes {
		t.Fatalf("empty hash left %d bytes beyond the index", st.UsedMemory-st.IndexBytes)
	}
}

// TestHashMaxMemory: growing a hash reserves memory first: under noeviction a write that
// does not fit fails with ErrOOM and used memory never passes maxmemory; under an allkeys
// policy it evicts other keys, never the hash being written.
func TestHashMaxMemory(t *testing.T) {
	for _, p := range []evict.Policy{evict.NoEviction, evict.AllKeysLRU} {
		e := open(t, Config{Segments: 2, Policy: p, MaxMemory: 256 << 10})
		d := e.DB(0)
		for i := 0; i < 100; i++ {
			d.Set([]byte(fmt.Sprint("k", i)), make([]byte, 500), t0, SetOptions{}, nil)
		}
		var err error
		i := 0
		for ; i < 20000 && err == nil; i++ {
			_, err = d.HSet([]byte("h"), bs(fmt.Sprint("field:", i), "some value"), false, t0)
			if u := e.UsedMemory(); u > 256<<10 {
				t.Fatalf("%v: used %d over maxmemory", p, u)
			}
		}
		if err != ErrOOM {
			t.Fatalf("%v: no OOM after %d fields", p, i)
		}
		if n, _ := d.HLen([]byte("h"), t0); n != int64(i-1) {
			t.Fatalf("%v: %d fields after %d writes, the last refused", p, n, i)
		}
		if p != evict.NoEviction && d.Len() > 2 {
			t.Fatalf("%v: %d keys left: nothing evicted for the hash", p, d.Len())
		}
		verifyAll(t, e)
	}
}

func TestHashRandField(t *testing.T) {
	e := open(t, Config{})
	d := e.DB(0)
	for _, n := range []int{5, 1000} {
		key := fmt.Sprint("h", n)
		fillHash(t, d, key, n, true)
		all := hashOf(t, d, key, t0)
		pick := func(count int64, stop int) (head int64, got []string) {
			t.Helper()
			found, err := d.HRandField([]byte(key), count, t0, func(n int64) { head = n },
				func(f, v []byte) bool {
					if all[string(f)] != string(v) {
						t.Fatalf("%q=%q is not in the hash", f, v)
					}
					got = append(got, string(f))
					return stop == 0 || len(got) < stop
				})
			if !found || err != nil {
				t.Fatal(found, err)
			}
			return head, got
		}
		if h, got := pick(0, 0); h != 0 || len(got) != 0 {
			t.Fatal("count 0", h, got)
		}
		if h, got := pick(int64(n)+10, 0); h != int64(n) || !slices.Equal(got, hashOrder(t, d, key)) {
			t.Fatal("count >= len: every field in order", h, len(got))
		}
		h, got := pick(3, 0)
		if uniq := slices.Compact(slices.Sorted(slices.Values(got))); h != 3 || len(got) != 3 || len(uniq) != 3 {
			t.Fatal("count 3: distinct fields", h, got)
		}
		h, got = pick(-50, 0)
		if h != 50 || len(got) != 50 {
			t.Fatal("count -50", h, len(got))
		}
		if n == 5 && len(slices.Compact(slices.Sorted(slices.Values(got)))) != 5 {
			t.Fatal("50 picks of 5 fields should see all", got)
		}
		if _, got := pick(-1000000, 7); len(got) != 7 {
			t.Fatal("fn's false stops the picks", len(got))
		}
	}
	if found, _ := d.HRandField([]byte("nokey"), 1, t0, nil, nil); found {
		t.Fatal("missing key")
	}
}

// TestHashScan: a full HSCAN of a table returns every field present throughout, while the
// hash grows (rebuilt larger), shrinks and changes between steps.
func TestHashScan(t *testing.T) {
	e := open(t, Config{})
	d := e.DB(0)
	key := []byte("h")
	fillHash(t, d, "h", 2000, true)
	seen := map[string]bool{}
	cur := uint64(0)
	for step := 0; ; step++ {
		var found bool
		cur, found, _ = d.HScan(key, cur, 10, t0, func(f, v []byte) { seen[string(f)] = true })
		if !found {
			t.Fatal("key vanished")
		}
		if cur == 0 {
			break
		}
		// fields 0..999 are stable; 1000.. are deleted, new ones added
		d.HDel(key, bs(fmt.Sprint("field:", 1000+step)), t0)
		d.HSet(key, bs(fmt.Sprint("new:", step), "x", fmt.Sprint("new2:", step), "y"), false, t0)
		d.HSet(key, bs(fmt.Sprint("field:", step%1000), strings.Repeat("z", step%50)), false, t0)
	}
	for i := 0; i < 1000; i++ {
		if !seen[fmt.Sprint("field:", i)] {
			t.Fatalf("field:%d missed", i)
		}
	}
	verifyAll(t, e)
	// A packed hash comes back whole at once.
	d.HSet([]byte("p"), bs("a", "1", "b", "2"), false, t0)
	n := 0
	if next, _, _ := d.HScan([]byte("p"), 77, 1, t0, func(f, v []byte) { n++ }); next != 0 || n != 2 {
		t.Fatal("packed scan", next, n)
	}
}

// TestHashConcurrent: writers and readers on shared hashes (run with -race); the blob stays
// consistent and each writer's own fields are all there at the end.
func TestHashConcurrent(t *testing.T) {
	e := open(t, Config{Segments: 4})
	d := e.DB(0)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 1500; i++ {
				key := []byte(fmt.Sprint("h", i%3))
				f := []byte(fmt.Sprint("w", w, ":", i))
				if _, err := d.HSet(key, [][]byte{f, f}, false, t0); err != nil {
					t.Error(err)
					return
				}
				d.HGet(key, f, t0, func([]byte) {})
				if i%3 == 0 {
					d.HDel(key, [][]byte{f}, t0)
				}
				if i%100 == 0 {
					d.HScan(key, 0, 5, t0, func(f, v []byte) {})
					d.HRandField(key, -3, t0, func(int64) {}, func(f, v []byte) bool { return true })
				}
			}
		}(w)
	}
	wg.Wait()
	total := int64(0)
	for i := 0; i < 3; i++ {
		n, _ := d.HLen([]byte(fmt.Sprint("h", i)), t0)
		total += n
	}
	if total != 4*1000 {
		t.Fatalf("%d fields, want %d", total, 4*1000)
	}
	verifyAll(t, e)
}

// BenchmarkHGetTable measures HGET in a 100k-field table.
func BenchmarkHGetTable(b *testing.B) {
	e := open(b, Config{})
	d := e.DB(0)
	fillHash(b, d, "h", 100000, true)
	f := []byte("field:777")
	var n int
	fn := func(v []byte) { n += len(v) }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.HGet([]byte("h"), f, t0, fn)
	}
}

// TestHashEvictionChurn: many hashes growing in one segment under a small maxmemory. Writes
// evict other hashes (whole, never the one being written) and may fail with ErrOOM, which
// leaves that hash unchanged; every surviving hash matches its model.
func TestHashEvictionChurn(t *testing.T) {
	for _, p := range []evict.Policy{evict.AllKeysRandom, evict.AllKeysLFU, evict.NoEviction} {
		e := open(t, Config{Segments: 1, Policy: p, MaxMemory: 192 << 10})
		d := e.DB(0)
		model := map[string]map[string]string{}
		for i := 0; i < 6000; i++ {
			k := fmt.Sprint("h", i%23)
			f, v := fmt.Sprint("f", (i*7)%300), strings.Repeat("v", i%90)
			if !d.Exists([]byte(k), t0) {
				delete(model, k) // evicted
			}
			_, err := d.HSet([]byte(k), bs(f, v), false, t0)
			switch {
			case err == ErrOOM:
			case err != nil:
				t.Fatal(err)
			default:
				if model[k] == nil {
					model[k] = map[string]string{}
				}
				model[k][f] = v
			}
			if u := e.UsedMemory(); u > 192<<10 {
				t.Fatalf("%v: used %d", p, u)
			}
			if i%500 == 0 {
				verifyAll(t, e)
				for k, m := range model {
					if got := hashOf(t, d, k, t0); got != nil && !maps.Equal(got, m) {
						t.Fatalf("%v: %s has %d fields, model %d", p, k, len(got), len(m))
					}
				}
			}
		}
		verifyAll(t, e)
	}
}
