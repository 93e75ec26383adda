package command

import (
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// cmdLCS is lcsCommand: LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]. Redis looks
// both keys up and checks their types before it reads the options, then refuses LEN with
// IDX, then tables too large for proto-max-bulk-len.
func cmdLCS(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var getLen, getIdx, withLen bool
	var minLen int64
	msg := ""
opts:
	for j := 3; j < len(args); j++ {
		switch opt := args[j]; {
		case eqFold(opt, "idx"):
			getIdx = true
		case eqFold(opt, "len"):
			getLen = true
		case eqFold(opt, "withmatchlen"):
			withLen = true
		case eqFold(opt, "minmatchlen") && j < len(args)-1:
			n, ok := parseInt(args[j+1])
			if !ok {
				msg = errNotInt
				break opts
			}
			minLen = max(n, 0)
			j++
		default:
			msg = errSyntax
			break opts
		}
	}
	if msg == "" && getIdx && getLen {
		msg = "ERR If you want both the length and indexes, please just use IDX."
	}
	buf, n1, err := s.db(c).LCSInput(c.scratch[:0], args[1], args[2], now, msg == "")
	switch {
	case err == engine.ErrWrongType:
		return appendErr(out, "ERR The specified keys must contain string values")
	case err != nil:
		return appendEngineErr(out, err)
	case msg != "":
		return appendErr(out, msg)
	}
	a, b := buf[:n1], buf[n1:]
	switch {
	case getLen:
		out = protocol.AppendInt(out, int64(engine.LCSLen(a, b)))
	case getIdx:
		// The number of ranges is known only at the end: they are encoded aside first.
		var matches []byte
		count := 0
		_, length := engine.LCS(nil, a, b, minLen, func(m engine.LCSMatch) {
			if withLen {
				matches = protocol.AppendArrayLen(matches, 3)
			} else {
				matches = protocol.AppendArrayLen(matches, 2)
			}
			matches = protocol.AppendArrayLen(matches, 2)
			matches = protocol.AppendInt(matches, int64(m.AStart))
			matches = protocol.AppendInt(matches, int64(m.AEnd))
			matches = protocol.AppendArrayLen(matches, 2)
			matches = protocol.AppendInt(matches, int64(m.BStart))
			matches = protocol.AppendInt(matches, int64(m.BEnd))
			if withLen {
				matches = protocol.AppendInt(matches, int64(m.Len))
			}
			count++
		})
		out = protocol.AppendMapLen(out, c.Proto, 2)
		out = protocol.AppendBulkString(out, "matches")
		out = protocol.AppendArrayLen(out, count)
		out = append(out, matches...)
		out = protocol.AppendBulkString(out, "len")
		out = protocol.AppendInt(out, int64(length))
	default:
		buf, _ = engine.LCS(buf, a, b, 0, nil)
		out = protocol.AppendBulk(out, buf[len(a)+len(b):])
	}
	c.keepScratch(buf)
	return out
}
