package protocol

import (
	"bytes"
	"errors"
	"math"
	"strconv"
)

// Kind is a RESP type byte: '+', '-', ':', '$', '*', '_', ',', '#', '(', '=', '%', '~', '>', '|', '!'.
type Kind byte

// Value is a decoded reply. Str holds simple/bulk/verbatim/error/big-number text (for '=' the
// whole "fmt:payload"); Int the integer; Float the double; Bool the boolean; Elems the elements
// of '*', '~', '>' and the alternating keys and values of '%' and '|'; Attrs the attribute map
// ('|') that preceded the value, if any. Null is set for '_' and for RESP2 $-1 and *-1.
type Value struct {
	Kind  Kind
	Str   []byte
	Int   int64
	Float float64
	Bool  bool
	Null  bool
	Elems []Value
	Attrs []Value
}

// Client-side decoding errors (a server never sends these shapes).
var (
	ErrBadReply     = errors.New("protocol: malformed reply")
	ErrReplyTooDeep = errors.New("protocol: reply nested too deeply")
)

const (
	maxReplyDepth = 256     // nesting of aggregates and attributes
	maxReplyLen   = 1 << 32 // largest bulk or aggregate length accepted, bytes or elements
)

var errIncomplete = errors.New("incomplete")

// ReadValue decodes one reply from the start of buf: n == 0 and err == nil when incomplete.
// The returned Value's byte slices point into buf; its Elems and Attrs are freshly allocated.
// Streamed aggregates and strings ('?' lengths) are not supported.
func ReadValue(buf []byte) (v Value, n int, err error) {
	var d decoder
	return d.read(buf)
}

// decoder builds Values; with pooled set, Elems and Attrs are carved out of slab, which is
// reused by the next read (a Reader's replies are valid until its next ReadValue).
type decoder struct {
	pooled bool
	slab   []Value
	used   int
}

func (d *decoder) read(buf []byte) (Value, int, error) {
	d.used = 0
	v, n, err := d.value(buf, 0, 0)
	if err == errIncomplete {
		return Value{}, 0, nil
	}
	if err != nil {
		return Value{}, 0, err
	}
	return v, n, nil
}

// alloc returns n zeroed slots. When slab is too small a bigger one replaces it without
// copying: slices handed out earlier keep the old array alive, and the next read starts
// from the bigger slab, so a steady reply shape stops allocating.
func (d *decoder) alloc(n int) []Value {
	if !d.pooled {
		return make([]Value, n)
	}
	if d.used+n > len(d.slab) {
		d.slab = make([]Value, max(2*len(d.slab), n, 16))
		d.used = 0
	}
	e := d.slab[d.used : d.used+n : d.used+n]
	d.used += n
	clear(e)
	return e
}

// line returns the bytes from pos to the next "\r\n" and the offset after it.
func line(buf []byte, pos int) ([]byte, int, error) {
	i := bytes.Index(buf[pos:], []byte(crlf))
	if i < 0 {
		return nil, 0, errIncomplete
	}
	return buf[pos : pos+i], pos + i + 2, nil
}

// parseInt accepts an optional sign and at least one decimal digit, within int64.
func parseInt(s []byte) (int64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' || v > (1<<63)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 1<<63 || !neg && v == 1<<63 {
		return 0, false
	}
	if neg {
		return int64(-v), true
	}
	return int64(v), true
}

// length reads an aggregate or bulk length line; null reports -1.
func length(buf []byte, pos int) (n int, null bool, next int, err error) {
	l, next, err := line(buf, pos)
	if err != nil {
		return 0, false, 0, err
	}
	v, ok := parseInt(l)
	switch {
	case !ok || v < -1 || v > maxReplyLen:
		return 0, false, 0, ErrBadReply
	case v == -1:
		return 0, true, next, nil
	}
	return int(v), false, next, nil
}

func (d *decoder) value(buf []byte, pos, depth int) (Value, int, error) {
	if depth > maxReplyDepth {
		return Value{}, 0, ErrReplyTooDeep
	}
	if pos >= len(buf) {
		return Value{}, 0, errIncomplete
	}
	v := Value{Kind: Kind(buf[pos])}
	pos++
	switch v.Kind {
	case '+', '-', '(':
		l, next, err := line(buf, pos)
		v.Str = l
		return v, next, err
	case ':':
		l, next, err := line(buf, pos)
		if err != nil {
			return v, 0, err
		}
		var ok bool
		if v.Int, ok = parseInt(l); !ok {
			return v, 0, ErrBadReply
		}
		return v, next, nil
	case '_':
		l, next, err := line(buf, pos)
		if err == nil && len(l) != 0 {
			err = ErrBadReply
		}
		v.Null = true
		return v, next, err
	case '#':
		l, next, err := line(buf, pos)
		if err != nil {
			return v, 0, err
		}
		if len(l) != 1 || l[0] != 't' && l[0] != 'f' {
			return v, 0, ErrBadReply
		}
		v.Bool = l[0] == 't'
		return v, next, nil
	case ',':
		l, next, err := line(buf, pos)
		if err != nil {
			return v, 0, err
		}
		if v.Float, err = parseFloat(l); err != nil {
			return v, 0, ErrBadReply
		}
		return v, next, nil
	case '$', '=', '!':
		n, null, next, err := length(buf, pos)
		if err != nil {
			return v, 0, err
		}
		if null {
			if v.Kind != '$' {
				return v, 0, ErrBadReply
			}
			v.Null = true
			return v, next, nil
		}
		if len(buf)-next < n+2 {
			return v, 0, errIncomplete
		}
		if buf[next+n] != '\r' || buf[next+n+1] != '\n' {
			return v, 0, ErrBadReply
		}
		v.Str = buf[next : next+n : next+n]
		if v.Kind == '=' && (n < 4 || v.Str[3] != ':') {
			return v, 0, ErrBadReply
		}
		return v, next + n + 2, nil
	case '*', '~', '>', '%', '|':
		n, null, next, err := length(buf, pos)
		if err != nil {
			return v, 0, err
		}
		if null {
			if v.Kind != '*' {
				return v, 0, ErrBadReply
			}
			v.Null = true
			return v, next, nil
		}
		if v.Kind == '%' || v.Kind == '|' {
			n *= 2
		}
		// Every element takes at least 3 bytes: do not allocate for what cannot be there.
		if n > (len(buf)-next)/3 {
			return v, 0, errIncomplete
		}
		elems := d.alloc(n)
		for i := range elems {
			if elems[i], next, err = d.value(buf, next, depth+1); err != nil {
				return v, 0, err
			}
		}
		if v.Kind != '|' {
			v.Elems = elems
			return v, next, nil
		}
		// An attribute map belongs to the value after it; two maps in a row merge.
		w, next, err := d.value(buf, next, depth+1)
		if err != nil {
			return v, 0, err
		}
		if len(w.Attrs) > 0 {
			all := d.alloc(len(elems) + len(w.Attrs))
			copy(all, elems)
			copy(all[len(elems):], w.Attrs)
			elems = all
		}
		w.Attrs = elems
		return w, next, nil
	}
	return v, 0, ErrBadReply
}

func parseFloat(l []byte) (float64, error) {
	switch string(l) {
	case "inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	case "nan", "-nan":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(string(l), 64)
}

// AppendValue encodes v; ReadValue(AppendValue(nil, v)) reproduces v. Maps and attributes
// take len/2 pairs; a Value of unknown Kind appends nothing.
func AppendValue(dst []byte, v Value) []byte {
	if pairs := len(v.Attrs) / 2; pairs > 0 {
		dst = AppendAttrLen(dst, pairs)
		for _, e := range v.Attrs[:2*pairs] {
			dst = AppendValue(dst, e)
		}
	}
	switch v.Kind {
	case '+':
		return AppendSimpleBytes(dst, v.Str)
	case '-':
		dst = append(dst, '-')
		dst = append(dst, v.Str...)
		return append(dst, crlf...)
	case '(':
		dst = append(dst, '(')
		dst = append(dst, v.Str...)
		return append(dst, crlf...)
	case ':':
		return AppendInt(dst, v.Int)
	case '_':
		return append(dst, "_\r\n"...)
	case '#':
		return AppendBool(dst, RESP3, v.Bool)
	case ',':
		return AppendDouble(dst, RESP3, v.Float)
	case '$', '=', '!':
		if v.Null && v.Kind == '$' {
			return append(dst, "$-1\r\n"...)
		}
		dst = appendPrefixInt(dst, byte(v.Kind), int64(len(v.Str)))
		dst = append(dst, v.Str...)
		return append(dst, crlf...)
	case '*', '~', '>':
		if v.Null && v.Kind == '*' {
			return append(dst, "*-1\r\n"...)
		}
		dst = appendPrefixInt(dst, byte(v.Kind), int64(len(v.Elems)))
		for _, e := range v.Elems {
			dst = AppendValue(dst, e)
		}
		return dst
	case '%':
		pairs := len(v.Elems) / 2
		dst = appendPrefixInt(dst, '%', int64(pairs))
		for _, e := range v.Elems[:2*pairs] {
			dst = AppendValue(dst, e)
		}
		return dst
	}
	return dst
}
