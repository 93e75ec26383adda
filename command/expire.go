package command

import (
	"math"

	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// Expiry commands (expire.c).

func cmdExpire(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.expireGeneric(c, "expire", args, now, now, true, out)
}

func cmdPExpire(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.expireGeneric(c, "pexpire", args, now, now, false, out)
}

func cmdExpireAt(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.expireGeneric(c, "expireat", args, 0, now, true, out)
}

func cmdPExpireAt(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.expireGeneric(c, "pexpireat", args, 0, now, false, out)
}

// expire option bits, as expire.c's EXPIRE_*.
const (
	expNX = 1 << iota
	expXX
	expGT
	expLT
)

// expireGeneric is expireGenericCommand: options, then the time (overflow checked on the
// unit conversion and on adding basetime), then the key.
func (s *Server) expireGeneric(c *Client, name string, args [][]byte, basetime, now int64, seconds bool, out []byte) []byte {
	flags := 0
	for _, opt := range args[3:] {
		switch {
		case eqFold(opt, "nx"):
			flags |= expNX
		case eqFold(opt, "xx"):
			flags |= expXX
		case eqFold(opt, "gt"):
			flags |= expGT
		case eqFold(opt, "lt"):
			flags |= expLT
		default:
			return appendErrText(out, "ERR Unsupported option "+cstr(opt))
		}
	}
	if flags&expNX != 0 && flags&(expXX|expGT|expLT) != 0 {
		return appendErr(out, "ERR NX and XX, GT or LT options at the same time are not compatible")
	}
	if flags&expGT != 0 && flags&expLT != 0 {
		return appendErr(out, "ERR GT and LT options at the same time are not compatible")
	}
	when, ok := parseInt(args[2])
	if !ok {
		return appendErr(out, errNotInt)
	}
	if seconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			return appendExpireTimeError(out, name)
		}
		when *= 1000
	}
	if when > math.MaxInt64-basetime {
		return appendExpireTimeError(out, name)
	}
	when += basetime

	db := s.db(c)
	cond := engine.ExpireAlways
	switch {
	case flags&expNX != 0:
		cond = engine.ExpireNX
	case flags&expGT != 0:
		cond = engine.ExpireGT // GT fails on a key without a TTL, so XX adds nothing
	case flags&expLT != 0:
		cond = engine.ExpireLT
		if flags&expXX != 0 && db.ExpireAt(args[1], now) == -1 {
			return protocol.AppendInt(out, 0) // XX: the key has no TTL (or does not exist)
		}
	case flags&expXX != 0:
		cond = engine.ExpireXX
	}
	if db.Expire(args[1], when, cond, now) {
		return protocol.AppendInt(out, 1)
	}
	return protocol.AppendInt(out, 0)
}

// ttlGeneric is ttlGenericCommand: -2 missing, -1 no TTL, else the remaining (or absolute)
// time, rounded to the nearest second for the second variants. db.Lookup counts a keyspace
// hit or miss, as Redis's lookupKeyReadWithFlags(LOOKUP_NOTOUCH) does.
func (s *Server) ttlGeneric(c *Client, args [][]byte, now int64, ms, abs bool, out []byte) []byte {
	_, at := s.db(c).Lookup(args[1], now)
	if at < 0 {
		return protocol.AppendInt(out, at)
	}
	ttl := at
	if !abs {
		ttl = at - now
	}
	if ttl < 0 {
		ttl = 0
	}
	if !ms {
		ttl = (ttl + 500) / 1000
	}
	return protocol.AppendInt(out, ttl)
}

func cmdTTL(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.ttlGeneric(c, args, now, false, false, out)
}

func cmdPTTL(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.ttlGeneric(c, args, now, true, false, out)
}

func cmdExpireTime(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.ttlGeneric(c, args, now, false, true, out)
}

func cmdPExpireTime(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.ttlGeneric(c, args, now, true, true, out)
}

func cmdPersist(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if s.db(c).Persist(args[1], now) {
		return protocol.AppendInt(out, 1)
	}
	return protocol.AppendInt(out, 0)
}
