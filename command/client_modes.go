package command

import (
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// Per-connection modes: CLIENT REPLY, CLIENT NO-TOUCH; and CLIENT UNBLOCK, which has no
// blocked client to act on.

// CLIENT REPLY state, Redis's CLIENT_REPLY_OFF, CLIENT_REPLY_SKIP and
// CLIENT_REPLY_SKIP_NEXT flags. A command's reply is dropped when, once the command has run,
// replyOff or replySkip is set. replySkip lasts one command: CLIENT REPLY SKIP sets
// replySkipNext, which becomes replySkip when the next command starts (Redis turns it over
// in resetClient, after the SKIP command itself).
const (
	replyOff uint8 = 1 << iota
	replySkip
	replySkipNext
)

// execQuiet is exec for a client with a CLIENT REPLY mode set.
func (s *Server) execQuiet(c *Client, args [][]byte, now int64, t0 time.Time, out []byte) []byte {
	if c.replyFlags&replySkipNext != 0 {
		c.replyFlags = c.replyFlags&^replySkipNext | replySkip
	}
	start := len(out)
	out = s.exec(c, args, now, t0, out)
	if c.Postponed {
		return out // not executed yet: the mode applies when it is
	}
	if c.replyFlags&(replyOff|replySkip) != 0 {
		out = out[:start]
	}
	c.replyFlags &^= replySkip
	return out
}

// cmdClientReply is CLIENT REPLY ON|OFF|SKIP. ON answers +OK; OFF and SKIP answer nothing.
func cmdClientReply(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	switch {
	case eqFold(args[2], "on"):
		c.replyFlags &^= replyOff | replySkip
		return protocol.AppendSimple(out, "OK")
	case eqFold(args[2], "off"):
		c.replyFlags |= replyOff
	case eqFold(args[2], "skip"):
		if c.replyFlags&replyOff == 0 {
			c.replyFlags |= replySkipNext
		}
	default:
		return appendErr(out, errSyntax)
	}
	return out
}

// cmdClientNoTouch is Redis 7.2's CLIENT NO-TOUCH ON|OFF: while on, the client's reads do
// not update the keys' LFU counter or LRU clock (TOUCH still does). The engine's no-touch
// view (engine.DBNoTouch) covers the lookups that go through DB.touch: the string reads
// (GET, MGET, GETEX, GETRANGE, STRLEN ...), the hash reads, COPY and MOVE; writes still
// count as an access, unlike Redis 7.2 where no lookup of such a client touches.
func cmdClientNoTouch(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	switch {
	case eqFold(args[2], "on"):
		c.noTouch.Store(true)
	case eqFold(args[2], "off"):
		c.noTouch.Store(false)
	default:
		return appendErr(out, errSyntax)
	}
	return protocol.AppendSimple(out, "OK")
}

// cmdClientUnblock is CLIENT UNBLOCK id [TIMEOUT|ERROR]. No command blocks here (a client
// held by CLIENT PAUSE is not unblockable in Redis either), so it answers 0 for any id, as
// Redis does for a client that is not blocked, after checking the arguments in Redis's order.
func cmdClientUnblock(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args) > 4 {
		return appendSubcommandSyntaxError(out, args)
	}
	if len(args) == 4 && !eqFold(args[3], "timeout") && !eqFold(args[3], "error") {
		return appendErr(out, "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
	}
	if _, ok := parseInt(args[2]); !ok {
		return appendErr(out, errNotInt)
	}
	return protocol.AppendInt(out, 0)
}
