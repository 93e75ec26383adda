package command

import (
	"strconv"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// MONITOR: every command any client runs, as Redis's replicationFeedMonitors prints it,
// pushed to each monitoring client after the command ran:
//
//	+1339518083.107412 [0 127.0.0.1:60866] "keys" "*"
//
// the time in µs, the database the command left selected, the client ("unix:<socket>" on
// the Unix socket), then each argument as sdscatrepr quotes it. Commands refused before
// they ran, and administrative ones (CONFIG, CLIENT LIST, MONITOR ...), are not shown;
// AUTH's and HELLO AUTH's credentials show as "(redacted)". While nobody monitors, a
// command pays one atomic load (exec).

// monKeepBuf is the largest line buffer a client keeps between its commands.
const monKeepBuf = 4 << 10

func cmdMonitor(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if c.tx.on { // inside EXEC (CLIENT_DENY_BLOCKING)
		return appendErr(out, "ERR MONITOR isn't allowed for DENY BLOCKING client")
	}
	if c.sub.monitor.Load() {
		return out // Redis ignores a second MONITOR, without a reply
	}
	s.monMu.Lock()
	var list []*Client
	if p := s.monitors.Load(); p != nil {
		list = append(list, *p...)
	}
	list = append(list, c)
	s.monitors.Store(&list)
	s.nmon.Store(int32(len(list)))
	c.sub.monitor.Store(true)
	s.monMu.Unlock()
	c.refreshGate()
	return protocol.AppendSimple(out, "OK")
}

// unmonitor takes c out of MONITOR mode (RESET, a closing connection).
func (s *Server) unmonitor(c *Client) {
	if !c.sub.monitor.Load() {
		return
	}
	s.monMu.Lock()
	var list []*Client
	if p := s.monitors.Load(); p != nil {
		for _, m := range *p {
			if m != c {
				list = append(list, m)
			}
		}
	}
	s.monitors.Store(&list)
	s.nmon.Store(int32(len(list)))
	c.sub.monitor.Store(false)
	s.monMu.Unlock()
	c.refreshGate()
}

// feedMonitors shows c's command args, which ran, to every monitor. Called on c's loop
// after the command, only while nmon > 0.
func (s *Server) feedMonitors(c *Client, cmd *command, args [][]byte) {
	// QUIT is not shown either: Redis 7.0 answers it before call() (processCommand).
	if cmd.flags&flagAdmin != 0 || cmd.name == "quit" {
		return
	}
	p := s.monitors.Load()
	if p == nil || len(*p) == 0 {
		return
	}
	line := s.appendMonitorLine(c.sub.monBuf[:0], c, cmd, args, time.Now())
	for _, m := range *p {
		m.Push(line)
	}
	if cap(line) <= monKeepBuf {
		c.sub.monBuf = line[:0]
	} else {
		c.sub.monBuf = nil
	}
}

// appendMonitorLine formats one MONITOR line (a status reply).
func (s *Server) appendMonitorLine(dst []byte, c *Client, cmd *command, args [][]byte, t time.Time) []byte {
	us := t.UnixMicro()
	dst = append(dst, '+')
	dst = strconv.AppendInt(dst, us/1e6, 10)
	dst = append(dst, '.')
	frac := us % 1e6
	for d := int64(1e5); d > 1 && frac < d; d /= 10 {
		dst = append(dst, '0')
	}
	dst = strconv.AppendInt(dst, frac, 10)
	dst = append(dst, " ["...)
	dst = strconv.AppendInt(dst, int64(c.DB), 10)
	dst = append(dst, ' ')
	if c.Unix {
		dst = append(dst, "unix:"...)
		dst = append(dst, unixPath(c.LAddr)...)
	} else {
		dst = append(dst, c.Addr...)
	}
	dst = append(dst, "] "...)
	redact := redactFrom(cmd, args)
	for i, a := range args {
		if i > 0 {
			dst = append(dst, ' ')
		}
		if redact(i) {
			dst = append(dst, `"(redacted)"`...)
			continue
		}
		dst = appendRepr(dst, a)
	}
	return append(dst, "\r\n"...)
}

// unixPath strips the ":0" Redis appends to a Unix socket address.
func unixPath(addr string) string {
	if len(addr) >= 2 && addr[len(addr)-2:] == ":0" {
		return addr[:len(addr)-2]
	}
	return addr
}

func noRedaction(int) bool { return false }

// redactFrom returns which arguments Redis 7 redacts for cmd (redactClientCommandArgument):
// AUTH's username and password (unless AUTH was a syntax error), and the two arguments of
// each HELLO AUTH option met before HELLO's first bad option.
func redactFrom(cmd *command, args [][]byte) func(int) bool {
	switch cmd.name {
	case "auth":
		if len(args) > 3 {
			return noRedaction
		}
		return func(i int) bool { return i >= 1 }
	case "hello":
		if len(args) < 2 {
			return noRedaction
		}
		if v, ok := parseInt(args[1]); !ok || v < 2 || v > 3 {
			return noRedaction
		}
		var red []int
		for j := 2; j < len(args); j++ {
			more := len(args) - 1 - j
			switch {
			case eqFold(args[j], "auth") && more >= 2:
				red = append(red, j+1, j+2)
				j += 2
			case eqFold(args[j], "setname") && more >= 1:
				j++
			default:
				j = len(args)
			}
		}
		return func(i int) bool {
			for _, r := range red {
				if r == i {
					return true
				}
			}
			return false
		}
	}
	return noRedaction
}

// appendRepr appends b quoted as Redis's sdscatrepr: \\ \" \n \r \t \a \b escaped, other
// bytes outside ' '..'~' as \xHH.
func appendRepr(dst, b []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, ch := range b {
		switch ch {
		case '\\', '"':
			dst = append(dst, '\\', ch)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\a':
			dst = append(dst, '\\', 'a')
		case '\b':
			dst = append(dst, '\\', 'b')
		default:
			if ch >= ' ' && ch <= '~' {
				dst = append(dst, ch)
			} else {
				dst = append(dst, '\\', 'x', hex[ch>>4], hex[ch&15])
			}
		}
	}
	return append(dst, '"')
}
