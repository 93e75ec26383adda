package command

import (
	"math"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/glob"
	"github.com/sidecache/sidecache/protocol"
)

// Hash commands, following t_hash.c: each handler does its checks in the order Redis does,
// so the same bad input gets the same error. The engine keeps a hash in one blob (packed
// while small, a table beyond hash-max-listpack-entries / -value), see engine/hash.go.

// wireHash applies hash-max-listpack-entries / -value (and their ziplist aliases) to the
// engine and follows CONFIG SET of them.
func (s *Server) wireHash() {
	if s.cfg == nil || s.eng == nil || s.cfg.Lookup("hash-max-listpack-entries") == nil {
		return
	}
	apply := func(c *config.Config) {
		s.eng.SetHashMaxListpack(c.Int("hash-max-listpack-entries"), c.Int("hash-max-listpack-value"))
	}
	apply(s.cfg)
	s.cfg.OnChange("hash-max-listpack-entries", apply)
	s.cfg.OnChange("hash-max-listpack-value", apply)
}

func cmdHSet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args)%2 != 0 {
		return appendArityError(out, "hset")
	}
	n, err := s.db(c).HSet(args[1], args[2:], false, now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, int64(n))
}

func cmdHMSet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args)%2 != 0 {
		return appendArityError(out, "hmset")
	}
	if _, err := s.db(c).HSet(args[1], args[2:], false, now); err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendSimple(out, "OK")
}

func cmdHSetNX(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	n, err := s.db(c).HSet(args[1], args[2:4], true, now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, int64(n))
}

// cmdHGet copies the value straight into the reply under the segment lock (c.bulkFn), so
// it allocates nothing.
func cmdHGet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	c.out = out
	found, err := s.db(c).HGet(args[1], args[2], now, c.bulkFn)
	out = c.out
	c.out = nil
	if err != nil {
		return appendEngineErr(out, err)
	}
	if !found {
		return protocol.AppendNull(out, c.Proto)
	}
	return out
}

func cmdHMGet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	start := len(out)
	c.out = protocol.AppendArrayLen(out, len(args)-2)
	err := s.db(c).HMGet(args[1], args[2:], now, func(v []byte, ok bool) {
		if ok {
			c.out = protocol.AppendBulk(c.out, v)
		} else {
			c.out = protocol.AppendNull(c.out, c.Proto)
		}
	})
	out = c.out
	c.out = nil
	if err != nil {
		return appendEngineErr(out[:start], err)
	}
	return out
}

func cmdHExists(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	found, err := s.db(c).HGet(args[1], args[2], now, nil)
	if err != nil {
		return appendEngineErr(out, err)
	}
	if found {
		return protocol.AppendInt(out, 1)
	}
	return protocol.AppendInt(out, 0)
}

func cmdHStrlen(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	n := 0
	if _, err := s.db(c).HGet(args[1], args[2], now, func(v []byte) { n = len(v) }); err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, int64(n))
}

func cmdHLen(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	n, err := s.db(c).HLen(args[1], now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, n)
}

func cmdHDel(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	n, err := s.db(c).HDel(args[1], args[2:], now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, int64(n))
}

// Which parts of each pair genericHgetallCommand replies with.
const (
	hashKeys = 1 << iota
	hashVals
)

// hgetall is genericHgetallCommand: HGETALL is a map in RESP3 (an empty map for a missing
// key), HKEYS and HVALS arrays.
func (s *Server) hgetall(c *Client, key []byte, what int, now int64, out []byte) []byte {
	c.out = out
	found, err := s.db(c).HGetAll(key, now, func(n int) {
		if what == hashKeys|hashVals {
			c.out = protocol.AppendMapLen(c.out, c.Proto, n)
		} else {
			c.out = protocol.AppendArrayLen(c.out, n)
		}
	}, func(f, v []byte) {
		if what&hashKeys != 0 {
			c.out = protocol.AppendBulk(c.out, f)
		}
		if what&hashVals != 0 {
			c.out = protocol.AppendBulk(c.out, v)
		}
	})
	out = c.out
	c.out = nil
	switch {
	case err != nil:
		return appendEngineErr(out, err)
	case found:
		return out
	case what == hashKeys|hashVals:
		return protocol.AppendMapLen(out, c.Proto, 0)
	}
	return protocol.AppendArrayLen(out, 0)
}

func cmdHGetAll(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.hgetall(c, args[1], hashKeys|hashVals, now, out)
}

func cmdHKeys(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.hgetall(c, args[1], hashKeys, now, out)
}

func cmdHVals(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.hgetall(c, args[1], hashVals, now, out)
}

func cmdHIncrBy(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	delta, ok := parseInt(args[3])
	if !ok {
		return appendErr(out, errNotInt)
	}
	n, err := s.db(c).HIncrBy(args[1], args[2], delta, now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, n)
}

// cmdHIncrByFloat: the engine parses the increment (its errors come first, before the type
// check, as in hincrbyfloatCommand), adds in long double arithmetic and stores the text it
// replies with.
func cmdHIncrByFloat(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	text, err := s.db(c).HIncrByFloat(c.scratch[:0], args[1], args[2], args[3], now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	out = protocol.AppendBulk(out, text)
	c.keepScratch(text)
	return out
}

// hrandfieldMaxCount is the largest count with WITHVALUES (hrandfieldCommand: LONG_MAX/2,
// so that the RESP2 reply length count*2 does not overflow).
const hrandfieldMaxCount = math.MaxInt64 / 2

func cmdHRandField(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args) >= 3 {
		count, ok := parseInt(args[2])
		if !ok {
			return appendErr(out, errNotInt)
		}
		if count == math.MinInt64 { // getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)
			return appendErr(out, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
		}
		withValues := len(args) == 4
		if len(args) > 4 || (withValues && !eqFold(args[3], "withvalues")) {
			return appendErr(out, errSyntax)
		}
		if withValues && (count < -hrandfieldMaxCount || count > hrandfieldMaxCount) {
			return appendErr(out, "ERR value is out of range")
		}
		return s.hrandfieldCount(c, args[1], count, withValues, now, out)
	}
	c.out = out
	found, err := s.db(c).HRandField(args[1], -1, now, func(int64) {}, func(f, v []byte) bool {
		c.out = protocol.AppendBulk(c.out, f)
		return true
	})
	out = c.out
	c.out = nil
	if err != nil {
		return appendEngineErr(out, err)
	}
	if !found {
		return protocol.AppendNull(out, c.Proto)
	}
	return out
}

// hrandfieldCount is hrandfieldWithCountCommand: RESP2 a flat array (field, value, ...),
// RESP3 an array of [field, value] pairs with WITHVALUES; an empty array for a missing key.
// A negative count can ask for up to 2^63-1 picks: the reply stops growing at the client's
// output buffer limit and the client is closed, as Redis closes a client over its limit
// (1 GiB when no limit is set, so that one command cannot take unbounded memory).
func (s *Server) hrandfieldCount(c *Client, key []byte, count int64, withValues bool, now int64, out []byte) []byte {
	start := len(out)
	limit := s.replyLimit()
	over := false
	pairs := withValues && c.Proto == protocol.RESP3
	c.out = out
	found, err := s.db(c).HRandField(key, count, now, func(n int64) {
		if withValues && c.Proto != protocol.RESP3 {
			n *= 2
		}
		c.out = protocol.AppendArrayLen(c.out, int(n))
	}, func(f, v []byte) bool {
		if pairs {
			c.out = protocol.AppendArrayLen(c.out, 2)
		}
		c.out = protocol.AppendBulk(c.out, f)
		if withValues {
			c.out = protocol.AppendBulk(c.out, v)
		}
		over = int64(len(c.out)-start) > limit
		return !over
	})
	out = c.out
	c.out = nil
	switch {
	case err != nil:
		return appendEngineErr(out[:start], err)
	case !found:
		return protocol.AppendArrayLen(out, 0)
	case over:
		c.CloseAfterReply = true
		return out[:start]
	}
	return out
}

// replyLimit bounds one reply: the hard client-output-buffer-limit of normal clients, or
// 1 GiB without one.
func (s *Server) replyLimit() int64 {
	if s.cfg != nil {
		if l := s.cfg.OutputBufferLimit(config.ClassNormal); l.Hard > 0 {
			return l.Hard
		}
	}
	return 1 << 30
}

// cmdHScan is hscanCommand + scanGenericCommand: the cursor is checked first, then the key
// (missing: an empty scan; another type: WRONGTYPE), then the options. A packed hash comes
// back whole with cursor 0, as a listpack does; a table by steps of about COUNT fields.
func cmdHScan(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	cursor, ok := parseCursor(args[2])
	if !ok {
		return appendErr(out, "ERR invalid cursor")
	}
	count := int64(10)
	var pattern []byte
	usePattern := false
	optErr := ""
	for i := 3; i < len(args) && optErr == ""; {
		more := len(args) - i
		switch {
		case eqFold(args[i], "count") && more >= 2:
			n, ok := parseInt(args[i+1])
			switch {
			case !ok:
				optErr = errNotInt
			case n < 1:
				optErr = errSyntax
			}
			count = n
			i += 2
		case eqFold(args[i], "match") && more >= 2:
			pattern = args[i+1]
			usePattern = !(len(pattern) == 1 && pattern[0] == '*')
			i += 2
		default:
			optErr = errSyntax
		}
	}
	db := s.db(c)
	if optErr != "" {
		switch t, _ := db.Lookup(args[1], now); t {
		case engine.TypeNone:
			return appendEmptyScan(out)
		case engine.TypeHash:
			return appendErr(out, optErr)
		}
		return appendEngineErr(out, engine.ErrWrongType)
	}
	count = min(count, 1<<20) // one step's work stays bounded whatever COUNT says
	buf := c.scratch[:0]
	n := 0
	next, found, err := db.HScan(args[1], cursor, int(count), now, func(f, v []byte) {
		if usePattern && !glob.Match(pattern, f, false) {
			return
		}
		buf = protocol.AppendBulk(buf, f)
		buf = protocol.AppendBulk(buf, v)
		n += 2
	})
	switch {
	case err != nil:
		out = appendEngineErr(out, err)
	case !found:
		out = appendEmptyScan(out)
	default:
		out = protocol.AppendArrayLen(out, 2)
		var num [20]byte
		out = protocol.AppendBulk(out, appendUint(num[:0], next))
		out = protocol.AppendArrayLen(out, n)
		out = append(out, buf...)
	}
	c.keepScratch(buf)
	return out
}

// appendEmptyScan appends shared.emptyscan: cursor "0" and no elements.
func appendEmptyScan(out []byte) []byte { return append(out, "*2\r\n$1\r\n0\r\n*0\r\n"...) }
