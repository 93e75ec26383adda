package protocol

import (
	"bytes"
	"math"

	"github.com/sidecache/sidecache/numtext"
)

// Parser is an incremental command parser. Across partial reads it keeps offsets and
// expected lengths, never slices (DESIGN invariant 2).
//
// All offsets are relative to the start of the command being parsed, which is the start of
// every buf passed to Parse until the command completes. Work is O(bytes received): a line
// terminator is searched for only in bytes not searched before, and a bulk payload is
// never scanned at all, only its length compared with len(buf).
type Parser struct {
	lim  Limits // in force for the current command
	next Limits // from SetLimits, in force from the next command on

	args    [][]byte // reused result; elements point into buf or scratch
	offs    []int    // start, end pairs of the finished arguments of a partial multibulk
	scratch []byte   // unescaped inline arguments; cap >= the line length, so it never moves mid-line

	state state
	scan  int   // the current line holds no terminator in [line start, scan)
	nul   bool  // a NUL byte precedes the terminator: the line never ends (Redis's strchr)
	pos   int   // multibulk: offset of the next "$<len>" line or payload
	left  int64 // multibulk: arguments still to read; 0 while the count line is unread
	bulk  int64 // multibulk: payload length of the current argument, -1 while its header is unread
	need  int   // Pending's answer after the last incomplete Parse
}

type state uint8

const (
	stateIdle      state = iota // at a command boundary
	stateInline                 // looking for the '\n' of an inline line
	stateMultibulk              // inside "*<count>\r\n$<len>\r\n<payload>\r\n..."
)

// argsKeepCap bounds the argument slices a parser keeps between commands, so one huge MSET
// does not pin memory for the connection's lifetime.
const argsKeepCap = 4096

// NewParser returns a parser enforcing l.
func NewParser(l Limits) *Parser {
	p := &Parser{lim: l, next: l}
	p.Reset()
	return p
}

// SetLimits changes the limits (CONFIG SET); takes effect at the next command.
func (p *Parser) SetLimits(l Limits) { p.next = l }

// Reset forgets any partial command.
func (p *Parser) Reset() {
	p.state = stateIdle
	p.scan, p.nul, p.pos, p.left, p.bulk, p.need = 0, false, 0, 0, -1, 0
}

// Pending reports the number of bytes the current incomplete command still needs at least
// (for bulk payloads), 0 if unknown; used to bound the query buffer.
func (p *Parser) Pending() int { return p.need }

// Parse parses the command at the start of buf.
//
//   - complete command: args holds its arguments and n > 0 is the number of bytes it used.
//     An empty command (empty inline line, "*0\r\n", "*-1\r\n") gives n > 0 and len(args) == 0:
//     consume and skip it, as Redis does.
//   - incomplete: n == 0, err == nil. The parser remembers how far it validated; the next call
//     must pass a buf that starts with the same bytes (the same unconsumed input, grown).
//   - malformed: err is a *ProtocolError, and the parser is reset.
//
// args and its elements are valid until the next call to Parse or until buf changes,
// whichever comes first (they point into buf, or into the parser's own scratch for inline
// arguments with quotes). Each element's capacity ends at its length, so appending to one
// never overwrites its neighbours. The parser allocates nothing in steady state.
//
// As in Redis, a multibulk request is recognised by a leading '*'; anything else is an
// inline request. Redis quirks kept on purpose: the byte after the '\r' of a count line and
// the two bytes after a payload are skipped unchecked, and a NUL byte before a line's end
// hides that end (Redis searches with strchr), so such a request waits for more input
// until it crosses MaxInlineLen.
func (p *Parser) Parse(buf []byte) (args [][]byte, n int, err error) {
	p.need = 0
	if p.state != stateIdle && (len(buf) < p.scan || len(buf) < p.pos) {
		// The caller broke the contract (buf shrank); start over rather than misread.
		p.Reset()
	}
	if len(buf) == 0 {
		return nil, 0, nil
	}
	if p.state == stateIdle {
		p.lim = p.next
		if cap(p.args) > argsKeepCap {
			p.args = nil
		}
		if cap(p.offs) > 2*argsKeepCap {
			p.offs = nil
		}
		p.offs = p.offs[:0]
		if buf[0] == '*' {
			p.state = stateMultibulk
		} else {
			p.state = stateInline
		}
	}
	if p.state == stateInline {
		args, n, err = p.parseInline(buf)
	} else {
		args, n, err = p.parseMultibulk(buf)
	}
	if n > 0 || err != nil {
		p.Reset()
	}
	return args, n, err
}

// seek finds the first c in buf[from:] the way Redis's strchr does over its NUL-terminated
// query buffer: i is its index, or -1; nul reports that a NUL byte comes first, which hides
// every later c for good.
func seek(buf []byte, from int, c byte) (i int, nul bool) {
	if from >= len(buf) {
		return -1, false
	}
	// Count lines are a few bytes: a plain loop beats two IndexByte calls there.
	for end := min(len(buf), from+16); from < end; from++ {
		switch buf[from] {
		case c:
			return from, false
		case 0:
			return -1, true
		}
	}
	rest := buf[from:]
	j := bytes.IndexByte(rest, c)
	if j >= 0 {
		rest = rest[:j]
	}
	if bytes.IndexByte(rest, 0) >= 0 {
		return -1, true
	}
	if j < 0 {
		return -1, false
	}
	return from + j, false
}

// findLine looks for c from p.scan, remembering how far it looked. It returns -1 when the
// line has not ended yet.
func (p *Parser) findLine(buf []byte, c byte) int {
	if p.nul {
		return -1
	}
	i, nul := seek(buf, p.scan, c)
	if i < 0 {
		p.nul = nul
		p.scan = len(buf)
	} else {
		p.scan = i
	}
	return i
}

// parseMultibulk follows Redis's processMultibulkBuffer.
//
// A count line's '\r' must lie within MaxInlineLen+1 bytes of the line's start. Redis fails
// only when more than PROTO_INLINE_MAX_SIZE bytes are buffered without a '\r', so for a
// longer line its error text depends on read sizes; this makes it not. Such a line is an
// error either way: its number has more than 20 digits.
func (p *Parser) parseMultibulk(buf []byte) ([][]byte, int, error) {
	if p.left == 0 {
		cr := p.findLine(buf[:min(len(buf), p.lim.MaxInlineLen+1)], '\r')
		if cr < 0 {
			if len(buf) > p.lim.MaxInlineLen {
				return nil, 0, errTooBigMbulkCount
			}
			return nil, 0, nil
		}
		if cr+2 > len(buf) { // the '\n' (never checked, as in Redis) has not arrived
			return nil, 0, nil
		}
		ll, ok := numtext.ParseInt(buf[1:cr])
		if !ok || ll > math.MaxInt32 || ll > p.lim.MaxMultibulkLen {
			return nil, 0, errInvalidMbulkLen
		}
		if ll <= 0 {
			return p.args[:0], cr + 2, nil
		}
		p.left, p.pos, p.scan, p.bulk = ll, cr+2, cr+2, -1
	}
	for p.left > 0 {
		if p.bulk < 0 {
			cr := p.findLine(buf[:min(len(buf), p.pos+p.lim.MaxInlineLen+1)], '\r')
			if cr < 0 {
				if len(buf)-p.pos > p.lim.MaxInlineLen {
					return nil, 0, errTooBigBulkCount
				}
				return nil, 0, nil
			}
			if cr+2 > len(buf) {
				return nil, 0, nil
			}
			if buf[p.pos] != '$' {
				return nil, 0, errExpectedDollar(buf[p.pos])
			}
			ll, ok := numtext.ParseInt(buf[p.pos+1 : cr])
			if !ok || ll < 0 || ll > p.lim.MaxBulkLen {
				return nil, 0, errInvalidBulkLen
			}
			p.pos, p.bulk = cr+2, ll
		}
		// The payload and the two bytes after it (meant to be "\r\n", skipped unchecked).
		if have := int64(len(buf) - p.pos); have < p.bulk+2 {
			p.need = int(p.bulk + 2 - have)
			return nil, 0, nil
		}
		end := p.pos + int(p.bulk)
		p.offs = append(p.offs, p.pos, end)
		p.pos = end + 2
		p.scan, p.bulk = p.pos, -1
		p.left--
	}
	args := p.args[:0]
	for i := 0; i < len(p.offs); i += 2 {
		s, e := p.offs[i], p.offs[i+1]
		args = append(args, buf[s:e:e])
	}
	p.args = args
	return args, p.pos, nil
}
