package command

import (
	"sync/atomic"

	"github.com/sidecache/sidecache/protocol"
)

// Server administration without persistence or replication: this server keeps no data on
// disk and has no replicas, so the commands about them answer as a Redis master with
// persistence off would, or refuse with a reason.

// adminState is what SHUTDOWN needs.
type adminState struct {
	// shutdown starts the process's graceful shutdown, as SIGTERM does (Options.Shutdown);
	// nil when the server is used in-process.
	shutdownFn   func()
	shuttingDown atomic.Bool
}

// cmdLastSave is LASTSAVE: the time of the last successful save, which for a server that
// never saves is its start, as Redis reports before its first save.
func cmdLastSave(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendInt(out, s.started.Unix())
}

// errNoPersistence answers SAVE, BGSAVE and BGREWRITEAOF: there is nothing to save to.
const errNoPersistence = " is not supported: sidecache keeps no data on disk (no RDB, no AOF)"

func cmdSave(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendErr(out, "ERR SAVE"+errNoPersistence)
}

// cmdBgSave is BGSAVE [SCHEDULE]: the argument is checked as Redis does first.
func cmdBgSave(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args) > 2 || (len(args) == 2 && !eqFold(args[1], "schedule")) {
		return appendErr(out, errSyntax)
	}
	return appendErr(out, "ERR BGSAVE"+errNoPersistence)
}

func cmdBgRewriteAOF(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendErr(out, "ERR BGREWRITEAOF"+errNoPersistence)
}

// cmdShutdown is SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], checked as Redis 7 checks it.
// It starts the graceful shutdown SIGTERM starts (the caller gets no reply: its connection
// closes, as when Redis exits). SAVE cannot be honoured without persistence: it fails as a
// failed save does in Redis, unless FORCE. NOW and FORCE are otherwise accepted and change
// nothing (there are no replicas to wait for). ABORT cannot stop a shutdown once started.
func cmdShutdown(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var nosave, save, force, abort, other bool
	for _, a := range args[1:] {
		switch {
		case eqFold(a, "nosave"):
			nosave = true
		case eqFold(a, "save"):
			save = true
		case eqFold(a, "now"):
			other = true
		case eqFold(a, "force"):
			force = true
		case eqFold(a, "abort"):
			abort = true
		default:
			return appendErr(out, errSyntax)
		}
	}
	if (abort && (nosave || save || force || other)) || (nosave && save) {
		return appendErr(out, errSyntax)
	}
	if abort {
		if s.shuttingDown.Load() {
			return appendErr(out, "ERR a shutdown in progress cannot be aborted here")
		}
		return appendErr(out, "ERR No shutdown in progress.")
	}
	if (save && !force) || s.shutdownFn == nil {
		return appendErr(out, "ERR Errors trying to SHUTDOWN. Check logs.")
	}
	if s.shuttingDown.CompareAndSwap(false, true) {
		s.shutdownFn()
	}
	c.CloseAfterReply = true
	return out
}

// cmdRole is ROLE for a master without replicas.
func cmdRole(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	out = protocol.AppendArrayLen(out, 3)
	out = protocol.AppendBulkString(out, "master")
	out = protocol.AppendInt(out, 0)
	return protocol.AppendArrayLen(out, 0)
}

// cmdWait is WAIT numreplicas timeout: no replica acknowledges anything, so it answers 0.
// Unlike Redis it answers at once instead of waiting out the timeout when numreplicas > 0:
// no replica can ever connect.
func cmdWait(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if _, ok := parseInt(args[1]); !ok {
		return appendErr(out, errNotInt)
	}
	if _, msg := parseTimeoutMs(args[2], now); msg != "" {
		return appendErr(out, msg)
	}
	return protocol.AppendInt(out, 0)
}

// cmdWaitAOF is Redis 7.2's WAITAOF numlocal numreplicas timeout for a master with
// appendonly off and no replicas: numlocal 1 is an error, otherwise [0, 0], at once (as
// WAIT).
func cmdWaitAOF(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	local, ok := parseInt(args[1])
	if !ok {
		return appendErr(out, errNotInt)
	}
	if local < 0 || local > 1 {
		return appendErr(out, "ERR value is out of range, value must between 0 and 1")
	}
	replicas, ok := parseInt(args[2])
	if !ok {
		return appendErr(out, errNotInt)
	}
	if replicas < 0 {
		return appendErr(out, "ERR value is out of range, must be positive")
	}
	if _, msg := parseTimeoutMs(args[3], now); msg != "" {
		return appendErr(out, msg)
	}
	if local != 0 {
		return appendErr(out, "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.")
	}
	out = protocol.AppendArrayLen(out, 2)
	out = protocol.AppendInt(out, 0)
	return protocol.AppendInt(out, 0)
}
