package protocol

import (
	"math"
	"strconv"
)

// Append-style encoders: each appends one reply (or reply header) to dst and returns the
// extended slice; nothing else is allocated. Strings are written as given: a simple string
// or error must not contain "\r\n" (Redis leaves that to the caller too).

const crlf = "\r\n"

func appendPrefixInt(dst []byte, prefix byte, n int64) []byte {
	dst = append(dst, prefix)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, crlf...)
}

// AppendSimple appends +s\r\n.
func AppendSimple(dst []byte, s string) []byte {
	dst = append(dst, '+')
	dst = append(dst, s...)
	return append(dst, crlf...)
}

// AppendSimpleBytes appends +s\r\n.
func AppendSimpleBytes(dst []byte, s []byte) []byte {
	dst = append(dst, '+')
	dst = append(dst, s...)
	return append(dst, crlf...)
}

// AppendError appends -msg\r\n; msg carries its prefix ("ERR ...", "WRONGTYPE ...").
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	dst = append(dst, msg...)
	return append(dst, crlf...)
}

// AppendInt appends :n\r\n.
func AppendInt(dst []byte, n int64) []byte { return appendPrefixInt(dst, ':', n) }

// AppendBulk appends $len\r\nb\r\n. A nil b is an empty bulk string, not a null.
func AppendBulk(dst []byte, b []byte) []byte {
	dst = appendPrefixInt(dst, '$', int64(len(b)))
	dst = append(dst, b...)
	return append(dst, crlf...)
}

// AppendBulkString appends $len\r\ns\r\n.
func AppendBulkString(dst []byte, s string) []byte {
	dst = appendPrefixInt(dst, '$', int64(len(s)))
	dst = append(dst, s...)
	return append(dst, crlf...)
}

// AppendBulkInt appends the decimal form of n as a bulk string.
func AppendBulkInt(dst []byte, n int64) []byte {
	var tmp [20]byte
	return appendBulkBytes(dst, strconv.AppendInt(tmp[:0], n, 10))
}

func appendBulkBytes(dst, b []byte) []byte {
	dst = appendPrefixInt(dst, '$', int64(len(b)))
	dst = append(dst, b...)
	return append(dst, crlf...)
}

// AppendBulkHeader appends $n\r\n; the caller appends n bytes and then "\r\n".
func AppendBulkHeader(dst []byte, n int) []byte { return appendPrefixInt(dst, '$', int64(n)) }

// AppendArrayLen appends *n\r\n.
func AppendArrayLen(dst []byte, n int) []byte { return appendPrefixInt(dst, '*', int64(n)) }

// AppendNull appends a null bulk string: RESP2 $-1, RESP3 _.
func AppendNull(dst []byte, v Version) []byte {
	if v == RESP3 {
		return append(dst, "_\r\n"...)
	}
	return append(dst, "$-1\r\n"...)
}

// AppendNullArray appends a null array: RESP2 *-1, RESP3 _.
func AppendNullArray(dst []byte, v Version) []byte {
	if v == RESP3 {
		return append(dst, "_\r\n"...)
	}
	return append(dst, "*-1\r\n"...)
}

// AppendMapLen appends the header of a map of n pairs: RESP3 %n, RESP2 *2n.
func AppendMapLen(dst []byte, v Version, n int) []byte {
	if v == RESP3 {
		return appendPrefixInt(dst, '%', int64(n))
	}
	return appendPrefixInt(dst, '*', 2*int64(n))
}

// AppendSetLen appends the header of a set of n elements: RESP3 ~n, RESP2 *n.
func AppendSetLen(dst []byte, v Version, n int) []byte {
	if v == RESP3 {
		return appendPrefixInt(dst, '~', int64(n))
	}
	return appendPrefixInt(dst, '*', int64(n))
}

// AppendPushLen appends the header of a push of n elements: RESP3 >n, RESP2 *n.
func AppendPushLen(dst []byte, v Version, n int) []byte {
	if v == RESP3 {
		return appendPrefixInt(dst, '>', int64(n))
	}
	return appendPrefixInt(dst, '*', int64(n))
}

// AppendAttrLen appends the header of an attribute map of n pairs, |n (RESP3 only; the
// caller sends none to a RESP2 client).
func AppendAttrLen(dst []byte, n int) []byte { return appendPrefixInt(dst, '|', int64(n)) }

// AppendDouble appends f as Redis 7.0's addReplyDouble does: RESP3 ",<text>\r\n", RESP2 a
// bulk string of the same text, where the text is C's "%.17g" (0.1 is
// "0.10000000000000001", 1e21 is "1e+21"), or "inf", "-inf", "nan".
func AppendDouble(dst []byte, v Version, f float64) []byte {
	var tmp [32]byte // "%.17g" needs at most 24 bytes ("-2.2250738585072014e-308")
	var s []byte
	switch {
	case math.IsInf(f, 1):
		s = append(tmp[:0], "inf"...)
	case math.IsInf(f, -1):
		s = append(tmp[:0], "-inf"...)
	case math.IsNaN(f):
		s = append(tmp[:0], "nan"...)
	default:
		// Go's 'g' with precision 17 matches C's %.17g: same switch to exponent form,
		// trailing zeros dropped, at least two exponent digits.
		s = strconv.AppendFloat(tmp[:0], f, 'g', 17, 64)
	}
	if v == RESP3 {
		dst = append(dst, ',')
		dst = append(dst, s...)
		return append(dst, crlf...)
	}
	return appendBulkBytes(dst, s)
}

// AppendBool appends RESP3 #t/#f, RESP2 :1/:0.
func AppendBool(dst []byte, v Version, b bool) []byte {
	switch {
	case v == RESP3 && b:
		return append(dst, "#t\r\n"...)
	case v == RESP3:
		return append(dst, "#f\r\n"...)
	case b:
		return append(dst, ":1\r\n"...)
	default:
		return append(dst, ":0\r\n"...)
	}
}

// AppendBigNumber appends digits (an optional '-' and decimal digits) as RESP3 (digits,
// RESP2 a bulk string.
func AppendBigNumber(dst []byte, v Version, digits string) []byte {
	if v == RESP3 {
		dst = append(dst, '(')
		dst = append(dst, digits...)
		return append(dst, crlf...)
	}
	return AppendBulkString(dst, digits)
}

// AppendVerbatim appends b as RESP3 =len\r\nfmt:b\r\n, where format is three bytes ("txt",
// "mkd"); RESP2 gets b alone as a bulk string, as Redis's addReplyVerbatim does.
func AppendVerbatim(dst []byte, v Version, format string, b []byte) []byte {
	if v != RESP3 {
		return AppendBulk(dst, b)
	}
	dst = appendPrefixInt(dst, '=', int64(len(format)+1+len(b)))
	dst = append(dst, format...)
	dst = append(dst, ':')
	dst = append(dst, b...)
	return append(dst, crlf...)
}

// AppendBulkError appends msg as RESP3 !len\r\nmsg\r\n, RESP2 -msg\r\n.
func AppendBulkError(dst []byte, v Version, msg string) []byte {
	if v != RESP3 {
		return AppendError(dst, msg)
	}
	dst = appendPrefixInt(dst, '!', int64(len(msg)))
	dst = append(dst, msg...)
	return append(dst, crlf...)
}

// AppendCommand encodes args as a RESP multibulk command (client side: loadgen, tests).
func AppendCommand(dst []byte, args ...[]byte) []byte {
	dst = appendPrefixInt(dst, '*', int64(len(args)))
	for _, a := range args {
		dst = AppendBulk(dst, a)
	}
	return dst
}

// AppendCommandString is AppendCommand for string arguments.
func AppendCommandString(dst []byte, args ...string) []byte {
	dst = appendPrefixInt(dst, '*', int64(len(args)))
	for _, a := range args {
		dst = AppendBulkString(dst, a)
	}
	return dst
}
