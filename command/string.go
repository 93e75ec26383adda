package command

import (
	"math"

	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// String commands, following t_string.c: each handler does its checks in the order Redis
// does, so the same bad input gets the same error.

// appendGetBulk appends the value of key as a bulk string, null if missing. ok is false
// (and nothing appended) when the key holds another type.
func (s *Server) appendGetBulk(c *Client, db *engine.DB, key []byte, now int64, out []byte) ([]byte, bool, error) {
	c.out = out
	found, err := db.Get(key, now, c.bulkFn)
	out = c.out
	c.out = nil
	return out, found, err
}

func cmdGet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	out, found, err := s.appendGetBulk(c, s.db(c), args[1], now, out)
	if err != nil {
		return appendEngineErr(out, err)
	}
	if !found {
		return protocol.AppendNull(out, c.Proto)
	}
	return out
}

func cmdMGet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	db := s.db(c)
	out = protocol.AppendArrayLen(out, len(args)-1)
	for _, key := range args[1:] {
		var found bool
		out, found, _ = s.appendGetBulk(c, db, key, now, out)
		if !found { // a missing key or another type: MGET answers null for both
			out = protocol.AppendNull(out, c.Proto)
		}
	}
	return out
}

// set option bits, as t_string.c's OBJ_* flags.
const (
	setNX = 1 << iota
	setXX
	setGet
	setKeepTTL
	setPersist
	setEX
	setPX
	setEXAT
	setPXAT
)

const (
	forSet = iota // parsing SET's options
	forGet        // parsing GETEX's options
)

// parseStringOptions is parseExtendedStringArgumentsOrReply: the options after the key
// (GETEX) or the value (SET). It returns the flags and the expire argument, or ok false for
// "ERR syntax error". Options that conflict with one already given are syntax errors; the
// same option twice is not (the last expire wins).
func parseStringOptions(args [][]byte, kind int) (flags int, expire []byte, ok bool) {
	j := 3
	if kind == forGet {
		j = 2
	}
	const exps = setEX | setPX | setEXAT | setPXAT
	for ; j < len(args); j++ {
		opt := args[j]
		hasNext := j < len(args)-1
		switch {
		case eqFold(opt, "nx") && flags&setXX == 0 && kind == forSet:
			flags |= setNX
		case eqFold(opt, "xx") && flags&setNX == 0 && kind == forSet:
			flags |= setXX
		case eqFold(opt, "get") && kind == forSet:
			flags |= setGet
		case eqFold(opt, "keepttl") && flags&(setPersist|exps) == 0 && kind == forSet:
			flags |= setKeepTTL
		case eqFold(opt, "persist") && kind == forGet && flags&(exps|setKeepTTL) == 0:
			flags |= setPersist
		case eqFold(opt, "ex") && flags&(setKeepTTL|setPersist|setEXAT|setPX|setPXAT) == 0 && hasNext:
			flags |= setEX
			expire = args[j+1]
			j++
		case eqFold(opt, "px") && flags&(setKeepTTL|setPersist|setEX|setEXAT|setPXAT) == 0 && hasNext:
			flags |= setPX
			expire = args[j+1]
			j++
		case eqFold(opt, "exat") && flags&(setKeepTTL|setPersist|setEX|setPX|setPXAT) == 0 && hasNext:
			flags |= setEXAT
			expire = args[j+1]
			j++
		case eqFold(opt, "pxat") && flags&(setKeepTTL|setPersist|setEX|setEXAT|setPX) == 0 && hasNext:
			flags |= setPXAT
			expire = args[j+1]
			j++
		default:
			return 0, nil, false
		}
	}
	return flags, expire, true
}

// expireMillis is getExpireMillisecondsOrReply: the absolute expiry in ms for the expire
// argument of SET / SETEX / PSETEX / GETEX. notInt means "value is not an integer";
// invalid means "invalid expire time in '<command>' command" (not positive, or overflowing
// the unit conversion or the addition of now).
func expireMillis(arg []byte, flags int, now int64) (at int64, notInt, invalid bool) {
	ms, ok := parseInt(arg)
	if !ok {
		return 0, true, false
	}
	seconds := flags&(setEX|setEXAT) != 0
	if ms <= 0 || (seconds && ms > math.MaxInt64/1000) {
		return 0, false, true // negative, zero, or the multiplication would overflow
	}
	if seconds {
		ms *= 1000
	}
	if flags&(setEX|setPX) != 0 {
		ms += now // wraps on overflow, as in C, and is caught just below
	}
	if ms <= 0 {
		return 0, false, true
	}
	return ms, false, false
}

// setGeneric is setGenericCommand: the expire time is checked first, then (with GET) the old
// value's type, then the NX/XX condition. intReply answers :1 / :0 instead of +OK / null
// (SETNX). name is the command's name for the expire-time error.
func (s *Server) setGeneric(c *Client, name string, flags int, key, val, expire []byte, now int64, out []byte, intReply bool) []byte {
	opt := engine.SetOptions{}
	if expire != nil {
		at, notInt, invalid := expireMillis(expire, flags, now)
		if notInt {
			return appendErr(out, errNotInt)
		}
		if invalid {
			return appendExpireTimeError(out, name)
		}
		opt.ExpireAt = at
	}
	switch {
	case flags&setNX != 0:
		opt.Cond = engine.SetNX
	case flags&setXX != 0:
		opt.Cond = engine.SetXX
	}
	opt.KeepTTL = flags&setKeepTTL != 0
	db := s.db(c)
	if flags&setGet != 0 {
		opt.Get = true
		c.out = out
		start := len(out)
		_, err := db.Set(key, val, now, opt, c.bulkFn)
		out = c.out
		c.out = nil
		if err != nil {
			return appendEngineErr(out[:start], err)
		}
		if len(out) == start { // no old value
			out = protocol.AppendNull(out, c.Proto)
		}
		return out
	}
	stored, err := db.Set(key, val, now, opt, nil)
	if err != nil {
		return appendEngineErr(out, err)
	}
	if intReply {
		if stored {
			return protocol.AppendInt(out, 1)
		}
		return protocol.AppendInt(out, 0)
	}
	if !stored {
		return protocol.AppendNull(out, c.Proto)
	}
	return protocol.AppendSimple(out, "OK")
}

func cmdSet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	flags, expire, ok := parseStringOptions(args, forSet)
	if !ok {
		return appendErr(out, errSyntax)
	}
	return s.setGeneric(c, "set", flags, args[1], args[2], expire, now, out, false)
}

func cmdSetNX(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.setGeneric(c, "setnx", setNX, args[1], args[2], nil, now, out, true)
}

func cmdSetEX(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.setGeneric(c, "setex", setEX, args[1], args[3], args[2], now, out, false)
}

func cmdPSetEX(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.setGeneric(c, "psetex", setPX, args[1], args[3], args[2], now, out, false)
}

func cmdGetSet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.setGeneric(c, "getset", setGet, args[1], args[2], nil, now, out, false)
}

func cmdMSet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.msetGeneric(c, "mset", false, args, now, out)
}

func cmdMSetNX(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.msetGeneric(c, "msetnx", true, args, now, out)
}

func (s *Server) msetGeneric(c *Client, name string, nx bool, args [][]byte, now int64, out []byte) []byte {
	if len(args)%2 == 0 {
		return appendArityError(out, name)
	}
	stored, err := s.db(c).MSet(args[1:], nx, now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	if !nx {
		return protocol.AppendSimple(out, "OK")
	}
	if stored {
		return protocol.AppendInt(out, 1)
	}
	return protocol.AppendInt(out, 0)
}

func cmdGetDel(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	c.out = out
	found, err := s.db(c).GetDel(args[1], now, c.bulkFn)
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

func cmdGetEx(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	flags, expire, ok := parseStringOptions(args, forGet)
	if !ok {
		return appendErr(out, errSyntax)
	}
	db := s.db(c)
	var upd engine.ExpireUpdate
	upd.Persist = flags&setPersist != 0
	if expire != nil {
		at, notInt, invalid := expireMillis(expire, flags, now)
		if notInt || invalid {
			// Redis looks the key up (lookupKeyReadOrReply: a keyspace hit or miss) and
			// checks its type before validating the time.
			switch t, _ := db.Lookup(args[1], now); t {
			case engine.TypeNone:
				return protocol.AppendNull(out, c.Proto)
			case engine.TypeString:
			default:
				return appendEngineErr(out, engine.ErrWrongType)
			}
			if notInt {
				return appendErr(out, errNotInt)
			}
			return appendExpireTimeError(out, "getex")
		}
		upd.ExpireAt = at
	}
	c.out = out
	found, err := db.GetEx(args[1], now, upd, c.bulkFn)
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

func cmdAppend(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	n, err := s.db(c).Append(args[1], args[2], now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, n)
}

func cmdStrlen(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var n int
	found, err := s.db(c).Get(args[1], now, func(val []byte) { n = len(val) })
	if err != nil {
		return appendEngineErr(out, err)
	}
	if !found {
		n = 0
	}
	return protocol.AppendInt(out, int64(n))
}

func cmdGetRange(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	start, ok := parseInt(args[2])
	if !ok {
		return appendErr(out, errNotInt)
	}
	end, ok := parseInt(args[3])
	if !ok {
		return appendErr(out, errNotInt)
	}
	c.out = out
	found, err := s.db(c).Get(args[1], now, func(val []byte) {
		c.out = appendRange(c.out, val, start, end)
	})
	out = c.out
	c.out = nil
	if err != nil {
		return appendEngineErr(out, err)
	}
	if !found {
		return protocol.AppendBulk(out, nil)
	}
	return out
}

// appendRange appends GETRANGE's reply for val.
func appendRange(out, val []byte, start, end int64) []byte {
	return protocol.AppendBulk(out, engine.Substr(val, start, end))
}

func cmdSetRange(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	offset, ok := parseInt(args[2])
	if !ok {
		return appendErr(out, errNotInt)
	}
	if offset < 0 {
		return appendErr(out, "ERR offset is out of range")
	}
	// The engine checks the type, then the length (checkStringLength, safe for any offset).
	n, err := s.db(c).SetRange(args[1], offset, args[3], now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, n)
}

func (s *Server) incrBy(c *Client, key []byte, delta, now int64, out []byte) []byte {
	n, err := s.db(c).IncrBy(key, delta, now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, n)
}

func cmdIncr(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.incrBy(c, args[1], 1, now, out)
}

func cmdDecr(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.incrBy(c, args[1], -1, now, out)
}

func cmdIncrBy(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	delta, ok := parseInt(args[2])
	if !ok {
		return appendErr(out, errNotInt)
	}
	return s.incrBy(c, args[1], delta, now, out)
}

func cmdDecrBy(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	delta, ok := parseInt(args[2])
	if !ok {
		return appendErr(out, errNotInt)
	}
	if delta == math.MinInt64 { // negating it would overflow
		return appendErr(out, "ERR decrement would overflow")
	}
	return s.incrBy(c, args[1], -delta, now, out)
}

// cmdIncrByFloat is incrbyfloatCommand: the engine reads the value, adds the increment in
// long double arithmetic (package longdouble) and stores the sum, keeping the TTL, in one
// critical section; the increment goes to it as text, so nothing is rounded before the
// addition. Its errors come in Redis's order and carry Redis's texts (engine.ErrWrongType,
// ErrNotFloat, ErrNaN, ErrOOM).
func cmdIncrByFloat(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	text, err := s.db(c).IncrByFloat(c.scratch[:0], args[1], args[2], now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	out = protocol.AppendBulk(out, text)
	c.keepScratch(text)
	return out
}

// eqFold reports whether b equals the lower-case ASCII word w, ignoring case.
func eqFold(b []byte, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != w[i] {
			return false
		}
	}
	return true
}
