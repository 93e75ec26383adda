package engine

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sidecache/sidecache/evict"
)

// entryOf returns a key's type, TTL and a copy of its value bytes.
func entryOf(d *DB, key string, now int64) (Type, int64, []byte, bool) {
	var val []byte
	info, ok := d.Inspect([]byte(key), now, false, func(v []byte) { val = append([]byte(nil), v...) })
	return info.Type, d.ExpireAt([]byte(key), now), val, ok
}

func TestMoveCopy(t *testing.T) {
	e := open(t, Config{Databases: 4, Segments: 4, Policy: evict.AllKeysLFU})
	d0, d1 := e.DB(0), e.DB(1)
	k := func(s string) []byte { return []byte(s) }
	d0.Set(k("a"), k("va"), t0, SetOptions{ExpireAt: t0 + 5000}, nil)
	for range 20 {
		d0.Get(k("a"), t0, func([]byte) {}) // raise a's LFU counter above a new key's
	}
	infoA, _ := d0.Inspect(k("a"), t0, false, nil)

	// MOVE keeps the value, the TTL and the access field.
	if ok, err := d0.Move(d1, k("a"), t0); !ok || err != nil {
		t.Fatalf("Move: %v %v", ok, err)
	}
	if d0.Exists(k("a"), t0) {
		t.Fatal("a still in db0")
	}
	tp, exp, val, ok := entryOf(d1, "a", t0)
	if !ok || tp != TypeString || exp != t0+5000 || string(val) != "va" {
		t.Fatalf("moved a: %v %v %q %v", tp, exp, val, ok)
	}
	if info, _ := d1.Inspect(k("a"), t0, false, nil); info.Access != infoA.Access {
		t.Fatalf("MOVE changed the access field: %x, was %x", info.Access, infoA.Access)
	}
	if d0.Expires() != 0 || d1.Expires() != 1 || d0.Len() != 0 || d1.Len() != 1 {
		t.Fatalf("counts: db0 %d/%d db1 %d/%d", d0.Len(), d0.Expires(), d1.Len(), d1.Expires())
	}
	// Missing source, existing destination: nothing happens.
	if ok, _ := d0.Move(d1, k("a"), t0); ok {
		t.Fatal("Move of a missing key")
	}
	d0.Set(k("a"), k("other"), t0, SetOptions{}, nil)
	if ok, _ := d0.Move(d1, k("a"), t0); ok {
		t.Fatal("Move over an existing key")
	}
	if _, _, val, _ := entryOf(d0, "a", t0); string(val) != "other" {
		t.Fatalf("db0 a = %q", val)
	}

	// COPY within a database and across, with REPLACE; the TTL goes along.
	st0 := e.Stats()
	if ok, _ := d1.Copy(d1, k("a"), k("b"), false, t0); !ok {
		t.Fatal("Copy a b")
	}
	if _, exp, val, _ := entryOf(d1, "b", t0); exp != t0+5000 || string(val) != "va" {
		t.Fatalf("copy b: %v %q", exp, val)
	}
	if ok, _ := d1.Copy(d0, k("a"), k("a"), false, t0); ok {
		t.Fatal("Copy onto an existing key without replace")
	}
	if ok, _ := d1.Copy(d0, k("a"), k("a"), true, t0); !ok {
		t.Fatal("Copy with replace")
	}
	if _, exp, val, _ := entryOf(d0, "a", t0); exp != t0+5000 || string(val) != "va" {
		t.Fatalf("replaced a: %v %q", exp, val)
	}
	if ok, _ := d1.Copy(d1, k("nokey"), k("x"), true, t0); ok {
		t.Fatal("Copy of a missing key")
	}
	st := e.Stats()
	if hits, misses := st.KeyspaceHits-st0.KeyspaceHits, st.KeyspaceMisses-st0.KeyspaceMisses; hits != 3 || misses != 1 {
		t.Fatalf("COPY counted %d hits, %d misses; want 3, 1", hits, misses)
	}
	// An expired source is missing (and removed).
	d2 := e.DB(2)
	d2.Set(k("gone"), k("v"), t0, SetOptions{ExpireAt: t0 + 10}, nil)
	if ok, _ := d2.Copy(d2, k("gone"), k("g2"), false, t0+11); ok {
		t.Fatal("Copy of an expired key")
	}
	if ok, _ := d2.Move(d0, k("gone"), t0+11); ok {
		t.Fatal("Move of an expired key")
	}
	mustVerify(t, e)
}

// TestCopyAnyType: COPY and MOVE copy the entry's bytes whatever its type, inline or large
// (a hash here: one self-contained blob).
func TestCopyAnyType(t *testing.T) {
	e := open(t, Config{Databases: 2, Segments: 2})
	d0, d1 := e.DB(0), e.DB(1)
	if _, err := d0.HSet([]byte("h"), [][]byte{[]byte("f"), []byte("v"), []byte("g"), []byte("w")}, false, t0); err != nil {
		t.Fatal(err)
	}
	var fv [][]byte
	for i := range 2000 { // beyond the largest class: Go heap
		fv = append(fv, []byte("field"+strconv.Itoa(i)), bytes.Repeat([]byte("v"), 20))
	}
	if _, err := d0.HSet([]byte("big"), fv, false, t0); err != nil {
		t.Fatal(err)
	}
	d0.Expire([]byte("big"), t0+1000, ExpireAlways, t0)
	_, _, small, _ := entryOf(d0, "h", t0)
	_, _, large, _ := entryOf(d0, "big", t0)
	if len(large) < 40000 {
		t.Fatalf("big hash is %d bytes", len(large))
	}
	for _, c := range []struct {
		from *DB
		src  string
		to   *DB
		dst  string
		move bool
		want []byte
		exp  int64
	}{
		{d0, "h", d0, "h2", false, small, -1},
		{d0, "h", d1, "h", false, small, -1},
		{d0, "big", d1, "big2", false, large, t0 + 1000},
		{d0, "big", d1, "big", true, large, t0 + 1000},
		{d0, "h2", d1, "h2", true, small, -1},
	} {
		var ok bool
		var err error
		if c.move {
			ok, err = c.from.Move(c.to, []byte(c.src), t0)
		} else {
			ok, err = c.from.Copy(c.to, []byte(c.src), []byte(c.dst), false, t0)
		}
		if !ok || err != nil {
			t.Fatalf("%s -> %s: %v %v", c.src, c.dst, ok, err)
		}
		tp, exp, val, found := entryOf(c.to, c.dst, t0)
		if !found || tp != TypeHash || exp != c.exp || !bytes.Equal(val, c.want) {
			t.Fatalf("%s -> %s: type %v exp %d len %d found %v", c.src, c.dst, tp, exp, len(val), found)
		}
		mustVerify(t, e)
	}
	if found, _ := d1.HGet([]byte("big2"), []byte("field1999"), t0, func(v []byte) {
		if string(v) != strings.Repeat("v", 20) {
			t.Fatalf("HGET on the copy: %q", v)
		}
	}); !found {
		t.Fatal("HGET on the copy: no field")
	}
	if d0.Exists([]byte("big"), t0) || d0.Exists([]byte("h2"), t0) {
		t.Fatal("moved keys remain at their source")
	}
}

// TestCopyMaxMemory: a COPY that needs room evicts first, so used memory never passes
// maxmemory; with noeviction it fails with ErrOOM and changes nothing.
func TestCopyMaxMemory(t *testing.T) {
	for _, p := range []evict.Policy{evict.AllKeysLRU, evict.NoEviction} {
		e := open(t, Config{Databases: 2, Segments: 4, Policy: p})
		d0, d1 := e.DB(0), e.DB(1)
		val := bytes.Repeat([]byte("v"), 1000)
		for i := range 200 {
			d0.Set([]byte("k"+strconv.Itoa(i)), val, t0, SetOptions{}, nil)
		}
		e.SetMaxMemory(e.UsedMemory() + 4000)
		ooms := 0
		for i := range 200 {
			_, err := d0.Copy(d1, []byte("k"+strconv.Itoa(i)), []byte("c"+strconv.Itoa(i)), false, t0)
			switch {
			case err == ErrOOM:
				ooms++
			case err != nil:
				t.Fatal(err)
			}
			if u := e.UsedMemory(); u > e.MaxMemory() {
				t.Fatalf("%v: used %d > maxmemory %d after copy %d", p, u, e.MaxMemory(), i)
			}
		}
		if (p == evict.NoEviction) != (ooms > 0) {
			t.Fatalf("%v: %d copies refused", p, ooms)
		}
		mustVerify(t, e)
	}
}

// TestMoveCopyConcurrent runs MOVE and COPY in both directions between two databases, with
// eviction, against writers in the same segments: no deadlock, exact accounting after.
func TestMoveCopyConcurrent(t *testing.T) {
	e := open(t, Config{Databases: 2, Segments: 4, Policy: evict.AllKeysRandom})
	d := [2]*DB{e.DB(0), e.DB(1)}
	val := bytes.Repeat([]byte("x"), 300)
	for i := range 300 {
		d[i%2].Set([]byte("k"+strconv.Itoa(i%50)), val, t0, SetOptions{}, nil)
	}
	e.SetMaxMemory(e.UsedMemory() + 20000)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3000 {
				a, b := d[(g+i)%2], d[(g+i+1)%2]
				k := []byte("k" + strconv.Itoa((i*7+g)%50))
				switch i % 4 {
				case 0:
					a.Move(b, k, t0)
				case 1:
					a.Copy(b, k, []byte("k"+strconv.Itoa((i*3)%50)), i%8 == 1, t0)
				case 2:
					a.Copy(a, k, []byte("k"+strconv.Itoa((i*5+1)%50)), true, t0)
				default:
					a.Set(k, val[:i%300], t0, SetOptions{}, nil)
				}
			}
		}()
	}
	wg.Wait()
	if u := e.UsedMemory(); u > e.MaxMemory() {
		t.Fatalf("used %d > maxmemory %d", u, e.MaxMemory())
	}
	mustVerify(t, e)
}

// TestNoTouchView: reads through DBNoTouch leave the access field alone; TOUCH does not.
func TestNoTouchView(t *testing.T) {
	e := open(t, Config{Databases: 1, Segments: 1, Policy: evict.AllKeysLFU})
	d, q := e.DB(0), e.DBNoTouch(0)
	key := []byte("k")
	d.Set(key, []byte("v"), t0, SetOptions{}, nil)
	freq := func() int {
		info, _ := d.Inspect(key, t0, false, nil)
		return e.Freq(info, t0)
	}
	start := freq()
	q.Get(key, t0, func([]byte) {})
	q.AppendGet(nil, key, t0)
	q.GetEx(key, t0, ExpireUpdate{}, func([]byte) {})
	q.Copy(q, key, []byte("k2"), false, t0)
	q.GetBit(key, 3, t0)
	q.BitCount(key, BitRange{}, t0)
	q.BitPos(key, 1, BitRange{}, t0)
	q.BitField(key, []BitFieldOp{{Kind: BitFieldGet, Bits: 8}}, t0)
	q.LCSInput(nil, key, key, t0, true)
	q.BitOp(BitOr, []byte("dst"), [][]byte{key}, t0, nil)
	if got := freq(); got != start {
		t.Fatalf("no-touch reads changed the LFU counter: %d -> %d", start, got)
	}
	d.Get(key, t0, func([]byte) {}) // at the initial counter the increment is certain
	if got := freq(); got != start+1 {
		t.Fatalf("a read: counter %d, want %d", got, start+1)
	}

	// Under an LRU policy the field is the access clock: TOUCH moves it, a no-touch read not.
	e.SetPolicy(evict.AllKeysLRU)
	d.Touch(key, t0)
	access := func() uint32 {
		info, _ := d.Inspect(key, t0, false, nil)
		return info.Access
	}
	before := access()
	q.Get(key, t0+5000, func([]byte) {})
	if got := access(); got != before {
		t.Fatalf("no-touch GET moved the LRU clock: %x -> %x", before, got)
	}
	q.Touch(key, t0+5000)
	if got := access(); got == before {
		t.Fatal("TOUCH through the no-touch view left the LRU clock")
	}
}
