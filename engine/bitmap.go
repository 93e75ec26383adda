package engine

// Bitmaps: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP and BITFIELD on string values, as
// src/bitops.c does them. Bit 0 is the most significant bit of the first byte; a string is
// read as if zero-padded on the right. Reads work on the value in the arena under the
// segment lock, without copying; writes grow the value zero-filled, as SETRANGE does,
// through the memory gate.

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// ErrBitOffset is the reply to a bit offset that is negative, not an integer, or beyond
// proto-max-bulk-len bytes (getBitOffsetFromArgument).
var ErrBitOffset = errors.New("ERR bit offset is not an integer or out of range")

// MaxValueSize returns proto-max-bulk-len in bytes: the longest string a write may make,
// and the bound of bit offsets (offset>>3 must stay below it).
func (e *Engine) MaxValueSize() int64 { return e.cfg.MaxValueSize }

// growString makes the string value of key (slot i, or a new key when i < 0) at least n
// bytes long, zero-filling new bytes, and returns the value (valid under the lock until the
// entry changes) and whether the key was created or grew. A new key has no TTL. The caller
// checked the type.
func (s *segment) growString(h uint32, key []byte, i, n int, now int64) ([]byte, bool, error) {
	if i < 0 {
		err := s.admit(nil, entryCost(len(key), n), newKey(h), noProtect, now)
		if err != nil {
			return nil, false, err
		}
		defer s.settle(nil)
		noff, v, err := s.newEntry(key, n, 0, TypeString)
		if err != nil {
			return nil, false, err
		}
		clear(v)
		if err := s.insert(h, noff, 0, now); err != nil {
			s.freeEntry(noff)
			return nil, false, err
		}
		return v, true, nil
	}
	off := s.idx.slots[i].off
	if s.vlen(off) >= n {
		s.touch(i, now)
		return s.valOf(off), false, nil
	}
	v, i, err := s.resizeValue(i, n, now)
	if err != nil {
		return nil, false, err
	}
	s.touch(i, now)
	return v, true, nil
}

// SetBit sets or clears the bit at offset of a string key, creating or growing it
// (zero-filled), and returns the bit's old value. Offsets from MaxValueSize*8 on are
// ErrBitOffset. Like Redis it reports a write only when the bit or the length changed.
func (d *DB) SetBit(key []byte, offset uint64, on bool, now int64) (int, error) {
	if offset>>3 >= uint64(d.e.cfg.MaxValueSize) {
		return 0, ErrBitOffset
	}
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	if i >= 0 && s.typeOf(s.idx.slots[i].off) != TypeString {
		return 0, ErrWrongType
	}
	byteAt := int(offset >> 3)
	v, grown, err := s.growString(h, key, i, byteAt+1, now)
	if err != nil {
		return 0, err
	}
	mask := byte(0x80) >> (offset & 7)
	old := 0
	if v[byteAt]&mask != 0 {
		old = 1
	}
	if grown || (old == 1) != on {
		if on {
			v[byteAt] |= mask
		} else {
			v[byteAt] &^= mask
		}
		s.notify(key, EventWrite)
	}
	return old, nil
}

// GetBit returns the bit at offset of a string key: 0 past its end or for a missing key.
// It counts a keyspace hit or miss.
func (d *DB) GetBit(key []byte, offset uint64, now int64) (int, error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	s.countLookup(i)
	if i < 0 {
		return 0, nil
	}
	off := s.idx.slots[i].off
	if s.typeOf(off) != TypeString {
		return 0, ErrWrongType
	}
	d.touch(s, i, now)
	v := s.valOf(off)
	if b := offset >> 3; b < uint64(len(v)) && v[b]&(0x80>>(offset&7)) != 0 {
		return 1, nil
	}
	return 0, nil
}

// BitRange is the optional range of BITCOUNT and BITPOS: start and end are inclusive
// offsets, negative ones counting from the end, in bytes or (Bit) in bits.
type BitRange struct {
	Start, End int64
	// HasStart: a range was given (BITCOUNT takes start and end together). HasEnd: BITPOS
	// was given an end, which changes what a search for a clear bit answers.
	HasStart, HasEnd bool
	Bit              bool // offsets are in bits (BIT), not bytes (BYTE)
}

// span resolves r against a value of n bytes as bitcountCommand and bitposCommand do: the
// byte range [start, end] (empty when start > end) and the masks of the bits of its first
// and last byte that lie outside a BIT range.
func (r BitRange) span(n int64) (start, end int64, firstMask, lastMask byte) {
	if !r.HasStart {
		return 0, n - 1, 0, 0
	}
	start = r.Start
	end = n - 1
	switch {
	case r.HasEnd:
		end = r.End
	case r.Bit:
		end = n<<3 + 7
	}
	total := n
	if r.Bit {
		total <<= 3
	}
	if start < 0 {
		start += total
	}
	if end < 0 {
		end += total
	}
	start = max(start, 0)
	end = max(end, 0)
	if end >= total {
		end = total - 1
	}
	if r.Bit && start <= end {
		firstMask = ^byte(1<<(8-start&7) - 1)
		lastMask = byte(1<<(7-end&7) - 1)
		start >>= 3
		end >>= 3
	}
	return start, end, firstMask, lastMask
}

// CountBits is BITCOUNT on a value: the number of set bits in range r.
func CountBits(v []byte, r BitRange) int64 {
	if r.HasStart && r.Start < 0 && r.End < 0 && r.Start > r.End {
		return 0
	}
	start, end, first, last := r.span(int64(len(v)))
	if start > end {
		return 0
	}
	n := popcount(v[start : end+1])
	n -= int64(bits.OnesCount8(v[start] & first))
	n -= int64(bits.OnesCount8(v[end] & last))
	return n
}

// popcount returns the number of set bits in b.
func popcount(b []byte) int64 {
	var n int
	for len(b) >= 32 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(b)) +
			bits.OnesCount64(binary.LittleEndian.Uint64(b[8:])) +
			bits.OnesCount64(binary.LittleEndian.Uint64(b[16:])) +
			bits.OnesCount64(binary.LittleEndian.Uint64(b[24:]))
		b = b[32:]
	}
	for len(b) >= 8 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	for _, c := range b {
		n += bits.OnesCount8(c)
	}
	return int64(n)
}

// firstBit is redisBitpos: the position of the first bit equal to bit (0 or 1) in b. Past
// the end b reads as zeros: with no set bit it returns -1, with no clear bit len(b)*8.
func firstBit(b []byte, bit int) int64 {
	var flip uint64
	if bit == 0 {
		flip = math.MaxUint64
	}
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if w := binary.BigEndian.Uint64(b[i:]) ^ flip; w != 0 {
			return int64(i)*8 + int64(bits.LeadingZeros64(w))
		}
	}
	for ; i < len(b); i++ {
		if c := b[i] ^ byte(flip); c != 0 {
			return int64(i)*8 + int64(bits.LeadingZeros8(c))
		}
	}
	if bit == 1 {
		return -1
	}
	return int64(len(b)) * 8
}

// FindBit is BITPOS on a value: the position of the first bit equal to bit in range r, or
// -1. Without an end a search for a clear bit may answer the first bit past the value (a
// string reads as zero-padded); with an end given it answers -1 instead.
func FindBit(v []byte, bit int, r BitRange) int64 {
	start, end, first, last := r.span(int64(len(v)))
	if start > end {
		return -1
	}
	n := end - start + 1 // bytes left to search, from start
	var pos int64
	var one [1]byte
	mask := func(c, m byte) byte {
		if bit == 1 {
			return c &^ m
		}
		return c | m
	}
	done := false
	if first != 0 {
		one[0] = mask(v[start], first)
		if last != 0 && n == 1 {
			one[0] = mask(one[0], last)
		}
		pos = firstBit(one[:], bit)
		if n == 1 || (pos != -1 && pos != 8) {
			done = true
		} else {
			start++
			n--
		}
	}
	if !done {
		cur := n
		if last != 0 {
			cur--
		}
		if cur > 0 {
			pos = firstBit(v[start:start+cur], bit)
			if n == cur || (pos != -1 && pos != cur<<3) {
				done = true
			} else {
				start += cur
				n -= cur
			}
		}
	}
	if !done {
		one[0] = mask(v[end], last)
		pos = firstBit(one[:], bit)
	}
	if r.HasEnd && bit == 0 && pos == n<<3 {
		return -1
	}
	if pos != -1 {
		pos += start << 3
	}
	return pos
}

// BitCount is BITCOUNT: the set bits of a string key in range r (0 for a missing key). It
// counts a keyspace hit or miss.
func (d *DB) BitCount(key []byte, r BitRange, now int64) (int64, error) {
	var n int64
	_, err := d.Get(key, now, func(v []byte) { n = CountBits(v, r) })
	return n, err
}

// BitPos is BITPOS: the first bit equal to bit in range r of a string key. A missing key
// reads as endless zeros: 0 for a clear bit, -1 for a set one. It counts a hit or miss.
func (d *DB) BitPos(key []byte, bit int, r BitRange, now int64) (int64, error) {
	pos := int64(-bit)
	_, err := d.Get(key, now, func(v []byte) { pos = FindBit(v, bit, r) })
	return pos, err
}

// BitOpKind is BITOP's operation.
type BitOpKind uint8

const (
	BitAnd BitOpKind = iota
	BitOr
	BitXor
	BitNot // one source
)

// BitOp is BITOP: it combines the string values of srcs (a missing key reads as an empty
// string, every source as zero-padded to the longest) and stores the result in dst without
// TTL, or deletes dst when every source is empty. It returns the result's length. The result
// is built in scratch (grown as needed, returned for reuse: it still holds the result).
//
// The segments of dst and of every source are locked together, in the fixed order, so the
// sources are read and dst written as one step. Sources are looked up in order, counting hits
// and misses, and the first one that is not a string stops the command (ErrWrongType).
func (d *DB) BitOp(op BitOpKind, dst []byte, srcs [][]byte, now int64, scratch []byte) (int64, []byte, error) {
	var set segSet
	dsi, dh := d.segOf(xxhash.Sum64(dst))
	set[dsi>>6] |= 1 << (dsi & 63)
	for _, k := range srcs {
		si, _ := d.segOf(xxhash.Sum64(k))
		set[si>>6] |= 1 << (si & 63)
	}
	d.lockSet(&set)
	defer d.unlockSet(&set)
	maxLen := 0
	for _, k := range srcs {
		s, h := d.seg(k)
		i := s.lookup(h, k, now)
		s.countLookup(i)
		if i < 0 {
			continue
		}
		off := s.idx.slots[i].off
		if s.typeOf(off) != TypeString {
			return 0, scratch, ErrWrongType
		}
		d.touch(s, i, now) // a source is read (lookupKeyRead)
		maxLen = max(maxLen, s.vlen(off))
	}
	ds := &d.segs[dsi]
	if maxLen == 0 {
		if i := ds.lookup(dh, dst, now); i >= 0 {
			ds.removeAt(i, EventDelete, true)
		}
		return 0, scratch, nil
	}
	res := slices.Grow(scratch[:0], maxLen)[:maxLen]
	// The first pass removed what had expired, so find sees exactly the live sources.
	for j, k := range srcs {
		s, h := d.seg(k)
		var v []byte
		if i := s.find(h, k); i >= 0 {
			v = s.valOf(s.idx.slots[i].off)
		}
		if j == 0 {
			clear(res[copy(res, v):])
			if op == BitNot {
				notBytes(res)
			}
			continue
		}
		combine(op, res, v)
	}
	if d.e.maxMemory.Load() > 0 {
		// As MSET: an upper bound (the old value is not credited), plus, while dst is absent
		// (expired, or evicted by the gate, too), every index rebuild its insert can chain.
		idx := func() int64 {
			if i := ds.find(dh, dst); i >= 0 && !ds.isExpired(i, now) {
				return 0
			}
			return ds.insertCost(dh)
		}
		if err := d.admitSet(&set, entryCost(len(dst), maxLen), idx, now); err != nil {
			return 0, res, err
		}
		defer d.settleSet(&set)
	}
	i := ds.lookup(dh, dst, now)
	if err := ds.storeString(dh, dst, res, i, 0, now, false); err != nil {
		return 0, res, err
	}
	ds.notify(dst, EventWrite)
	return int64(maxLen), res, nil
}

// notBytes inverts every bit of b.
func notBytes(b []byte) {
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, ^binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	for k := range b {
		b[k] = ^b[k]
	}
}

// combine folds v into res with op (And, Or, Xor); v reads as zero past its end.
func combine(op BitOpKind, res, v []byte) {
	if op == BitAnd && len(v) < len(res) {
		clear(res[len(v):])
	}
	res = res[:min(len(res), len(v))]
	for len(res) >= 8 {
		a, b := binary.LittleEndian.Uint64(res), binary.LittleEndian.Uint64(v)
		switch op {
		case BitAnd:
			a &= b
		case BitOr:
			a |= b
		case BitXor:
			a ^= b
		}
		binary.LittleEndian.PutUint64(res, a)
		res, v = res[8:], v[8:]
	}
	for k := range res {
		switch op {
		case BitAnd:
			res[k] &= v[k]
		case BitOr:
			res[k] |= v[k]
		case BitXor:
			res[k] ^= v[k]
		}
	}
}
