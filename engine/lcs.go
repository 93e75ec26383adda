package engine

// LCS: the longest common subsequence of two strings, as t_string.c's lcsCommand finds it.
//
// Redis fills an (alen+1) x (blen+1) table of uint32 lengths and walks it back from the
// bottom-right corner: on equal bytes diagonally, otherwise up when LCS(i-1,j) > LCS(i,j-1),
// else left. The walk is what fixes which subsequence and which match ranges come out, so
// ours takes the same steps; but it only needs, for every cell, the one bit "up is longer",
// so the table here is alen*blen bits plus two rows of lengths: 1/32 of Redis's transient
// memory. The size limit and its error are still Redis's, computed on Redis's table, so the
// same inputs are refused.

import (
	"errors"
	"math"
)

// Errors of LCS with Redis's texts.
var (
	ErrLCSTooLong  = errors.New("ERR String too long for LCS")
	ErrLCSTooLarge = errors.New("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
	ErrLCSAlloc    = errors.New("ERR Insufficient memory, failed allocating transient memory for LCS")
)

// LCSInput looks up key1 and key2 (in that order, each counting a keyspace hit or miss, as
// lcsCommand's lookupKeyRead does) and, with both read under their segment locks, appends
// their values to dst: out[len(dst):len(dst)+n1] is key1's, the rest key2's (a missing key
// reads as ""). ErrWrongType if either is not a string. With copyValues false it stops after the type
// check and appends nothing (the caller has an argument error to report). It refuses, before
// copying anything, values whose table Redis would not allocate: ErrLCSTooLong,
// ErrLCSTooLarge (more than MaxValueSize bytes of uint32 cells).
func (d *DB) LCSInput(dst, key1, key2 []byte, now int64, copyValues bool) (out []byte, n1 int, err error) {
	s1, h1 := d.seg(key1)
	s2, h2 := d.seg(key2)
	a, b := s1.num, s2.num
	d.lock2(a, b)
	defer d.unlock2(a, b)
	i1 := s1.lookup(h1, key1, now)
	s1.countLookup(i1)
	i2 := s2.lookup(h2, key2, now)
	s2.countLookup(i2)
	// The second lookup may remove an expired key2 from s1 (same segment), which can move
	// key1's slot: find it again.
	if i1 >= 0 {
		i1 = s1.find(h1, key1)
	}
	// str returns slot i's value (nil for a missing key); ok is false for another type.
	str := func(s *segment, i int) (v []byte, ok bool) {
		if i < 0 {
			return nil, true
		}
		off := s.idx.slots[i].off
		if s.typeOf(off) != TypeString {
			return nil, false
		}
		d.touch(s, i, now)
		return s.valOf(off), true
	}
	v1, ok1 := str(s1, i1)
	v2, ok2 := str(s2, i2)
	if !ok1 || !ok2 {
		return dst, 0, ErrWrongType
	}
	if !copyValues {
		return dst, 0, nil
	}
	if err := lcsFits(len(v1), len(v2), d.e.cfg.MaxValueSize); err != nil {
		return dst, 0, err
	}
	dst = append(dst, v1...)
	return append(dst, v2...), len(v1), nil
}

// lcsFits is lcsCommand's size checks: lengths that fit in uint32, and a table of
// (n1+1)*(n2+1) uint32 within limit bytes.
func lcsFits(n1, n2 int, limit int64) error {
	if uint64(n1) >= math.MaxUint32-1 || uint64(n2) >= math.MaxUint32-1 {
		return ErrLCSTooLong
	}
	cells := (uint64(n1) + 1) * (uint64(n2) + 1) // < 2^64: both factors < 2^32
	if cells > math.MaxUint64/4 {
		return ErrLCSAlloc // Redis's size_t product overflows: its allocation fails
	}
	if cells*4 > uint64(limit) {
		return ErrLCSTooLarge
	}
	return nil
}

// LCSMatch is one range of LCS IDX: a[AStart..AEnd] equals b[BStart..BEnd] (inclusive),
// Len bytes long.
type LCSMatch struct {
	AStart, AEnd, BStart, BEnd uint32
	Len                        uint32
}

// LCSLen returns the length of the longest common subsequence of a and b, in O(len(b))
// memory. The caller checked the sizes (LCSInput).
func LCSLen(a, b []byte) int {
	prev := make([]uint32, len(b)+1)
	cur := make([]uint32, len(b)+1)
	for i := 1; i <= len(a); i++ {
		ca := a[i-1]
		for j := 1; j <= len(b); j++ {
			if ca == b[j-1] {
				cur[j] = prev[j-1] + 1
			} else {
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return int(prev[len(b)])
}

// LCS appends the longest common subsequence of a and b to dst and returns it with its
// length. If match is not nil it is called for every matching range of at least minLen bytes
// (0: all), in the order Redis's IDX reply lists them: from the ends of the strings back.
// The caller checked the sizes (LCSInput).
func LCS(dst, a, b []byte, minLen int64, match func(LCSMatch)) ([]byte, int) {
	alen, blen := uint32(len(a)), uint32(len(b))
	// up has bit (i-1)*blen+(j-1) set when LCS(i-1,j) > LCS(i,j-1).
	up := make([]uint64, (uint64(alen)*uint64(blen)+63)/64)
	prev := make([]uint32, blen+1)
	cur := make([]uint32, blen+1)
	var cell uint64
	for i := uint32(1); i <= alen; i++ {
		ca := a[i-1]
		for j := uint32(1); j <= blen; j++ {
			u, l := prev[j], cur[j-1]
			if ca == b[j-1] {
				cur[j] = prev[j-1] + 1
			} else {
				cur[j] = max(u, l)
			}
			if u > l {
				up[cell>>6] |= 1 << (cell & 63)
			}
			cell++
		}
		prev, cur = cur, prev
	}
	length := prev[blen]
	start := len(dst)
	for k := uint32(0); k < length; k++ {
		dst = append(dst, 0)
	}
	res := dst[start:]

	idx := length
	// aStart == alen means no range is open.
	aStart, aEnd, bStart, bEnd := alen, uint32(0), uint32(0), uint32(0)
	i, j := alen, blen
	for i > 0 && j > 0 {
		emit := false
		if a[i-1] == b[j-1] {
			res[idx-1] = a[i-1]
			switch {
			case aStart == alen:
				aStart, aEnd, bStart, bEnd = i-1, i-1, j-1, j-1
			case aStart == i && bStart == j: // contiguous: extend the range backwards
				aStart--
				bStart--
			default:
				emit = true
			}
			if aStart == 0 || bStart == 0 {
				emit = true
			}
			idx--
			i--
			j--
		} else {
			c := uint64(i-1)*uint64(blen) + uint64(j-1)
			if up[c>>6]&(1<<(c&63)) != 0 {
				i--
			} else {
				j--
			}
			if aStart != alen {
				emit = true
			}
		}
		if emit {
			n := aEnd - aStart + 1
			if match != nil && (minLen == 0 || int64(n) >= minLen) {
				match(LCSMatch{AStart: aStart, AEnd: aEnd, BStart: bStart, BEnd: bEnd, Len: n})
			}
			aStart = alen
		}
	}
	return dst, int(length)
}
