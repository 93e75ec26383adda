package command

import (
	"math/big"
)

// INCRBYFLOAT computes in C's long double, which on x86-64 Linux (where the reference Redis
// runs) is the x87 80-bit extended format: a 64-bit mantissa and a 15-bit exponent. Its
// replies show that precision ("5205.60000000000000009", "0.3" where float64 gives
// "0.30000000000000004"), so the command emulates it with math/big at 64 bits of
// precision, rounding to nearest even as the x87 does:
//
//	parse:  strtold's grammar, and Redis's string2ld checks (no leading space, no NaN,
//	        no overflow, no underflow to zero)
//	add:    one correctly rounded 64-bit addition
//	format: printf("%.17Lf") with trailing zeros and a trailing '.' removed, "-0" as "0"
//	        (ld2string's LD_STR_HUMAN)
//
// Subnormal extended values (below 2^-16382) are not narrowed to fewer mantissa bits.

const (
	ldPrec = 64 // mantissa bits of the x87 extended format
	// Exponent range as big.Float.MantExp reports it (|x| = m * 2^exp, 0.5 <= m < 1).
	ldMaxExp = 16384  // largest finite: just under 2^16384
	ldMinExp = -16444 // smallest subnormal: 2^-16445
	// ldMaxChars is Redis's MAX_LONG_DOUBLE_CHARS: longer input is not a number.
	ldMaxChars = 5 * 1024
)

// ldValue is a parsed long double: inf is set for infinities (sign in neg), else f holds the
// value.
type ldValue struct {
	f   *big.Float
	inf bool
	neg bool
}

// parseLongDouble parses b as Redis's string2ld: strtold must consume all of it, it may
// not start with a space, and NaN, overflow and underflow to zero are errors.
func parseLongDouble(b []byte) (ldValue, bool) {
	if len(b) == 0 || len(b) >= ldMaxChars {
		return ldValue{}, false
	}
	s := string(b)
	i := 0
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		i++
	}
	rest := s[i:]
	if eqFold([]byte(rest), "inf") || eqFold([]byte(rest), "infinity") {
		return ldValue{inf: true, neg: neg}, true
	}
	hex := len(rest) > 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X')
	if !validFloatSyntax(rest, hex) {
		return ldValue{}, false // includes "nan", trailing garbage, a bare sign
	}
	f := new(big.Float).SetPrec(ldPrec).SetMode(big.ToNearestEven)
	var err error
	if hex {
		_, _, err = f.Parse(s, 0)
	} else {
		_, _, err = f.Parse(s, 10)
	}
	if err != nil {
		return ldValue{}, false
	}
	if f.Sign() != 0 {
		exp := f.MantExp(nil)
		if exp > ldMaxExp || exp < ldMinExp {
			return ldValue{}, false // ERANGE: overflow to HUGE_VALL or underflow to zero
		}
	}
	return ldValue{f: f, neg: neg}, true
}

// validFloatSyntax reports whether s (after the sign) is entirely a strtold number:
// decimal "digits[.digits][e[sign]digits]" (either side of the point may be empty, not
// both) or hexadecimal "0x hexdigits[.hexdigits][p[sign]digits]".
func validFloatSyntax(s string, hex bool) bool {
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	isHex := func(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F') }
	digit, expCh := isDigit, byte('e')
	i := 0
	if hex {
		digit, expCh = isHex, 'p'
		i = 2
	}
	n := 0
	for i < len(s) && digit(s[i]) {
		i++
		n++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && digit(s[i]) {
			i++
			n++
		}
	}
	if n == 0 {
		return false
	}
	if i < len(s) && (s[i]|0x20) == expCh {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		m := 0
		for i < len(s) && isDigit(s[i]) {
			i++
			m++
		}
		if m == 0 {
			return false
		}
	}
	return i == len(s)
}

// addLongDouble returns a+b rounded to 64 bits; ok is false if the sum is infinite or NaN.
func addLongDouble(a, b ldValue) (*big.Float, bool) {
	if a.inf || b.inf {
		return nil, false // inf, or inf-inf = NaN: both refused
	}
	r := new(big.Float).SetPrec(ldPrec).SetMode(big.ToNearestEven).Add(a.f, b.f)
	if r.Sign() != 0 && r.MantExp(nil) > ldMaxExp {
		return nil, false
	}
	return r, true
}

// appendLongDoubleHuman appends v as ld2string(LD_STR_HUMAN): "%.17Lf", trailing zeros and
// point removed, "-0" as "0". big.Float's 'f' conversion is exact and rounds half to even,
// as glibc's printf does.
func appendLongDoubleHuman(dst []byte, v *big.Float) []byte {
	start := len(dst)
	dst = v.Append(dst, 'f', 17)
	for len(dst) > start && dst[len(dst)-1] == '0' {
		dst = dst[:len(dst)-1]
	}
	if len(dst) > start && dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	if string(dst[start:]) == "-0" {
		dst = append(dst[:start], '0')
	}
	return dst
}
