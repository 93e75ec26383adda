package engine

// BITFIELD: signed and unsigned integers of 1 to 64 bits (unsigned: 63) at any bit offset
// of a string, read and written most significant bit first, as bitops.c's
// getUnsignedBitfield / setUnsignedBitfield, with its three overflow behaviours.

import "math"

// BitFieldKind is a BITFIELD operation.
type BitFieldKind uint8

const (
	BitFieldGet BitFieldKind = iota
	BitFieldSet
	BitFieldIncrBy
)

// BitOverflow is BITFIELD's OVERFLOW mode for the SET and INCRBY that follow it.
type BitOverflow uint8

const (
	OverflowWrap BitOverflow = iota // modular arithmetic (the default)
	OverflowSat                     // clamp to the type's minimum or maximum
	OverflowFail                    // do nothing and answer null
)

// BitFieldOp is one operation of a BITFIELD command. Bits is 1..64 when Signed, 1..63
// otherwise (the caller validates, as getBitfieldTypeFromArgument does). BitField fills in
// Result, or sets Fail when OverflowFail stopped the operation.
type BitFieldOp struct {
	Kind     BitFieldKind
	Signed   bool
	Bits     uint8
	Overflow BitOverflow
	Offset   uint64 // in bits
	Arg      int64  // SET's value, INCRBY's increment

	Result int64 // GET: the value; SET: the old value; INCRBY: the new value
	Fail   bool
}

// BitField runs ops on a string key in one critical section. With only GETs it is a read
// (a missing key reads as zeros; a keyspace hit or miss is counted); otherwise the value is
// first grown, zero-filled, to the farthest bit any SET or INCRBY reaches (creating the
// key), and the ops run in order. A write is reported when the value changed or grew.
func (d *DB) BitField(key []byte, ops []BitFieldOp, now int64) error {
	readonly := true
	var highest uint64
	for k := range ops {
		if op := &ops[k]; op.Kind != BitFieldGet {
			readonly = false
			highest = max(highest, op.Offset+uint64(op.Bits)-1)
		}
	}
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	if readonly {
		s.countLookup(i)
	}
	var v []byte
	if i >= 0 {
		off := s.idx.slots[i].off
		if s.typeOf(off) != TypeString {
			return ErrWrongType
		}
		if readonly {
			d.touch(s, i, now)
			v = s.valOf(off)
		}
	}
	changed := false
	if !readonly {
		var err error
		if v, changed, err = s.growString(h, key, i, int(highest>>3)+1, now); err != nil {
			return err
		}
	}
	for k := range ops {
		op := &ops[k]
		if op.Kind == BitFieldGet {
			op.Result = getField(v, op.Offset, op.Bits, op.Signed)
			continue
		}
		var old, nv, wrapped int64
		var overflow bool
		if op.Signed {
			old = getSigned(v, op.Offset, op.Bits)
			if op.Kind == BitFieldIncrBy {
				overflow, wrapped = signedOverflow(old, op.Arg, op.Bits, op.Overflow)
				nv = old + op.Arg
				op.Result = nv
				if overflow {
					nv, op.Result = wrapped, wrapped
				}
			} else {
				nv = op.Arg
				if overflow, wrapped = signedOverflow(nv, 0, op.Bits, op.Overflow); overflow {
					nv = wrapped
				}
				op.Result = old
			}
		} else {
			uold := getUnsigned(v, op.Offset, op.Bits)
			var unv, uw uint64
			if op.Kind == BitFieldIncrBy {
				unv = uold + uint64(op.Arg)
				if overflow, uw = unsignedOverflow(uold, op.Arg, op.Bits, op.Overflow); overflow {
					unv = uw
				}
				op.Result = int64(unv)
			} else {
				unv = uint64(op.Arg)
				if overflow, uw = unsignedOverflow(unv, 0, op.Bits, op.Overflow); overflow {
					unv = uw
				}
				op.Result = int64(uold)
			}
			old, nv = int64(uold), int64(unv)
		}
		if overflow && op.Overflow == OverflowFail {
			op.Fail = true
			continue
		}
		setUnsigned(v, op.Offset, op.Bits, uint64(nv))
		if old != nv {
			changed = true
		}
	}
	if changed {
		s.notify(key, EventWrite)
	}
	return nil
}

// getUnsigned reads a bits-wide unsigned integer at bit offset off of v, which must hold it.
func getUnsigned(v []byte, off uint64, bits uint8) uint64 {
	var x uint64
	for j := uint8(0); j < bits; j++ {
		x = x<<1 | uint64(v[off>>3]>>(7-off&7)&1)
		off++
	}
	return x
}

// getSigned reads a bits-wide two's complement integer at bit offset off of v.
func getSigned(v []byte, off uint64, bits uint8) int64 {
	x := getUnsigned(v, off, bits)
	if bits < 64 && x&(1<<(bits-1)) != 0 {
		x |= math.MaxUint64 << bits
	}
	return int64(x)
}

// setUnsigned writes the low bits of x at bit offset off of v, which must have room.
func setUnsigned(v []byte, off uint64, bits uint8, x uint64) {
	for j := uint8(0); j < bits; j++ {
		m := byte(0x80) >> (off & 7)
		if x&(1<<(bits-1-j)) != 0 {
			v[off>>3] |= m
		} else {
			v[off>>3] &^= m
		}
		off++
	}
}

// getField is GET: it reads past the end of v as zeros (v may be nil: a missing key).
func getField(v []byte, off uint64, bits uint8, signed bool) int64 {
	var buf [9]byte // 64 bits at any bit alignment span at most 9 bytes
	b := off >> 3
	if b < uint64(len(v)) {
		copy(buf[:], v[b:])
	}
	if signed {
		return getSigned(buf[:], off&7, bits)
	}
	return int64(getUnsigned(buf[:], off&7, bits))
}

// unsignedOverflow is checkUnsignedBitfieldOverflow: whether value+incr leaves the range of
// a bits-wide unsigned integer and, if so, the value to store under mode (Wrap: modulo
// 2^bits; Sat: the bound crossed).
func unsignedOverflow(value uint64, incr int64, bits uint8, mode BitOverflow) (bool, uint64) {
	maxv := uint64(1)<<bits - 1
	maxIncr := int64(maxv - value)
	minIncr := int64(-value)
	var limit uint64
	switch {
	case value > maxv || (incr > 0 && incr > maxIncr):
		limit = maxv
	case incr < 0 && incr < minIncr:
		limit = 0
	default:
		return false, 0
	}
	if mode == OverflowWrap {
		limit = (value + uint64(incr)) &^ (math.MaxUint64 << bits)
	}
	return true, limit
}

// signedOverflow is checkSignedBitfieldOverflow for a bits-wide two's complement integer.
func signedOverflow(value, incr int64, bits uint8, mode BitOverflow) (bool, int64) {
	maxv := int64(math.MaxInt64)
	if bits < 64 {
		maxv = 1<<(bits-1) - 1
	}
	minv := -maxv - 1
	// maxIncr and minIncr may wrap; they are used only once value is known to be in range,
	// where they do not.
	maxIncr := int64(uint64(maxv) - uint64(value))
	minIncr := minv - value
	var limit int64
	switch {
	case value > maxv || (bits != 64 && incr > maxIncr) || (value >= 0 && incr > 0 && incr > maxIncr):
		limit = maxv
	case value < minv || (bits != 64 && incr < minIncr) || (value < 0 && incr < 0 && incr < minIncr):
		limit = minv
	default:
		return false, 0
	}
	if mode == OverflowWrap {
		c := uint64(value) + uint64(incr)
		if bits < 64 {
			mask := uint64(math.MaxUint64) << bits
			if c&(1<<(bits-1)) != 0 {
				c |= mask
			} else {
				c &^= mask
			}
		}
		limit = int64(c)
	}
	return true, limit
}
