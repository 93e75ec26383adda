package command

import (
	"sync/atomic"

	"github.com/sidecache/sidecache/protocol"
)

// Upstream mode (package upstream; cmd/sidecache wires it with SetUpstream): the keyspace
// is the upstream's, and this server's engine is its L1.
//
//   - The handlers of the keyspace commands (those with keys, and DBSIZE, FLUSHDB,
//     FLUSHALL, KEYS, SCAN, RANDOMKEY, SWAPDB) are replaced by one that hands the command to
//     the upstream side of the connection: every check before the handler (arity, auth,
//     ACL, CLIENT PAUSE, pub/sub gating) still applies, and so does what follows it (the
//     statistics, and remembering a read's keys for a tracking client).
//   - A command the table does not know (LPUSH, ZADD, EVAL ...) is passed through after the
//     authentication check; ACL cannot judge it, so a restricted user may not send it.
//   - Connection and server commands stay local. Pub/sub is relayed through the upstream
//     when the Upstream can (upstream_pubsub.go), else it stays local. SELECT n selects
//     upstream database n; in cluster mode SELECT refuses n != 0 as Redis Cluster does.
//     MULTI queues here; WATCH and EXEC run on one upstream connection dedicated to the
//     client for the transaction (upstream_tx.go).
//   - The upstream may answer later. The handler then sets Client.Deferred and appends
//     nothing: the network layer stops the batch after that command and runs nothing more
//     for the connection (Waiting) until the reply arrives as a push, in place of the
//     command's reply, after which the pipelined commands that followed it run. See
//     netpoll/deferred.go.
//   - Client-side caching chains: app clients tracking keys through this server hear of the
//     upstream's invalidations (TrackInvalidate, TrackFlush). The engine's change events
//     are not used for that in upstream mode (SetUpstream removes the hook): storing a
//     fetched value, or evicting or expiring an L1 entry, changes no data, and invalidating
//     the apps for it would only make them read again.

// Upstream is the L1/L2 data path as this package uses it.
type Upstream interface {
	// Open returns the upstream side of a new connection; deliver receives the replies of
	// its deferred commands, from any goroutine, once each.
	Open(deliver func(reply []byte)) UpstreamConn
	// Cluster reports whether the upstream is a Redis Cluster.
	Cluster() bool
	// AppendInfo appends INFO's upstream section lines.
	AppendInfo(dst []byte) []byte
}

// UpstreamConn is the upstream side of one connection; its connection's loop calls it.
type UpstreamConn interface {
	// Do runs a keyspace command (name is the table's name, "" for a command the table
	// does not know; keys as the table finds them; write: it may change the keyspace). It
	// appends the reply to out, or returns deferred true and appends nothing; args and keys
	// are borrowed for the call.
	Do(db int, proto protocol.Version, name string, args, keys [][]byte, write bool, now int64, out []byte) ([]byte, bool)
	// Start sends the command Do deferred.
	Start()
}

// upState is the Server's part.
type upState struct {
	up Upstream
}

// upClient is a Client's part.
type upClient struct {
	conn    UpstreamConn
	deliver func(reply []byte)
	keys    [][]byte // scratch for a command's keys
	// wait is true from a deferral until its reply is queued (any goroutine reads it);
	// quiet says CLIENT REPLY OFF/SKIP applied to the deferred command.
	wait  atomic.Bool
	quiet bool
	// watching is true from an upstream WATCH until the transaction ends (upstream_tx.go).
	watching bool
	// resume wakes the connection's loop once the reply is queued (SetResume).
	resume func()
}

// SetUpstream puts the server in upstream mode. Call it before clients connect.
func (s *Server) SetUpstream(u Upstream) {
	s.up = u
	seen := map[*command]bool{}
	var walk func(cmd *command)
	walk = func(cmd *command) {
		if seen[cmd] {
			return
		}
		seen[cmd] = true
		for _, sub := range cmd.subs {
			walk(sub)
		}
		switch {
		case cmd.run == nil:
		case cmd.name == "multi" || cmd.name == "discard": // queued here: upstream_tx.go
		case cmd.name == "exec":
			cmd.run = cmdUpstreamExec
		case cmd.name == "watch":
			cmd.run = cmdUpstreamWatch
		case cmd.name == "unwatch":
			cmd.run = cmdUpstreamUnwatch
		case cmd.name == "select" && u.Cluster():
			cmd.run = cmdSelectCluster
		case isKeyspaceCommand(cmd):
			cmd.run = upstreamHandler(cmd)
		}
	}
	for _, cmd := range s.table {
		walk(cmd)
	}
	if ps, ok := u.(UpstreamPubSub); ok {
		s.relayPubSub(ps, u.Cluster()) // upstream_pubsub.go
	}
	if s.eng != nil {
		s.eng.SetOnChange(nil)
	}
}

// isKeyspaceCommand reports whether cmd acts on the keyspace, hence on the upstream's.
func isKeyspaceCommand(cmd *command) bool {
	switch cmd.name {
	case "dbsize", "flushdb", "flushall", "keys", "scan", "randomkey", "swapdb":
		return true
	case "watch":
		return false
	}
	return cmd.firstKey > 0 && cmd.flags&flagPubSub == 0
}

// maxKeptKeys bounds the key scratch a connection keeps between commands.
const maxKeptKeys = 256

// upstreamHandler is cmd's handler in upstream mode.
func upstreamHandler(cmd *command) handler {
	write := cmd.flags&flagWrite != 0
	return func(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
		keys := keysOf(cmd, args, c.up.keys[:0])
		out = s.upDo(c, cmd.name, args, keys, write, now, out)
		clear(keys) // the keys are borrowed from the batch's input
		if cap(keys) <= maxKeptKeys {
			c.up.keys = keys
		}
		return out
	}
}

// keysOf appends the keys of args, as the table's key positions find them, to dst.
func keysOf(cmd *command, args, dst [][]byte) [][]byte {
	if cmd.firstKey <= 0 {
		return dst
	}
	last := cmd.lastKey
	if last < 0 {
		last += len(args)
	}
	step := max(cmd.keyStep, 1)
	for i := cmd.firstKey; i <= last && i < len(args); i += step {
		dst = append(dst, args[i])
	}
	return dst
}

// upDo hands a command to c's upstream side and registers a deferral.
func (s *Server) upDo(c *Client, name string, args, keys [][]byte, write bool, now int64, out []byte) []byte {
	u := &c.up
	if u.conn == nil {
		u.deliver = c.deliverDeferred
		u.conn = s.up.Open(u.deliver)
	}
	out, deferred := u.conn.Do(c.DB, c.Proto, name, args, keys, write, now, out)
	if deferred {
		c.Deferred = true
		u.quiet = c.replyFlags&(replyOff|replySkip) != 0
		u.wait.Store(true)
		u.conn.Start()
	}
	return out
}

// deliverDeferred queues the reply of c's deferred command and wakes c's loop. Any
// goroutine, once per deferral.
func (c *Client) deliverDeferred(reply []byte) {
	if !c.up.quiet {
		c.Push(reply)
	}
	// The reply is queued before the wait ends: a loop that sees the wait over finds it.
	c.up.wait.Store(false)
	if f := c.up.resume; f != nil {
		f()
	}
}

// Waiting reports whether c waits for the reply of a deferred command: its loop must run
// nothing more for it until the reply is queued. Safe from any goroutine.
func (c *Client) Waiting() bool { return c.up.wait.Load() }

// SetResume installs f, which wakes c's loop after a deferred reply was queued (the network
// layer's); f must be safe from any goroutine. Call it before c runs commands.
func (c *Client) SetResume(f func()) { c.up.resume = f }

// upUnknown passes through a command the table does not know.
func (s *Server) upUnknown(c *Client, args [][]byte, now int64, out []byte) []byte {
	switch {
	case !c.authenticated && s.authRequired():
		out = appendErr(out, errNoAuth)
	case !c.user.Load().rules.Load().unrestricted:
		out = append(out, "-NOPERM User "...)
		start := len(out)
		out = append(out, c.userName()...)
		out = append(out, " has no permissions to run the '"...)
		out = append(out, cString(args[0], 128)...)
		out = append(out, "' command"...)
		sanitizeCRLF(out[start:])
		out = append(out, "\r\n"...)
	case c.sub.gate && c.Proto == protocol.RESP2 && c.IsPubSub():
		out = appendErrText(out, "ERR Can't execute '"+cstr(args[0])+"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context")
	case c.tx.on:
		c.lastCmd.Store(now)
		return s.queue(c, upUnknownCmd, args, out) // sent at EXEC: upstream_tx.go
	default:
		c.lastCmd.Store(now)
		return s.upDo(c, "", args, nil, true, now, out)
	}
	return out
}

const errUpstreamNoTx = "ERR transactions are not supported by this upstream"

// cmdSelectCluster is SELECT against a Redis Cluster, which has database 0 only.
func cmdSelectCluster(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if id, ok := parseInt(args[1]); ok && id != 0 {
		return appendErr(out, "ERR SELECT is not allowed in cluster mode")
	}
	return cmdSelect(s, c, args, now, out)
}

// TrackInvalidate tells the clients tracking key through this server that it changed
// (upstream mode: an upstream invalidation, or a write passed through). Any goroutine.
func (s *Server) TrackInvalidate(key []byte) {
	if t := s.tracker; t != nil && t.Active() {
		s.trackKeyChanged(key, 0)
		t.FlushBcast()
		s.FlushWakes()
	}
}

// TrackFlush tells every tracking client to drop everything (upstream mode: L1 flushed).
func (s *Server) TrackFlush() {
	if t := s.tracker; t != nil && t.Active() {
		t.Flush()
		s.FlushWakes()
	}
}

// Upstream returns what SetUpstream installed, nil outside upstream mode.
func (s *Server) Upstream() Upstream { return s.up }
