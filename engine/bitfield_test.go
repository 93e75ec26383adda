package engine

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// refOverflow computes what an overflow mode makes of value+incr for a bits-wide integer
// in exact arithmetic: whether it leaves the range, and the value to store.
func refOverflow(value *big.Int, incr int64, bits uint8, signed bool, mode BitOverflow) (bool, *big.Int) {
	sum := new(big.Int).Add(value, big.NewInt(incr))
	lo, hi := new(big.Int), new(big.Int).Lsh(big.NewInt(1), uint(bits))
	hi.Sub(hi, big.NewInt(1))
	if signed {
		lo.Neg(new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
		hi.Rsh(hi, 1)
	}
	over := sum.Cmp(hi) > 0
	if signed && bits < 64 && value.IsInt64() {
		// Redis's quirk: checkSignedBitfieldOverflow compares incr with max-value computed
		// in 64 bits, which wraps when value is far below the field's minimum (SET i8 with
		// -2^63): then it reports an overflow upwards (SAT stores the maximum).
		if incr > int64(uint64(hi.Int64())-uint64(value.Int64())) {
			over = true
		}
	}
	under := !over && sum.Cmp(lo) < 0
	if !under && !over {
		return false, sum
	}
	switch mode {
	case OverflowSat:
		if over {
			return true, hi
		}
		return true, lo
	case OverflowWrap:
		m := new(big.Int).Lsh(big.NewInt(1), uint(bits))
		w := new(big.Int).Mod(sum, m) // in [0, 2^bits)
		if signed && w.Cmp(hi) > 0 {
			w.Sub(w, m)
		}
		return true, w
	}
	return true, nil
}

func TestBitFieldOverflowAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	// anyInt returns a value of any size, often at the int64 edges.
	anyInt := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return math.MinInt64 + rng.Int64N(2)
		case 1:
			return math.MaxInt64 - rng.Int64N(2)
		case 2:
			return rng.Int64N(9) - 4
		}
		return rng.Int64()
	}
	// stored returns a value a bits-wide field can hold, often at its edges.
	stored := func(bits uint8, signed bool) int64 {
		x := uint64(rng.Int64())
		switch rng.IntN(4) {
		case 0:
			x = math.MaxUint64 // all ones: -1, or the unsigned maximum
		case 1:
			x = 0
		case 2:
			x = 1 << (bits - 1) // the signed minimum, or the unsigned top bit
		}
		if bits < 64 {
			x &= 1<<bits - 1
			if signed && x&(1<<(bits-1)) != 0 {
				x |= math.MaxUint64 << bits
			}
		}
		return int64(x)
	}
	for iter := 0; iter < 300000; iter++ {
		signed := rng.IntN(2) == 0
		bits := uint8(1 + rng.IntN(64))
		if !signed && bits == 64 {
			bits = 63
		}
		mode := BitOverflow(rng.IntN(3))
		cur := stored(bits, signed)
		incr, set := anyInt(), anyInt() // INCRBY's increment, SET's value
		if rng.IntN(2) == 0 {
			incr = stored(bits, signed)
		}
		if signed {
			ov, got := signedOverflow(cur, incr, bits, mode)
			wov, want := refOverflow(big.NewInt(cur), incr, bits, true, mode)
			if ov != wov || (ov && mode != OverflowFail && got != want.Int64()) {
				t.Fatalf("i%d %d incrby %d mode %d: %v %d, want %v %v", bits, cur, incr, mode, ov, got, wov, want)
			}
			ov, got = signedOverflow(set, 0, bits, mode)
			wov, want = refOverflow(big.NewInt(set), 0, bits, true, mode)
			if ov != wov || (ov && mode != OverflowFail && got != want.Int64()) {
				t.Fatalf("i%d set %d mode %d: %v %d, want %v %v", bits, set, mode, ov, got, wov, want)
			}
			continue
		}
		ucur := uint64(cur)
		ov, got := unsignedOverflow(ucur, incr, bits, mode)
		wov, want := refOverflow(new(big.Int).SetUint64(ucur), incr, bits, false, mode)
		if ov != wov || (ov && mode != OverflowFail && got != want.Uint64()) {
			t.Fatalf("u%d %d incrby %d mode %d: %v %d, want %v %v", bits, ucur, incr, mode, ov, got, wov, want)
		}
		// SET reads its value as C does, as a uint64: -1 is above every maximum, so SAT
		// stores the maximum and WRAP the low bits.
		ov, got = unsignedOverflow(uint64(set), 0, bits, mode)
		wov, want = refOverflow(new(big.Int).SetUint64(uint64(set)), 0, bits, false, mode)
		if ov != wov || (ov && mode != OverflowFail && got != want.Uint64()) {
			t.Fatalf("u%d set %d mode %d: %v %d, want %v %v", bits, set, mode, ov, got, wov, want)
		}
	}
}

// TestBitFieldGetSetAgainstModel writes random fields and reads them back against a bit
// array model, at every alignment and width.
func TestBitFieldGetSetAgainstModel(t *testing.T) {
	e := open(t, Config{Segments: 2})
	d := e.DB(0)
	rng := rand.New(rand.NewPCG(11, 12))
	var model []byte
	key := []byte("bf")
	for iter := 0; iter < 20000; iter++ {
		signed := rng.IntN(2) == 0
		bits := uint8(1 + rng.IntN(64))
		if !signed && bits == 64 {
			bits = 63
		}
		off := uint64(rng.IntN(400))
		x := rng.Int64()
		ops := []BitFieldOp{
			{Kind: BitFieldSet, Signed: signed, Bits: bits, Offset: off, Arg: x},
			{Kind: BitFieldGet, Signed: signed, Bits: bits, Offset: off},
			{Kind: BitFieldGet, Signed: false, Bits: 8, Offset: uint64(rng.IntN(500))},
		}
		var want [3]int64
		want[0] = refGetField(model, off, bits, signed)
		model = refSetField(model, off, bits, uint64(x))
		want[1] = refGetField(model, off, bits, signed)
		want[2] = refGetField(model, ops[2].Offset, 8, false)
		if err := d.BitField(key, ops, t0); err != nil {
			t.Fatal(err)
		}
		for k := range ops {
			if ops[k].Result != want[k] || ops[k].Fail {
				t.Fatalf("iter %d op %d %+v: want %d", iter, k, ops[k], want[k])
			}
		}
		if iter%500 == 0 {
			if v, _ := getString(d, "bf", t0); v != string(model) {
				t.Fatalf("value differs from the model:\n%x\n%x", v, model)
			}
		}
	}
	mustVerify(t, e)
}

func refGetField(v []byte, off uint64, bits uint8, signed bool) int64 {
	var x uint64
	for j := uint64(0); j < uint64(bits); j++ {
		p := off + j
		x <<= 1
		if p/8 < uint64(len(v)) {
			x |= uint64(v[p/8]>>(7-p%8)) & 1
		}
	}
	if signed && bits < 64 && x>>(bits-1) == 1 {
		x |= math.MaxUint64 << bits
	}
	return int64(x)
}

func refSetField(v []byte, off uint64, bits uint8, x uint64) []byte {
	if need := int((off+uint64(bits)-1)/8) + 1; len(v) < need {
		v = append(v, make([]byte, need-len(v))...)
	}
	for j := uint64(0); j < uint64(bits); j++ {
		p := off + j
		if x>>(uint64(bits)-1-j)&1 == 1 {
			v[p/8] |= 0x80 >> (p % 8)
		} else {
			v[p/8] &^= 0x80 >> (p % 8)
		}
	}
	return v
}

func TestBitFieldReadOnlyAndFail(t *testing.T) {
	var writes int
	e := open(t, Config{OnChange: func(_ int, _ []byte, ev Event) {
		if ev == EventWrite {
			writes++
		}
	}})
	d := e.DB(0)
	ops := []BitFieldOp{{Kind: BitFieldGet, Bits: 8, Offset: 0}}
	if err := d.BitField([]byte("none"), ops, t0); err != nil || ops[0].Result != 0 {
		t.Fatalf("GET on a missing key: %v %+v", err, ops[0])
	}
	if d.Exists([]byte("none"), t0) {
		t.Fatal("a GET-only BITFIELD created the key")
	}
	// A FAIL overflow writes nothing, but the growth to the farthest bit still happens and
	// counts as a change (Redis's dirty flag).
	ops = []BitFieldOp{{Kind: BitFieldIncrBy, Bits: 2, Offset: 20, Arg: 5, Overflow: OverflowFail}}
	if err := d.BitField([]byte("f"), ops, t0); err != nil || !ops[0].Fail {
		t.Fatalf("FAIL: %v %+v", err, ops[0])
	}
	if v, _ := getString(d, "f", t0); v != "\x00\x00\x00" || writes != 1 {
		t.Fatalf("after FAIL: %x, %d writes", v, writes)
	}
	ops[0].Fail = false
	if d.BitField([]byte("f"), ops, t0); !ops[0].Fail || writes != 1 {
		t.Fatalf("a second FAIL changed something: %+v, %d writes", ops[0], writes)
	}
	ops = []BitFieldOp{{Kind: BitFieldSet, Bits: 8, Offset: 0, Arg: 0}}
	if d.BitField([]byte("f"), ops, t0); writes != 1 {
		t.Fatalf("SET of the same value: %d writes", writes)
	}
}
