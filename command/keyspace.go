package command

import (
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/glob"
	"github.com/sidecache/sidecache/protocol"
)

// Keyspace commands (db.c).

func cmdDel(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	db := s.db(c)
	var n int64
	for _, key := range args[1:] {
		if db.Delete(key, now) {
			n++
		}
	}
	return protocol.AppendInt(out, n)
}

// cmdExists counts a key named twice twice, as Redis does. Like TYPE and TTL it looks keys
// up with db.Lookup: Redis's lookupKeyReadWithFlags(LOOKUP_NOTOUCH) counts a keyspace hit
// or miss per key and leaves the LFU field alone.
func cmdExists(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	db := s.db(c)
	var n int64
	for _, key := range args[1:] {
		if t, _ := db.Lookup(key, now); t != engine.TypeNone {
			n++
		}
	}
	return protocol.AppendInt(out, n)
}

func cmdTouch(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	db := s.db(c)
	var n int64
	for _, key := range args[1:] {
		if db.Touch(key, now) {
			n++
		}
	}
	return protocol.AppendInt(out, n)
}

func cmdType(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	t, _ := s.db(c).Lookup(args[1], now)
	return protocol.AppendSimple(out, t.String())
}

func cmdDBSize(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendInt(out, s.db(c).Len())
}

// flushArgOK is getFlushCommandFlags: no argument, SYNC or ASYNC. Both flush at once: the
// arena frees pages without a per-key walk.
func flushArgOK(args [][]byte) bool {
	return len(args) == 1 || (len(args) == 2 && (eqFold(args[1], "sync") || eqFold(args[1], "async")))
}

func cmdFlushDB(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if !flushArgOK(args) {
		return appendErr(out, errSyntax)
	}
	s.db(c).Flush()
	return protocol.AppendSimple(out, "OK")
}

func cmdFlushAll(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if !flushArgOK(args) {
		return appendErr(out, errSyntax)
	}
	s.eng.FlushAll()
	return protocol.AppendSimple(out, "OK")
}

// scanBatch is how many keys KEYS asks the engine for per step.
const scanBatch = 1024

func cmdKeys(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	db := s.db(c)
	pattern := args[1]
	all := len(pattern) == 1 && pattern[0] == '*'
	// The count is known only at the end: keys are gathered as bulk strings in scratch, then
	// copied behind the array header.
	buf := c.scratch[:0]
	n := 0
	var cursor uint64
	for {
		cursor = db.Scan(cursor, scanBatch, now, func(key []byte, _ engine.Type) {
			if all || glob.Match(pattern, key, false) {
				buf = protocol.AppendBulk(buf, key)
				n++
			}
		})
		if cursor == 0 {
			break
		}
	}
	out = protocol.AppendArrayLen(out, n)
	out = append(out, buf...)
	c.keepScratch(buf)
	return out
}

// keepScratch keeps buf as the client's scratch memory unless it grew large (a big KEYS
// reply), so one command does not pin memory for the connection's lifetime.
func (c *Client) keepScratch(buf []byte) {
	if cap(buf) <= 64<<10 {
		c.scratch = buf[:0]
	} else {
		c.scratch = nil
	}
}

func cmdScan(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	cursor, ok := parseCursor(args[1])
	if !ok {
		return appendErr(out, "ERR invalid cursor")
	}
	count := int64(10)
	var pattern, typ []byte
	usePattern := false
	for i := 2; i < len(args); {
		more := len(args) - i
		switch {
		case eqFold(args[i], "count") && more >= 2:
			n, ok := parseInt(args[i+1])
			if !ok {
				return appendErr(out, errNotInt)
			}
			if n < 1 {
				return appendErr(out, errSyntax)
			}
			count = n
			i += 2
		case eqFold(args[i], "match") && more >= 2:
			pattern = args[i+1]
			usePattern = !(len(pattern) == 1 && pattern[0] == '*')
			i += 2
		case eqFold(args[i], "type") && more >= 2:
			typ = args[i+1]
			i += 2
		default:
			return appendErr(out, errSyntax)
		}
	}
	if count > 1<<20 {
		count = 1 << 20 // one step's work stays bounded whatever COUNT says
	}
	buf := c.scratch[:0]
	n := 0
	next := s.db(c).Scan(cursor, int(count), now, func(key []byte, t engine.Type) {
		if typ != nil && !eqFoldBytes(typ, t.String()) {
			return
		}
		if usePattern && !glob.Match(pattern, key, false) {
			return
		}
		buf = protocol.AppendBulk(buf, key)
		n++
	})
	out = protocol.AppendArrayLen(out, 2)
	var num [20]byte
	out = protocol.AppendBulk(out, appendUint(num[:0], next))
	out = protocol.AppendArrayLen(out, n)
	out = append(out, buf...)
	c.keepScratch(buf)
	return out
}

// eqFoldBytes reports whether b equals s ignoring ASCII case.
func eqFoldBytes(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func cmdRandomKey(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	c.out = out
	ok := s.db(c).RandomKey(now, c.bulkFn)
	out = c.out
	c.out = nil
	if !ok {
		return protocol.AppendNull(out, c.Proto)
	}
	return out
}

func cmdRename(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.rename(c, args, false, now, out)
}

func cmdRenameNX(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.rename(c, args, true, now, out)
}

func (s *Server) rename(c *Client, args [][]byte, nx bool, now int64, out []byte) []byte {
	db := s.db(c)
	src, dst := args[1], args[2]
	if string(src) == string(dst) {
		// Same key: nothing moves, but a missing key is still an error.
		if !db.Exists(src, now) {
			return appendErr(out, errNoSuchKey)
		}
		if nx {
			return protocol.AppendInt(out, 0)
		}
		return protocol.AppendSimple(out, "OK")
	}
	renamed, err := db.Rename(src, dst, nx, now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	if !nx {
		return protocol.AppendSimple(out, "OK")
	}
	if renamed {
		return protocol.AppendInt(out, 1)
	}
	return protocol.AppendInt(out, 0)
}
