package command

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// CLIENT PAUSE and CLIENT UNPAUSE (Redis 7.2's pauseActions for PAUSE_BY_CLIENT_COMMAND).
//
// While a pause is on, a command it applies to is not executed: Exec sets c.Postponed and
// appends nothing, and the network layer keeps that command's bytes, and all after them, as
// the connection's pending input (Redis's blockPostponeClient: the client is blocked with
// its query buffer kept). When the pause ends, at its timeout or by CLIENT UNPAUSE, the hook
// installed with SetUnpauseHook wakes every postponed connection, which then executes its
// input from that command on. A pause applies to
//   - ALL: every command, CLIENT UNPAUSE included (only the timeout ends such a pause, as in
//     Redis);
//   - WRITE: commands flagged write or may-replicate, and EXEC when its queue holds one
//     (processCommand's is_may_replicate_command).
//
// The pausing client is subject to it from its next command. The checks that refuse a
// command (unknown, arity, NOAUTH, OOM) come first, as in processCommand. A second CLIENT
// PAUSE replaces the mode and keeps the later of the two end times (7.2; 7.0 keeps the
// stricter mode).
//
// Unlike Redis, active expiry and eviction go on during a pause, and lazy expiry deletes as
// usual: Redis freezes them so that a failing-over replica sees a fixed dataset, and this
// server has no replicas.

const (
	pauseOff int32 = iota
	pauseWrite
	pauseAll
)

// pauseState is the server's client pause.
type pauseState struct {
	pauseKind atomic.Int32 // pauseOff, pauseWrite or pauseAll; read by every command
	pauseEnd  atomic.Int64 // ms since the epoch: the pause is over from then on
	// pauseMu serialises CLIENT PAUSE, CLIENT UNPAUSE and the timer that ends a pause.
	pauseMu    sync.Mutex
	pauseTimer *time.Timer // under pauseMu
	// unpauseHook wakes the postponed connections (SetUnpauseHook).
	unpauseHook func()
}

// SetUnpauseHook installs f, which the server calls (from any goroutine, without locks
// held) when a client pause ends: f must make every connection whose command was postponed
// (Client.Postponed) execute its pending input again. Call it before clients connect.
func (s *Server) SetUnpauseHook(f func()) { s.unpauseHook = f }

// Paused reports whether a client pause is on. Safe from any goroutine. A connection that
// was postponed and finds no pause on any more must retry at once rather than wait for the
// hook: the pause ended between its command and its registration.
func (s *Server) Paused() bool { return s.pauseKind.Load() != pauseOff }

// postpone decides whether the pause holds cmd back; called only while a pause is on or c
// was postponed before. It keeps c's blocked state (CLIENT LIST 'b', INFO blocked_clients).
func (s *Server) postpone(c *Client, cmd *command, now int64) bool {
	if s.pausedFor(c, cmd, now) {
		c.postponed = true
		if !c.blocked.Load() {
			c.blocked.Store(true)
		}
		return true
	}
	if c.postponed {
		c.postponed = false
		c.blocked.Store(false)
	}
	return false
}

func (s *Server) pausedFor(c *Client, cmd *command, now int64) bool {
	switch s.pauseKind.Load() {
	case pauseOff:
		return false
	case pauseWrite:
		if !mayReplicate(c, cmd) {
			return false
		}
	}
	return now < s.pauseEnd.Load()
}

// mayReplicate is Redis's is_may_replicate_command: a write or may-replicate command, or
// EXEC of a queue that holds one.
func mayReplicate(c *Client, cmd *command) bool {
	const f = flagWrite | flagMayReplicate
	if cmd.flags&f != 0 {
		return true
	}
	if cmd.name == "exec" && c.tx.on {
		for _, q := range c.tx.cmds {
			if q.cmd.flags&f != 0 {
				return true
			}
		}
	}
	return false
}

// pause starts or changes the pause: mode kind until end, ms since the epoch on the
// commands' clock, which reads now.
func (s *Server) pause(kind int32, end, now int64) {
	s.pauseMu.Lock()
	defer s.pauseMu.Unlock()
	if cur := s.pauseEnd.Load(); s.pauseKind.Load() != pauseOff && cur > end {
		end = cur
	}
	// The end first: a command that sees the new mode sees its end.
	s.pauseEnd.Store(end)
	s.pauseKind.Store(kind)
	d := time.Duration(end-now) * time.Millisecond
	if s.pauseTimer == nil {
		s.pauseTimer = time.AfterFunc(d, s.pauseTimeout)
	} else {
		s.pauseTimer.Reset(d)
	}
}

// pauseTimeout ends the pause once its end has come (the timer may fire early when the
// pause was extended after it was set).
func (s *Server) pauseTimeout() {
	s.pauseMu.Lock()
	if s.pauseKind.Load() == pauseOff {
		s.pauseMu.Unlock()
		return
	}
	if left := s.pauseEnd.Load() - time.Now().UnixMilli(); left > 0 {
		s.pauseTimer.Reset(time.Duration(left) * time.Millisecond)
		s.pauseMu.Unlock()
		return
	}
	s.pauseKind.Store(pauseOff)
	s.pauseMu.Unlock()
	s.resumePaused()
}

// unpause ends the pause now (CLIENT UNPAUSE).
func (s *Server) unpause() {
	s.pauseMu.Lock()
	was := s.pauseKind.Swap(pauseOff)
	if s.pauseTimer != nil {
		s.pauseTimer.Stop()
	}
	s.pauseMu.Unlock()
	if was != pauseOff {
		s.resumePaused()
	}
}

// resumePaused unblocks the clients the pause held (as Redis's unblockPostponedClients,
// at once, though each runs its command when its loop gets to it) and wakes them.
func (s *Server) resumePaused() {
	s.clientsMu.Lock()
	for _, c := range s.clients {
		if c.blocked.Load() {
			c.blocked.Store(false)
		}
	}
	s.clientsMu.Unlock()
	if f := s.unpauseHook; f != nil {
		f()
	}
}

// cmdClientPause is CLIENT PAUSE timeout [WRITE|ALL]: the mode is checked before the
// timeout, as Redis does.
func cmdClientPause(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args) > 4 {
		return appendSubcommandSyntaxError(out, args)
	}
	kind := pauseAll
	if len(args) == 4 {
		switch {
		case eqFold(args[3], "write"):
			kind = pauseWrite
		case eqFold(args[3], "all"):
		default:
			return appendErr(out, "ERR CLIENT PAUSE mode must be WRITE or ALL")
		}
	}
	end, msg := parseTimeoutMs(args[2], now)
	if msg != "" {
		return appendErr(out, msg)
	}
	s.pause(kind, end, now)
	return protocol.AppendSimple(out, "OK")
}

func cmdClientUnpause(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	s.unpause()
	return protocol.AppendSimple(out, "OK")
}

// parseTimeoutMs is Redis 7.2's getTimeoutFromObjectOrReply in milliseconds: 0 stays 0 (no
// timeout), anything else becomes an absolute time, ms since the epoch.
func parseTimeoutMs(b []byte, now int64) (int64, string) {
	v, ok := parseInt(b)
	switch {
	case !ok:
		return 0, "ERR timeout is not an integer or out of range"
	case v < 0:
		return 0, "ERR timeout is negative"
	case v > 0 && v > math.MaxInt64-now:
		return 0, "ERR timeout is out of range"
	case v > 0:
		v += now
	}
	return v, ""
}

// appendSubcommandSyntaxError is Redis's addReplySubcommandSyntaxError: the subcommand as
// sent, cut at 128 bytes, and the container in capitals.
func appendSubcommandSyntaxError(out []byte, args [][]byte) []byte {
	out = append(out, "-ERR unknown subcommand or wrong number of arguments for '"...)
	start := len(out)
	out = append(out, cString(args[1], 128)...)
	out = append(out, "'. Try "...)
	for _, ch := range cString(args[0], len(args[0])) {
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		out = append(out, ch)
	}
	out = append(out, " HELP."...)
	sanitizeCRLF(out[start:])
	return append(out, "\r\n"...)
}

// blockedClients is INFO's blocked_clients: clients whose command a pause holds back.
func (s *Server) blockedClients() int64 {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	n := int64(0)
	for _, c := range s.clients {
		if c.blocked.Load() {
			n++
		}
	}
	return n
}
