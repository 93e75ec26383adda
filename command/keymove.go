package command

import (
	"bytes"
	"math"

	"github.com/sidecache/sidecache/protocol"
)

// SWAPDB, MOVE and COPY: keys between databases (db.c).

const errSameObject = "ERR source and destination objects are the same"

// parseInt32 is getIntFromObjectOrReply: msg, when set, replaces both its errors (not an
// integer, outside the C int range).
func parseInt32(b []byte, msg string) (int, string) {
	id, ok := parseInt(b)
	switch {
	case ok && id >= math.MinInt32 && id <= math.MaxInt32:
		return int(id), ""
	case msg != "":
		return 0, msg
	case !ok:
		return 0, errNotInt
	}
	return 0, "ERR value is out of range, value must between -2147483648 and 2147483647"
}

// parseDBIndex is parseInt32 followed by selectDb's range check.
func (s *Server) parseDBIndex(b []byte) (int, string) {
	id, msg := parseInt32(b, "")
	if msg == "" && (id < 0 || id >= s.eng.NumDBs()) {
		msg = "ERR DB index is out of range"
	}
	return id, msg
}

// cmdSwapDB is SWAPDB: both indexes are read before either is range-checked, as Redis does.
func cmdSwapDB(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	a, msg := parseInt32(args[1], "ERR invalid first DB index")
	if msg != "" {
		return appendErr(out, msg)
	}
	b, msg := parseInt32(args[2], "ERR invalid second DB index")
	if msg != "" {
		return appendErr(out, msg)
	}
	if err := s.eng.Swap(a, b); err != nil {
		return appendEngineErr(out, err) // engine.ErrDBIndex: "ERR DB index is out of range"
	}
	return protocol.AppendSimple(out, "OK")
}

// cmdMove is MOVE key db: 1 if moved, 0 if the key is missing or exists in db.
func cmdMove(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	id, msg := s.parseDBIndex(args[2])
	if msg != "" {
		return appendErr(out, msg)
	}
	if id == c.DB {
		return appendErr(out, errSameObject)
	}
	ok, err := s.db(c).Move(s.eng.DB(id), args[1], now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, b2i(ok))
}

// cmdCopy is COPY source destination [DB db] [REPLACE]: 1 if copied, 0 if the source is
// missing or the destination exists (without REPLACE). Options are read left to right; the
// first bad one answers, as Redis does.
func cmdCopy(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	dst := c.DB
	replace := false
	for j := 3; j < len(args); j++ {
		switch {
		case eqFold(args[j], "replace"):
			replace = true
		case eqFold(args[j], "db") && j+1 < len(args):
			id, msg := s.parseDBIndex(args[j+1])
			if msg != "" {
				return appendErr(out, msg)
			}
			dst = id
			j++
		default:
			return appendErr(out, errSyntax)
		}
	}
	if dst == c.DB && bytes.Equal(args[1], args[2]) {
		return appendErr(out, errSameObject)
	}
	ok, err := s.db(c).Copy(s.eng.DB(dst), args[1], args[2], replace, now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, b2i(ok))
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
