package engine

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/sidecache/sidecache/evict"
)

// refRange resolves a BITCOUNT/BITPOS range the way the commands are documented, in bits:
// the half-open bit interval [from, to) it covers, or ok false when it is empty.
func refRange(n int, r BitRange) (from, to int64, ok bool) {
	if !r.HasStart {
		return 0, int64(n) * 8, n > 0
	}
	unit := int64(8)
	if r.Bit {
		unit = 1
	}
	total := int64(n) * 8 / unit
	start, end := r.Start, total-1
	if r.HasEnd {
		end = r.End
	}
	if start < 0 {
		start += total
	}
	if end < 0 {
		end += total
	}
	start, end = max(start, 0), min(max(end, 0), total-1)
	if start > end {
		return 0, 0, false
	}
	return start * unit, (end + 1) * unit, true
}

func refBit(v []byte, i int64) int { return int(v[i/8]>>(7-i%8)) & 1 }

// refCount counts bit by bit.
func refCount(v []byte, r BitRange) int64 {
	if r.HasStart && r.Start < 0 && r.End < 0 && r.Start > r.End {
		return 0
	}
	from, to, ok := refRange(len(v), r)
	if !ok {
		return 0
	}
	var n int64
	for i := from; i < to; i++ {
		n += int64(refBit(v, i))
	}
	return n
}

// refPos searches bit by bit; a clear bit is found past the value only when no end was
// given (the string reads as zero-padded).
func refPos(v []byte, bit int, r BitRange) int64 {
	from, to, ok := refRange(len(v), r)
	if !ok {
		return -1
	}
	for i := from; i < to; i++ {
		if refBit(v, i) == bit {
			return i
		}
	}
	if bit == 0 && !r.HasEnd {
		return to
	}
	return -1
}

// randBitmap returns n random bytes biased towards runs of all-zero and all-one bytes,
// where the word-at-a-time paths matter.
func randBitmap(rng *rand.Rand, n int) []byte {
	v := make([]byte, n)
	for i := range v {
		switch rng.IntN(4) {
		case 0:
			v[i] = 0
		case 1:
			v[i] = 0xff
		default:
			v[i] = byte(rng.Uint32())
		}
	}
	return v
}

func randOffset(rng *rand.Rand, n int) int64 {
	switch rng.IntN(10) {
	case 0:
		return math.MinInt64 + rng.Int64N(3)
	case 1:
		return math.MaxInt64 - rng.Int64N(3)
	default:
		return rng.Int64N(int64(3*n+20)) - int64(n+10)
	}
}

func TestBitCountBitPosAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 200000; iter++ {
		n := rng.IntN(40)
		if iter%100 == 0 {
			n = rng.IntN(300)
		}
		v := randBitmap(rng, n)
		var r BitRange
		if rng.IntN(5) > 0 {
			r.HasStart = true
			r.Bit = rng.IntN(2) == 0
			scale := n
			if r.Bit {
				scale *= 8
			}
			r.Start = randOffset(rng, scale)
			r.End = randOffset(rng, scale)
			r.HasEnd = true
		}
		if got, want := CountBits(v, r), refCount(v, r); got != want {
			t.Fatalf("BITCOUNT %x %+v = %d, want %d", v, r, got, want)
		}
		if r.HasStart && !r.Bit && rng.IntN(3) == 0 {
			r.HasEnd = false // BITPOS key bit start
		}
		for bit := 0; bit <= 1; bit++ {
			if got, want := FindBit(v, bit, r), refPos(v, bit, r); got != want {
				t.Fatalf("BITPOS %x %d %+v = %d, want %d", v, bit, r, got, want)
			}
		}
	}
}

func TestBitCountBitPosCases(t *testing.T) {
	all := BitRange{}
	rng := func(s, e int64, bit bool) BitRange {
		return BitRange{Start: s, End: e, HasStart: true, HasEnd: true, Bit: bit}
	}
	count := func(v string, r BitRange, want int64) {
		t.Helper()
		if got := CountBits([]byte(v), r); got != want {
			t.Errorf("BITCOUNT %q %+v = %d, want %d", v, r, got, want)
		}
	}
	pos := func(v string, bit int, r BitRange, want int64) {
		t.Helper()
		if got := FindBit([]byte(v), bit, r); got != want {
			t.Errorf("BITPOS %q %d %+v = %d, want %d", v, bit, r, got, want)
		}
	}
	// Examples of the Redis documentation.
	count("foobar", all, 26)
	count("foobar", rng(0, 0, false), 4)
	count("foobar", rng(1, 1, false), 6)
	count("foobar", rng(1, 1, true), 1)
	count("foobar", rng(5, 30, true), 17)
	count("", all, 0)
	count("foobar", rng(-100, -200, false), 0)
	pos("\xff\xf0\x00", 0, all, 12)
	pos("\x00\xff\xf0", 1, rng(0, 0, false), -1) // HasEnd with end 0: the first byte only
	pos("\x00\xff\xf0", 1, BitRange{Start: 2, HasStart: true}, 16)
	pos("\x00\xff\xf0", 1, rng(2, -1, false), 16)
	pos("\x00\xff\xf0", 1, rng(7, 15, true), 8)
	pos("\x00\x00\x00", 1, all, -1)
	// All ones: with no end the first clear bit is the padding after the string; with an
	// end given there is none.
	pos("\xff\xff\xff", 0, all, 24)
	pos("\xff\xff\xff", 0, BitRange{Start: 1, HasStart: true}, 24)
	pos("\xff\xff\xff", 0, rng(0, -1, false), -1)
	pos("\xff\xff\xff", 0, rng(0, 23, true), -1)
	pos("", 0, all, -1) // an empty string is an empty range (a missing key answers 0)
	pos("", 1, all, -1)
	pos("", 0, BitRange{HasStart: true}, -1)
}

func TestFirstBit(t *testing.T) {
	f := func(v string, bit int, want int64) {
		t.Helper()
		if got := firstBit([]byte(v), bit); got != want {
			t.Errorf("firstBit(%x, %d) = %d, want %d", v, bit, got, want)
		}
	}
	f("", 0, 0)
	f("", 1, -1)
	f("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01", 1, 79)
	f("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe", 0, 79)
	f("\xff\xff\xff\xff\xff\xff\xff\xff", 0, 64)
	f("\x00\x00\x00\x00\x00\x00\x00\x00", 1, -1)
	f("\x00\x00\x00\x00\x00\x00\x00\x20", 1, 58)
}

func TestSetBitGetBitAgainstModel(t *testing.T) {
	e := open(t, Config{Segments: 4})
	d := e.DB(0)
	rng := rand.New(rand.NewPCG(3, 4))
	model := map[string][]byte{}
	keys := []string{"a", "b", "c"}
	for iter := 0; iter < 20000; iter++ {
		k := keys[rng.IntN(len(keys))]
		off := uint64(rng.IntN(2000))
		if rng.IntN(10) == 0 {
			off = uint64(rng.IntN(100000))
		}
		if rng.IntN(2) == 0 {
			on := rng.IntN(2) == 1
			old, err := d.SetBit([]byte(k), off, on, t0)
			if err != nil {
				t.Fatal(err)
			}
			m := model[k]
			if need := int(off/8) + 1; len(m) < need {
				m = append(m, make([]byte, need-len(m))...)
			}
			want := refBit(m, int64(off))
			if on {
				m[off/8] |= 0x80 >> (off % 8)
			} else {
				m[off/8] &^= 0x80 >> (off % 8)
			}
			model[k] = m
			if old != want {
				t.Fatalf("SETBIT %s %d: old %d, want %d", k, off, old, want)
			}
		} else {
			got, err := d.GetBit([]byte(k), off, t0)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if m := model[k]; off/8 < uint64(len(m)) {
				want = refBit(m, int64(off))
			}
			if got != want {
				t.Fatalf("GETBIT %s %d = %d, want %d", k, off, got, want)
			}
		}
		if iter%1000 == 0 {
			for _, k := range keys {
				v, _ := getString(d, k, t0)
				if v != string(model[k]) {
					t.Fatalf("%s: value differs from the model", k)
				}
			}
			mustVerify(t, e)
		}
	}
	mustVerify(t, e)
}

func TestSetBitLimitsAndEvents(t *testing.T) {
	var events []Event
	e := open(t, Config{MaxValueSize: 1 << 20, OnChange: func(_ int, _ []byte, ev Event) { events = append(events, ev) }})
	d := e.DB(0)
	if _, err := d.SetBit([]byte("k"), 8<<20, true, t0); err != ErrBitOffset {
		t.Fatalf("offset at the limit: %v", err)
	}
	if old, err := d.SetBit([]byte("k"), 8<<20-1, false, t0); err != nil || old != 0 {
		t.Fatalf("last offset: %d %v", old, err)
	}
	if v, _ := getString(d, "k", t0); len(v) != 1<<20 {
		t.Fatalf("length %d", len(v))
	}
	events = events[:0]
	d.SetBit([]byte("k"), 5, false, t0) // no change: no event, as Redis signals nothing
	if len(events) != 0 {
		t.Fatalf("unchanged bit: events %v", events)
	}
	d.SetBit([]byte("k"), 5, true, t0)
	if len(events) != 1 || events[0] != EventWrite {
		t.Fatalf("changed bit: events %v", events)
	}
	d.Set([]byte("ttl"), []byte("x"), t0, SetOptions{ExpireAt: t0 + 5000}, nil)
	d.SetBit([]byte("ttl"), 100, true, t0)
	if at := d.ExpireAt([]byte("ttl"), t0); at != t0+5000 {
		t.Fatalf("SETBIT lost the TTL: %d", at)
	}
	mustVerify(t, e)
}

// refBitOp computes BITOP byte by byte over zero-padded sources.
func refBitOp(op BitOpKind, srcs [][]byte) []byte {
	n := 0
	for _, s := range srcs {
		n = max(n, len(s))
	}
	res := make([]byte, n)
	for j := range res {
		at := func(s []byte) byte {
			if j < len(s) {
				return s[j]
			}
			return 0
		}
		out := at(srcs[0])
		if op == BitNot {
			out = ^out
		}
		for _, s := range srcs[1:] {
			switch op {
			case BitAnd:
				out &= at(s)
			case BitOr:
				out |= at(s)
			case BitXor:
				out ^= at(s)
			}
		}
		res[j] = out
	}
	return res
}

func TestBitOpAgainstReference(t *testing.T) {
	e := open(t, Config{Segments: 8})
	d := e.DB(0)
	rng := rand.New(rand.NewPCG(5, 6))
	names := []string{"s0", "s1", "s2", "s3", "missing", "dst"}
	var scratch []byte
	for iter := 0; iter < 3000; iter++ {
		vals := map[string][]byte{}
		for _, k := range names[:4] {
			v := randBitmap(rng, rng.IntN(70))
			vals[k] = v
			d.Set([]byte(k), v, t0, SetOptions{}, nil)
		}
		op := BitOpKind(rng.IntN(4))
		nsrc := 1 + rng.IntN(4)
		if op == BitNot {
			nsrc = 1
		}
		srcs := make([][]byte, nsrc)
		refs := make([][]byte, nsrc)
		for i := range srcs {
			k := names[rng.IntN(len(names))]
			srcs[i] = []byte(k)
			refs[i] = vals[k] // nil for missing and for dst (deleted below)
		}
		d.Delete([]byte("dst"), t0)
		want := refBitOp(op, refs)
		var n int64
		var err error
		n, scratch, err = d.BitOp(op, []byte("dst"), srcs, t0, scratch)
		if err != nil {
			t.Fatal(err)
		}
		got, found := getString(d, "dst", t0)
		if n != int64(len(want)) || got != string(want) || found != (len(want) > 0) {
			t.Fatalf("BITOP %d %q: %d %x (found %v), want %x", op, srcs, n, got, found, want)
		}
	}
	mustVerify(t, e)
	// The destination as one of the sources.
	d.Set([]byte("x"), []byte("\x0f\xf0"), t0, SetOptions{}, nil)
	d.Set([]byte("y"), []byte("\xff"), t0, SetOptions{}, nil)
	if _, _, err := d.BitOp(BitXor, []byte("x"), [][]byte{[]byte("x"), []byte("y")}, t0, nil); err != nil {
		t.Fatal(err)
	}
	if v, _ := getString(d, "x", t0); v != "\xf0\xf0" {
		t.Fatalf("BITOP XOR x x y = %x", v)
	}
}

// refLCS is lcsCommand as Redis writes it: the full uint32 table and the same walk back.
func refLCS(a, b []byte, minLen int64) (string, []LCSMatch) {
	alen, blen := uint32(len(a)), uint32(len(b))
	dp := make([]uint32, (alen+1)*(blen+1))
	at := func(i, j uint32) *uint32 { return &dp[j+i*(blen+1)] }
	for i := uint32(0); i <= alen; i++ {
		for j := uint32(0); j <= blen; j++ {
			switch {
			case i == 0 || j == 0:
				*at(i, j) = 0
			case a[i-1] == b[j-1]:
				*at(i, j) = *at(i-1, j-1) + 1
			default:
				*at(i, j) = max(*at(i-1, j), *at(i, j-1))
			}
		}
	}
	idx := *at(alen, blen)
	res := make([]byte, idx)
	var ms []LCSMatch
	as, ae, bs, be := alen, uint32(0), uint32(0), uint32(0)
	i, j := alen, blen
	for i > 0 && j > 0 {
		emit := false
		if a[i-1] == b[j-1] {
			res[idx-1] = a[i-1]
			if as == alen {
				as, ae, bs, be = i-1, i-1, j-1, j-1
			} else if as == i && bs == j {
				as--
				bs--
			} else {
				emit = true
			}
			if as == 0 || bs == 0 {
				emit = true
			}
			idx--
			i--
			j--
		} else {
			if *at(i-1, j) > *at(i, j-1) {
				i--
			} else {
				j--
			}
			if as != alen {
				emit = true
			}
		}
		ml := ae - as + 1
		if emit {
			if minLen == 0 || int64(ml) >= minLen {
				ms = append(ms, LCSMatch{as, ae, bs, be, ml})
			}
			as = alen
		}
	}
	return string(res), ms
}

func TestLCSAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	word := func() []byte {
		n := rng.IntN(30)
		alpha := 2 + rng.IntN(4)
		b := make([]byte, n)
		for i := range b {
			b[i] = 'a' + byte(rng.IntN(alpha))
		}
		return b
	}
	for iter := 0; iter < 20000; iter++ {
		a, b := word(), word()
		minLen := int64(rng.IntN(4))
		wantS, wantM := refLCS(a, b, minLen)
		var gotM []LCSMatch
		got, n := LCS([]byte("pre"), a, b, minLen, func(m LCSMatch) { gotM = append(gotM, m) })
		if string(got) != "pre"+wantS || n != len(wantS) {
			t.Fatalf("LCS(%q, %q) = %q %d, want %q", a, b, got, n, wantS)
		}
		if len(gotM) != len(wantM) {
			t.Fatalf("LCS(%q, %q) matches %v, want %v", a, b, gotM, wantM)
		}
		for k := range gotM {
			if gotM[k] != wantM[k] {
				t.Fatalf("LCS(%q, %q) matches %v, want %v", a, b, gotM, wantM)
			}
		}
		if l := LCSLen(a, b); l != len(wantS) {
			t.Fatalf("LCSLen(%q, %q) = %d, want %d", a, b, l, len(wantS))
		}
	}
}

func TestLCSInputLimits(t *testing.T) {
	e := open(t, Config{MaxValueSize: 1 << 20})
	d := e.DB(0)
	d.Set([]byte("a"), bytes.Repeat([]byte("x"), 600), t0, SetOptions{}, nil)
	d.Set([]byte("b"), []byte("xy"), t0, SetOptions{}, nil)
	if _, _, err := d.LCSInput(nil, []byte("a"), []byte("a"), t0, true); err != ErrLCSTooLarge {
		t.Fatalf("601*601*4 bytes > 1 MiB: %v", err)
	}
	out, n1, err := d.LCSInput([]byte("pre"), []byte("a"), []byte("b"), t0, true)
	if err != nil || n1 != 600 || string(out[3+600:]) != "xy" {
		t.Fatalf("LCSInput: %d %v", n1, err)
	}
	out, n1, err = d.LCSInput(nil, []byte("nokey"), []byte("b"), t0, true)
	if err != nil || n1 != 0 || string(out) != "xy" {
		t.Fatalf("LCSInput missing key1: %q %d %v", out, n1, err)
	}
	out, _, err = d.LCSInput(nil, []byte("a"), []byte("a"), t0, false)
	if err != nil || len(out) != 0 {
		t.Fatalf("LCSInput without copy: %d %v", len(out), err)
	}
	if err := lcsFits(math.MaxUint32-1, 0, math.MaxInt64); err != ErrLCSTooLong {
		t.Fatalf("too long: %v", err)
	}
}

func TestBitOpMemoryGate(t *testing.T) {
	e := open(t, Config{Segments: 4, MaxMemory: 4 << 20, Policy: 0})
	d := e.DB(0)
	big := bytes.Repeat([]byte{0xaa}, 1<<20)
	d.Set([]byte("a"), big, t0, SetOptions{}, nil)
	d.Set([]byte("b"), big, t0, SetOptions{}, nil)
	// noeviction: 2 MiB used, a third and a fourth copy cannot both fit.
	_, _, err1 := d.BitOp(BitNot, []byte("c"), [][]byte{[]byte("a")}, t0, nil)
	_, _, err2 := d.BitOp(BitNot, []byte("d"), [][]byte{[]byte("a")}, t0, nil)
	if err1 != nil || err2 != ErrOOM {
		t.Fatalf("BITOP under maxmemory: %v, %v", err1, err2)
	}
	if e.UsedMemory() > e.MaxMemory() {
		t.Fatalf("used %d > max %d", e.UsedMemory(), e.MaxMemory())
	}
	if _, err := d.SetBit([]byte("e"), 8<<20, true, t0); err != ErrOOM {
		t.Fatalf("SETBIT growth past maxmemory: %v", err)
	}
	mustVerify(t, e)
}

// BITOP's new destination key reserves every index rebuild its insert can chain, as SET's
// does (TestInsertReservesEveryRebuildOfASpill): keys homed at the end of a full overflow
// region make the insert spill, and the first rebuilt table is still too short. Under
// noeviction BITOP is refused and changes nothing; under an evicting policy used memory
// stays within maxmemory. It reserved one table growth (none here, the table is not full).
func TestBitOpReservesEveryRebuildOfASpill(t *testing.T) {
	for _, p := range []evict.Policy{evict.NoEviction, evict.AllKeysLRU} {
		e, d, keys := filledTail(t, p, 130)
		dst := keys[129]
		before, maxmem := roomForFirstRebuild(e, d, dst, []byte("v"))
		_, _, err := d.BitOp(BitNot, dst, [][]byte{keys[0]}, t0, nil)
		u := e.UsedMemory()
		if p == evict.NoEviction {
			if found, _ := d.Get(dst, t0, func([]byte) {}); err != ErrOOM || found || u != before {
				t.Fatalf("noeviction: bitop %v, stored %v, used %d -> %d (maxmemory %d)", err, found, before, u, maxmem)
			}
		} else if err != nil {
			t.Fatalf("%v: bitop %v", p, err)
		}
		if u > maxmem {
			t.Fatalf("%v: used memory %d over maxmemory %d", p, u, maxmem)
		}
		mustVerify(t, e)
	}
}

func TestBitmapWrongType(t *testing.T) {
	e := open(t, Config{})
	d := e.DB(0)
	putTyped(t, d, "l", TypeList)
	d.Set([]byte("s"), []byte("abc"), t0, SetOptions{}, nil)
	l, s := []byte("l"), []byte("s")
	f := func(name string, err error) {
		t.Helper()
		if err != ErrWrongType {
			t.Errorf("%s: %v, want ErrWrongType", name, err)
		}
	}
	_, err := d.SetBit(l, 1, true, t0)
	f("SetBit", err)
	_, err = d.GetBit(l, 1, t0)
	f("GetBit", err)
	_, err = d.BitCount(l, BitRange{}, t0)
	f("BitCount", err)
	_, err = d.BitPos(l, 1, BitRange{}, t0)
	f("BitPos", err)
	_, _, err = d.BitOp(BitOr, []byte("dst"), [][]byte{s, l}, t0, nil)
	f("BitOp source", err)
	if d.Exists([]byte("dst"), t0) {
		t.Error("BitOp stored a result after WRONGTYPE")
	}
	// The destination's type does not matter: it is overwritten.
	if n, _, err := d.BitOp(BitOr, l, [][]byte{s}, t0, nil); err != nil || n != 3 {
		t.Errorf("BitOp over a key of another type: %d %v", n, err)
	}
	putTyped(t, d, "l2", TypeList)
	f("BitField GET", d.BitField([]byte("l2"), []BitFieldOp{{Kind: BitFieldGet, Bits: 8}}, t0))
	f("BitField SET", d.BitField([]byte("l2"), []BitFieldOp{{Kind: BitFieldSet, Bits: 8}}, t0))
	f("BitField none", d.BitField([]byte("l2"), nil, t0))
	_, _, err = d.LCSInput(nil, s, []byte("l2"), t0, true)
	f("LCSInput key2", err)
	_, _, err = d.LCSInput(nil, []byte("l2"), []byte("nokey"), t0, false)
	f("LCSInput key1", err)
	mustVerify(t, e)
}

// TestBitmapConcurrent runs the multi-key bitmap operations (BITOP locks a set of segments,
// LCS two) next to MSET and single-key writes on overlapping keys, under a maxmemory that
// makes writers evict across segments: meant for -race, and a lock-order cycle would hang.
func TestBitmapConcurrent(t *testing.T) {
	e := open(t, Config{Segments: 8, MaxMemory: 256 << 10, Policy: evict.AllKeysLFU})
	d := e.DB(0)
	n := 4000
	if testing.Short() {
		n = 1000
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			key := func() []byte { return []byte(fmt.Sprint("k", rng.IntN(64))) }
			var scratch []byte
			for i := 0; i < n; i++ {
				switch rng.IntN(6) {
				case 0:
					_, scratch, _ = d.BitOp(BitOpKind(rng.IntN(3)), key(), [][]byte{key(), key(), key()}, t0, scratch)
				case 1:
					d.SetBit(key(), uint64(rng.IntN(20000)), true, t0)
				case 2:
					ops := []BitFieldOp{{Kind: BitFieldIncrBy, Bits: 16, Offset: uint64(rng.IntN(4000)), Arg: 1}}
					d.BitField(key(), ops, t0)
				case 3:
					scratch, _, _ = d.LCSInput(scratch[:0], key(), key(), t0, true)
				case 4:
					d.MSet([][]byte{key(), []byte("abc"), key(), []byte("def")}, false, t0)
				case 5:
					d.BitCount(key(), BitRange{}, t0)
				}
			}
		}(w)
	}
	wg.Wait()
	if e.UsedMemory() > e.MaxMemory() {
		t.Fatalf("used %d > maxmemory %d", e.UsedMemory(), e.MaxMemory())
	}
	mustVerify(t, e)
}
