package upstream

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/sidecache/sidecache/protocol"
)

// Replies of the upstream, re-encoded for the app client. The upstream connections speak
// RESP3; an app client may speak RESP2 or RESP3.
//
// rueidis parses a reply into a RedisMessage whose type byte, ordered map entries and raw
// error text are not exported; RedisMessage.CacheMarshal serialises all of them, so the
// reply is walked in that form (rueidis v1.0.80, pinned in go.mod; TestConvert fails if the
// form changes):
//
//	message := type (1 byte, the RESP3 type char) | n (8 bytes, big-endian) | payload
//	  ':' '_' '#'       n is the integer, 0, or 0/1 for false/true; no payload
//	  '*' '~' '%'       n elements follow (a map's n counts keys and values: 2 per entry)
//	  any other         n bytes of text: '$' '+' '-' '!' ',' '(' '=' (with its "txt:")
//
// CacheMarshal prefixes 7 bytes of client-side-cache TTL, skipped here. Attributes are
// dropped (rueidis keeps them apart), as a RESP2 Redis never sends them.
//
// RESP3 to a RESP3 client is the same reply. To a RESP2 client, as Redis replies in RESP2:
// maps become flat arrays, sets arrays, doubles and big numbers bulk strings, booleans
// integers, verbatim strings bulk strings without their format, blob errors simple errors.
// Where Redis's RESP2 reply is not a plain translation of its RESP3 one, the command's
// shape (shapeOf) says so:
//   - a null: RESP3 has one, RESP2 two ($-1 from addReplyNull, *-1 from addReplyNullArray);
//     the commands answering a null array are listed (blocking pops on timeout, LPOP/RPOP
//     with a count, XREAD, LMPOP/ZMPOP, GEOPOS's missing members);
//   - sorted-set replies WITHSCORES (and HRANDFIELD WITHVALUES) are arrays of pairs in
//     RESP3 and flat in RESP2;
//   - XREAD/XREADGROUP answer a map in RESP3 and an array of [stream, entries] in RESP2.
//
// Not translated: a script's (EVAL, FCALL) reply is shaped by the protocol of the
// connection it runs on, here RESP3, so a script returning false answers RESP2 clients :0
// where Redis answers $-1.

// shape is how a command's RESP3 reply differs from a plain translation, for RESP2.
type shape uint8

const (
	shapePlain       shape = iota
	shapeNullArray         // a top-level null is *-1
	shapePairs             // top-level elements that are arrays are spliced into it
	shapeMPop              // [key, pairs]: a null is *-1, the second element's pairs are spliced
	shapeGeoPos            // nulls inside the top-level array are *-1
	shapeStreamsRead       // a map of streams is an array of [name, entries]; a null is *-1
)

// shapeOf returns the RESP2 shape of the command name (lower case, as the command table
// names it; "" when unknown there) called with args.
func shapeOf(name string, args [][]byte) shape {
	if name == "" && len(args) > 0 {
		var buf [16]byte
		name = lowerName(buf[:0], args[0])
	}
	switch name {
	case "blpop", "brpop", "bzpopmin", "bzpopmax", "blmove", "brpoplpush":
		return shapeNullArray
	case "lpop", "rpop":
		if len(args) == 3 { // with a count
			return shapeNullArray
		}
	case "lmpop", "blmpop":
		return shapeNullArray
	case "zmpop", "bzmpop":
		return shapeMPop
	case "zrange", "zrangebyscore", "zrevrange", "zrevrangebyscore", "zunion", "zinter",
		"zdiff", "zrandmember", "hrandfield", "zpopmin", "zpopmax":
		return shapePairs
	case "geopos":
		return shapeGeoPos
	case "xread", "xreadgroup":
		return shapeStreamsRead
	}
	return shapePlain
}

// lowerName appends name lower-cased to dst, or nothing when it cannot be a command name
// that shapeOf knows (longer than dst's capacity).
func lowerName(dst, name []byte) string {
	if len(name) > cap(dst) {
		return ""
	}
	for _, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		dst = append(dst, ch)
	}
	return string(dst)
}

var errMalformed = errors.New("malformed upstream reply")

// appendMessage appends m, a reply of the upstream, encoded for proto and the command's
// shape. scratch is reused for the serialised form and returned for the next call.
func appendMessage(dst []byte, m *rueidis.RedisMessage, proto protocol.Version, sh shape, scratch []byte) ([]byte, []byte) {
	scratch = m.CacheMarshal(scratch[:0])
	if len(scratch) < 7 {
		return protocol.AppendError(dst, "ERR "+errMalformed.Error()), scratch
	}
	start := len(dst)
	out, rest, err := appendSerialized(dst, scratch[7:], proto, sh, 0)
	if err != nil || len(rest) != 0 {
		return protocol.AppendError(dst[:start], "ERR "+errMalformed.Error()), scratch
	}
	return out, scratch
}

// header reads a serialised message's type and n.
func header(b []byte) (typ byte, n int64, rest []byte, err error) {
	if len(b) < 9 {
		return 0, 0, nil, errMalformed
	}
	return b[0], int64(binary.BigEndian.Uint64(b[1:9])), b[9:], nil
}

// text reads the n bytes of a text message's payload.
func text(b []byte, n int64) ([]byte, []byte, error) {
	if n < 0 || n > int64(len(b)) {
		return nil, nil, errMalformed
	}
	return b[:n], b[n:], nil
}

// appendSerialized appends the serialised message at the head of b and returns the rest of
// b. depth is 0 for the reply itself.
func appendSerialized(dst, b []byte, proto protocol.Version, sh shape, depth int) ([]byte, []byte, error) {
	typ, n, b, err := header(b)
	if err != nil {
		return dst, nil, err
	}
	resp3 := proto == protocol.RESP3
	switch typ {
	case ':':
		return protocol.AppendInt(dst, n), b, nil
	case '_':
		if resp3 {
			return append(dst, "_\r\n"...), b, nil
		}
		if depth == 0 && (sh == shapeNullArray || sh == shapeMPop || sh == shapeStreamsRead) ||
			depth == 1 && sh == shapeGeoPos {
			return append(dst, "*-1\r\n"...), b, nil
		}
		return append(dst, "$-1\r\n"...), b, nil
	case '#':
		return protocol.AppendBool(dst, proto, n != 0), b, nil
	case '*', '~', '%':
		return appendAggregate(dst, b, typ, n, proto, sh, depth)
	}
	s, b, err := text(b, n)
	if err != nil {
		return dst, nil, err
	}
	switch typ {
	case '$':
		dst = protocol.AppendBulk(dst, s)
	case '+':
		dst = protocol.AppendSimpleBytes(dst, s)
	case '-':
		dst = appendErrorLine(dst, s)
	case '!':
		if resp3 {
			dst = appendBlob(dst, '!', s)
		} else {
			dst = appendErrorLine(dst, s)
		}
	case ',', '(':
		if resp3 {
			dst = append(append(append(dst, typ), s...), "\r\n"...)
		} else {
			dst = protocol.AppendBulk(dst, s)
		}
	case '=':
		if resp3 {
			dst = appendBlob(dst, '=', s)
		} else {
			if len(s) >= 4 && s[3] == ':' {
				s = s[4:]
			}
			dst = protocol.AppendBulk(dst, s)
		}
	default:
		return dst, nil, errMalformed
	}
	return dst, b, nil
}

// appendBlob appends s as a RESP3 blob of type typ: "<typ><len>\r\n<s>\r\n".
func appendBlob(dst []byte, typ byte, s []byte) []byte {
	dst = strconv.AppendInt(append(dst, typ), int64(len(s)), 10)
	dst = append(append(dst, "\r\n"...), s...)
	return append(dst, "\r\n"...)
}

// appendErrorLine appends text as a simple error, one line, as Redis sends errors in RESP2.
func appendErrorLine(dst, s []byte) []byte {
	dst = append(dst, '-')
	start := len(dst)
	dst = append(dst, s...)
	for i := start; i < len(dst); i++ {
		if dst[i] == '\r' || dst[i] == '\n' {
			dst[i] = ' '
		}
	}
	return append(dst, "\r\n"...)
}

// appendAggregate appends an array, set or map of n serialised elements (a map's n counts
// keys and values).
func appendAggregate(dst, b []byte, typ byte, n int64, proto protocol.Version, sh shape, depth int) ([]byte, []byte, error) {
	if n < 0 || n > int64(len(b))/9 {
		return dst, nil, errMalformed
	}
	var err error
	if proto == protocol.RESP3 {
		count := n
		if typ == '%' {
			count = n / 2
		}
		dst = strconv.AppendInt(append(dst, typ), count, 10)
		dst = append(dst, "\r\n"...)
		for i := int64(0); i < n; i++ {
			if dst, b, err = appendSerialized(dst, b, proto, sh, depth+1); err != nil {
				return dst, nil, err
			}
		}
		return dst, b, nil
	}
	switch {
	case depth == 0 && typ == '%' && sh == shapeStreamsRead:
		// RESP2 XREAD: [[name, entries], ...].
		dst = protocol.AppendArrayLen(dst, int(n/2))
		for i := int64(0); i < n; i += 2 {
			dst = protocol.AppendArrayLen(dst, 2)
			for j := 0; j < 2; j++ {
				if dst, b, err = appendSerialized(dst, b, proto, sh, depth+1); err != nil {
					return dst, nil, err
				}
			}
		}
		return dst, b, nil
	case depth == 0 && sh == shapePairs, depth == 1 && sh == shapeMPop:
		return appendSpliced(dst, b, n, proto, sh, depth)
	}
	dst = protocol.AppendArrayLen(dst, int(n))
	for i := int64(0); i < n; i++ {
		if dst, b, err = appendSerialized(dst, b, proto, sh, depth+1); err != nil {
			return dst, nil, err
		}
	}
	return dst, b, nil
}

// appendSpliced appends, for RESP2, an array of n elements in which the elements that are
// arrays themselves (RESP3's [member, score] pairs) are replaced by their elements.
func appendSpliced(dst, b []byte, n int64, proto protocol.Version, sh shape, depth int) ([]byte, []byte, error) {
	// The header needs the spliced count: walk once to count, then encode.
	total := int64(0)
	walk := b
	for i := int64(0); i < n; i++ {
		typ, m, _, err := header(walk)
		if err != nil {
			return dst, nil, err
		}
		if typ == '*' || typ == '~' {
			total += m
		} else {
			total++
		}
		if walk, err = skipSerialized(walk); err != nil {
			return dst, nil, err
		}
	}
	dst = protocol.AppendArrayLen(dst, int(total))
	var err error
	for i := int64(0); i < n; i++ {
		typ, m, inner, herr := header(b)
		if herr != nil {
			return dst, nil, herr
		}
		if typ == '*' || typ == '~' {
			b = inner
			for j := int64(0); j < m; j++ {
				if dst, b, err = appendSerialized(dst, b, proto, sh, depth+2); err != nil {
					return dst, nil, err
				}
			}
			continue
		}
		if dst, b, err = appendSerialized(dst, b, proto, sh, depth+1); err != nil {
			return dst, nil, err
		}
	}
	return dst, b, nil
}

// skipSerialized returns b after the serialised message at its head.
func skipSerialized(b []byte) ([]byte, error) {
	typ, n, rest, err := header(b)
	if err != nil {
		return nil, err
	}
	switch typ {
	case ':', '_', '#':
		return rest, nil
	case '*', '~', '%':
		if n < 0 || n > int64(len(rest))/9 {
			return nil, errMalformed
		}
		for i := int64(0); i < n; i++ {
			if rest, err = skipSerialized(rest); err != nil {
				return nil, err
			}
		}
		return rest, nil
	}
	_, rest, err = text(rest, n)
	return rest, err
}

// errorText returns the text of an upstream failure (network, closed client) as an app
// client reads it: "ERR upstream: " and the cause, on one line. A Redis error must not go
// through it: rueidis's RedisError drops the "ERR " of the text; msgErrorText keeps it.
func errorText(err error) string {
	return "ERR upstream: " + oneLine(err.Error())
}

// msgErrorText returns the text of m, an error reply, as the upstream sent it.
func msgErrorText(m *rueidis.RedisMessage) string {
	b := m.CacheMarshal(nil)
	if typ, n, rest, err := header(b[7:]); err == nil && (typ == '-' || typ == '!') {
		if s, _, err := text(rest, n); err == nil {
			return oneLine(string(s))
		}
	}
	return "ERR " + errMalformed.Error()
}

// resultErrorText returns the text of r's failure: a Redis error as sent, else errorText.
func resultErrorText(r rueidis.RedisResult) string {
	if err := r.NonRedisError(); err != nil {
		return errorText(err)
	}
	m, _ := r.ToMessage()
	return msgErrorText(&m)
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
