package command

import (
	"strconv"
	"sync"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// The slow log, as Redis's slowlog.c: commands timed at slowlog-log-slower-than or more (see
// stats.go for which commands are timed), newest first, at most slowlog-max-len entries. An
// entry keeps at most slowlogMaxArgs arguments of at most slowlogMaxString bytes each, with
// Redis's "... (N more arguments)" and "... (N more bytes)" markers; passwords read
// "(redacted)". Entries live in a ring whose memory is reused, so logging every command
// (slowlog-log-slower-than 0) does not allocate once the ring is full of similar commands.

const (
	slowlogMaxArgs   = 32  // SLOWLOG_ENTRY_MAX_ARGC
	slowlogMaxString = 128 // SLOWLOG_ENTRY_MAX_STRING
)

type slowEntry struct {
	id   int64
	time int64 // unix seconds
	usec int64
	args [][]byte // owned copies
	addr string
	name string
}

type slowlog struct {
	mu     sync.Mutex
	ring   []slowEntry // len is the current capacity
	next   int         // where the next entry goes
	n      int         // valid entries
	nextID int64
}

// at returns the i-th newest entry (i < n).
func (l *slowlog) at(i int) *slowEntry {
	return &l.ring[(l.next-1-i+2*len(l.ring))%len(l.ring)]
}

// resize keeps the newest min(n, max) entries in a ring of max.
func (l *slowlog) resize(max int) {
	ring := make([]slowEntry, max)
	n := min(l.n, max)
	for i := 0; i < n; i++ {
		ring[n-1-i] = *l.at(i)
	}
	l.ring, l.n, l.next = ring, n, n%max
}

func (s *Server) slowlogMaxLen() int {
	if s.cfg == nil || s.cfg.Lookup("slowlog-max-len") == nil {
		return 128
	}
	return int(s.cfg.Int("slowlog-max-len"))
}

// slowlogAdd logs one command that ran for d. args are borrowed; they are copied.
func (s *Server) slowlogAdd(c *Client, cmd *command, args [][]byte, d time.Duration) {
	max := s.slowlogMaxLen()
	l := &s.slow
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.nextID
	l.nextID++
	if max <= 0 {
		l.ring, l.n, l.next = nil, 0, 0
		return
	}
	if len(l.ring) != max {
		l.resize(max)
	}
	e := &l.ring[l.next]
	l.next = (l.next + 1) % max
	l.n = min(l.n+1, max)
	e.id, e.time, e.usec = id, time.Now().Unix(), d.Microseconds()
	e.addr, e.name = c.Addr, c.Name()
	n := min(len(args), slowlogMaxArgs)
	if cap(e.args) < n {
		e.args = append(e.args[:cap(e.args)], make([][]byte, n-cap(e.args))...)
	}
	e.args = e.args[:n]
	for i := 0; i < n; i++ {
		a := e.args[i][:0]
		switch {
		case i == slowlogMaxArgs-1 && len(args) > slowlogMaxArgs:
			a = append(a, "... ("...)
			a = strconv.AppendInt(a, int64(len(args)-slowlogMaxArgs+1), 10)
			a = append(a, " more arguments)"...)
		case redacted(cmd, args, i):
			a = append(a, "(redacted)"...)
		case len(args[i]) > slowlogMaxString:
			a = append(a, args[i][:slowlogMaxString]...)
			a = append(a, "... ("...)
			a = strconv.AppendInt(a, int64(len(args[i])-slowlogMaxString), 10)
			a = append(a, " more bytes)"...)
		default:
			a = append(a, args[i]...)
		}
		e.args[i] = a
	}
}

// redacted reports whether argument i of the command is a password, which the slow log does
// not keep: AUTH's arguments, HELLO's after AUTH, CONFIG SET requirepass's value, ACL
// SETUSER's arguments.
func redacted(cmd *command, args [][]byte, i int) bool {
	switch cmd.name {
	case "auth":
		return i > 0
	case "hello":
		for j := 2; j < i && j < len(args); j++ {
			if eqFold(args[j], "auth") && (i == j+1 || i == j+2) {
				return true
			}
		}
	case "config|set":
		return i >= 3 && i%2 == 1 && eqFold(args[i-1], "requirepass")
	case "acl|setuser":
		return i >= 2 // the user and every rule, as Redis redacts them (passwords among them)
	}
	return false
}

// SlowlogLen returns the number of slow log entries.
func (s *Server) SlowlogLen() int {
	s.slow.mu.Lock()
	defer s.slow.mu.Unlock()
	return s.slow.n
}

func cmdSlowlogGet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	count := int64(10)
	if len(args) == 3 {
		n, ok := parseInt(args[2])
		if !ok || n < -1 {
			return appendErr(out, "ERR count should be greater than or equal to -1")
		}
		count = n
	}
	l := &s.slow
	l.mu.Lock()
	defer l.mu.Unlock()
	n := int64(l.n)
	if count >= 0 && count < n {
		n = count
	}
	out = protocol.AppendArrayLen(out, int(n))
	for i := 0; i < int(n); i++ {
		e := l.at(i)
		out = protocol.AppendArrayLen(out, 6)
		out = protocol.AppendInt(out, e.id)
		out = protocol.AppendInt(out, e.time)
		out = protocol.AppendInt(out, e.usec)
		out = protocol.AppendArrayLen(out, len(e.args))
		for _, a := range e.args {
			out = protocol.AppendBulk(out, a)
		}
		out = protocol.AppendBulkString(out, e.addr)
		out = protocol.AppendBulkString(out, e.name)
	}
	return out
}

func cmdSlowlogLen(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendInt(out, int64(s.SlowlogLen()))
}

func cmdSlowlogReset(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	l := &s.slow
	l.mu.Lock()
	l.ring, l.n, l.next = nil, 0, 0
	l.mu.Unlock()
	return protocol.AppendSimple(out, "OK")
}

func cmdSlowlogHelp(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendHelp(out, "SLOWLOG", []string{
		"GET [<count>]",
		"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
		"    Entries are made of:",
		"    id, timestamp, time in microseconds, arguments array, client IP and port,",
		"    client name",
		"LEN",
		"    Return the length of the slowlog.",
		"RESET",
		"    Reset the slowlog.",
	})
}
