// Package longdouble is C's long double as Redis computes with it (INCRBYFLOAT, and later
// HINCRBYFLOAT): parse, add and print, with the results of the reference redis-server.
//
// On x86-64 Linux, where the reference Redis runs, long double is the x87 80-bit extended
// format: a 64-bit mantissa and a 15-bit exponent. Redis's replies show that precision
// ("5205.60000000000000009", "0.3" where float64 gives "0.30000000000000004"), so this
// package emulates it with math/big at 64 bits of precision, rounding to nearest even as the
// x87 does:
//
//	Parse:       strtold's grammar, and Redis's string2ld checks (no leading space, no NaN,
//	             no overflow, no underflow to zero)
//	Add:         one correctly rounded 64-bit addition; an infinite or NaN sum is refused
//	AppendHuman: printf("%.17Lf") with trailing zeros and a trailing '.' removed, "-0" as "0"
//	             (ld2string's LD_STR_HUMAN)
//
// Subnormal extended values (below 2^-16382) are not narrowed to fewer mantissa bits.
// Standard library only: the engine imports it to add under a segment lock.
package longdouble

import "math/big"

const (
	prec = 64 // mantissa bits of the x87 extended format
	// Exponent range as big.Float.MantExp reports it (|x| = m * 2^exp, 0.5 <= m < 1).
	maxExp = 16384  // largest finite: just under 2^16384
	minExp = -16444 // smallest subnormal: 2^-16445
	// MaxChars is Redis's MAX_LONG_DOUBLE_CHARS: input of this length or longer is not a
	// number.
	MaxChars = 5 * 1024
)

// Value is a long double. The zero Value is 0.
type Value struct {
	f   *big.Float // nil means 0 (when !inf)
	inf bool       // ±infinity
	neg bool       // -infinity (finite values carry their sign in f)
}

// Parse parses b as Redis's string2ld: strtold must consume all of it, it may not start with
// a space, and NaN, overflow and underflow to zero are errors. "inf" and "infinity" (any
// case, signed) are accepted, as strtold does; Add then refuses them. b is not retained.
func Parse(b []byte) (Value, bool) {
	if len(b) == 0 || len(b) >= MaxChars {
		return Value{}, false
	}
	i := 0
	neg := false
	if b[0] == '+' || b[0] == '-' {
		neg = b[0] == '-'
		i++
	}
	rest := b[i:]
	if eqFold(rest, "inf") || eqFold(rest, "infinity") {
		return Value{inf: true, neg: neg}, true
	}
	hex := len(rest) > 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X')
	if !validSyntax(rest, hex) {
		return Value{}, false // includes "nan", trailing garbage, a bare sign, leading space
	}
	f := new(big.Float).SetPrec(prec).SetMode(big.ToNearestEven)
	base := 10
	if hex {
		base = 0 // big.Float.Parse reads the 0x prefix and the p exponent
	}
	if _, _, err := f.Parse(string(b), base); err != nil {
		return Value{}, false
	}
	if f.Sign() != 0 {
		if exp := f.MantExp(nil); exp > maxExp || exp < minExp {
			return Value{}, false // ERANGE: overflow to HUGE_VALL or underflow to zero
		}
	}
	return Value{f: f}, true
}

// validSyntax reports whether s (after the sign) is entirely a strtold number: decimal
// "digits[.digits][e[sign]digits]" (either side of the point may be empty, not both) or
// hexadecimal "0x hexdigits[.hexdigits][p[sign]digits]".
func validSyntax(s []byte, hex bool) bool {
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
	if i < len(s) && s[i]|0x20 == expCh {
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

// Add returns a+b rounded to 64 mantissa bits; ok is false if the sum is infinite or NaN
// (INCRBYFLOAT's "increment would produce NaN or Infinity").
func Add(a, b Value) (sum Value, ok bool) {
	if a.inf || b.inf {
		return Value{}, false // inf, or inf-inf = NaN: both refused
	}
	r := new(big.Float).SetPrec(prec).SetMode(big.ToNearestEven)
	switch {
	case a.f == nil && b.f == nil:
		return Value{f: r}, true
	case a.f == nil:
		r.Set(b.f)
	case b.f == nil:
		r.Set(a.f)
	default:
		r.Add(a.f, b.f)
	}
	if r.Sign() != 0 && r.MantExp(nil) > maxExp {
		return Value{}, false
	}
	return Value{f: r}, true
}

// IsInf reports whether v is an infinity (HINCRBYFLOAT refuses an infinite increment before
// looking at the key).
func (v Value) IsInf() bool { return v.inf }

// AppendHuman appends v as ld2string(LD_STR_HUMAN) prints it: "%.17Lf" with trailing zeros
// and point removed, "-0" as "0", infinities as "inf" / "-inf". big.Float's 'f' conversion is
// exact and rounds half to even, as glibc's printf does.
func (v Value) AppendHuman(dst []byte) []byte {
	if v.inf {
		if v.neg {
			return append(dst, "-inf"...)
		}
		return append(dst, "inf"...)
	}
	if v.f == nil {
		return append(dst, '0')
	}
	start := len(dst)
	dst = v.f.Append(dst, 'f', 17)
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

// eqFold reports whether b equals the lower-case ASCII word w, ignoring case.
func eqFold(b []byte, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i]|0x20 != w[i] {
			return false
		}
	}
	return true
}
