package command

import (
	"strconv"

	"github.com/sidecache/sidecache/numtext"
)

// parseInt parses an integer argument as Redis's string2ll does (see numtext).
func parseInt(b []byte) (int64, bool) { return numtext.ParseInt(b) }

// parseCursor parses a SCAN cursor as Redis's strtoul-based parseScanCursorOrReply: an
// empty string is 0, leading '+', '-' (wrapping) and zeros are accepted, and anything left
// unparsed, a leading space or an overflow is an error.
func parseCursor(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, true
	}
	i := 0
	neg := false
	if b[0] == '+' || b[0] == '-' {
		neg = b[0] == '-'
		i++
	}
	if i == len(b) {
		return 0, false // strtoul parsed nothing: eptr points at the sign
	}
	v, ok := numtext.Digits(b[i:])
	if !ok {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

// appendUint appends the decimal form of v.
func appendUint(dst []byte, v uint64) []byte { return strconv.AppendUint(dst, v, 10) }
