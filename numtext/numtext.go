// Package numtext parses integers the way Redis does, for every layer that reads numbers
// from bytes: the RESP parser (lengths), the commands (arguments) and the engine (INCR on a
// stored value). One implementation, so "01", "+1" or "-0" mean the same thing everywhere.
// Standard library only.
package numtext

import "math"

// ParseInt is Redis's util.c string2ll: an optional '-', then digits without leading zeros
// ("0" alone is fine; "-0", "+1", "01", " 1" and "" are not), at most 20 bytes, within int64.
func ParseInt(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) >= 21 {
		return 0, false
	}
	if len(s) == 1 && s[0] == '0' {
		return 0, true
	}
	i, neg := 0, false
	if s[0] == '-' {
		neg, i = true, 1
		if len(s) == 1 {
			return 0, false
		}
	}
	if s[i] < '1' || s[i] > '9' {
		return 0, false
	}
	v, ok := Digits(s[i:])
	if !ok {
		return 0, false
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true // -(1<<63) wraps to MinInt64 as wanted
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// Digits reads s, which must be one or more decimal digits and nothing else, as a uint64;
// false on any other byte or an overflow. The sign and leading-zero rules are the caller's.
func Digits(s []byte) (uint64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > math.MaxUint64/10 {
			return 0, false
		}
		v *= 10
		d := uint64(c - '0')
		if v > math.MaxUint64-d {
			return 0, false
		}
		v += d
	}
	return v, true
}
