package command

import "github.com/sidecache/sidecache/protocol"

// Transactions in upstream mode (the upstream side: upstream/tx.go). MULTI and DISCARD
// stay this server's: MULTI queues as it does without an upstream (QUEUED, EXECABORT after
// a refused command, no-multi commands refused), commands the table does not know
// included. WATCH goes at once to an upstream connection dedicated to this client; EXEC
// hands the whole queue to that connection (MULTI ... EXEC upstream) and relays EXEC's
// reply, deferred like any upstream reply. Queued commands that are not the keyspace's
// (PING, ECHO, CLIENT ...) run here when EXEC runs, and their replies take their place in
// EXEC's array. The dedicated connection is given back at the end of EXEC, at DISCARD,
// UNWATCH, RESET and when the client closes (resetMulti).
//
// Not as in Redis: SELECT inside MULTI answers EXECABORT at EXEC (the dedicated connection
// serves one database); a read inside MULTI does not register its keys for a tracking
// client; queued upstream commands are not counted in commandstats.

// UpstreamTx is implemented by an UpstreamConn that runs transactions; without it, MULTI's
// upstream commands, EXEC, WATCH and UNWATCH answer errUpstreamNoTx.
type UpstreamTx interface {
	// Watch prepares WATCH args on the dedicated connection; Start sends it.
	Watch(db int, proto protocol.Version, args [][]byte)
	// Exec prepares the transaction cmds; Start sends it. It ends the transaction's use of
	// the dedicated connection.
	Exec(db int, proto protocol.Version, cmds []UpstreamTxCmd)
	// EndTx gives the dedicated connection back, if any (in the background).
	EndTx()
}

// UpstreamTxCmd is one queued command of a transaction: upstream (Name "" when the table
// does not know it; Keys as the table finds them) or run here (IsLocal, Local its reply).
// Args, Keys and Local are borrowed for Exec.
type UpstreamTxCmd struct {
	Name    string
	Args    [][]byte
	Keys    [][]byte
	Write   bool
	IsLocal bool
	Local   []byte
}

// upUnknownCmd stands in the MULTI queue for a command the table does not know, passed
// through at EXEC.
var upUnknownCmd = &command{name: ""}

const errUpstreamSelectInMulti = "EXECABORT Transaction discarded because of: SELECT inside MULTI is not supported in upstream mode"

// upTx returns c's upstream connection's transaction side, opening the connection.
func (s *Server) upTx(c *Client) UpstreamTx {
	u := &c.up
	if u.conn == nil {
		u.deliver = c.deliverDeferred
		u.conn = s.up.Open(u.deliver)
	}
	tx, _ := u.conn.(UpstreamTx)
	return tx
}

// upDefer registers the deferral of c's prepared upstream command and starts it.
func (s *Server) upDefer(c *Client) {
	u := &c.up
	c.Deferred = true
	u.quiet = c.replyFlags&(replyOff|replySkip) != 0
	u.wait.Store(true)
	u.conn.Start()
}

// upEndTx ends c's use of a dedicated upstream connection (resetMulti).
func (s *Server) upEndTx(c *Client) {
	c.up.watching = false
	if c.up.conn == nil {
		return
	}
	if tx, ok := c.up.conn.(UpstreamTx); ok {
		tx.EndTx()
	}
}

func cmdUpstreamWatch(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if c.tx.on {
		return appendErr(out, errWatchInMulti)
	}
	tx := s.upTx(c)
	if tx == nil {
		return appendErr(out, errUpstreamNoTx)
	}
	tx.Watch(c.DB, c.Proto, args)
	c.up.watching = true
	s.upDefer(c)
	return out
}

func cmdUpstreamUnwatch(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	s.upEndTx(c)
	return protocol.AppendSimple(out, "OK")
}

// upstreamQueued reports whether a queued command goes upstream at EXEC.
func upstreamQueued(cmd *command) bool {
	return cmd == upUnknownCmd || cmd.name == "unwatch" || isKeyspaceCommand(cmd)
}

func cmdUpstreamExec(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	t := &c.tx
	if !t.on {
		return appendErr(out, errExecNoMulti)
	}
	if t.dirtyExec {
		s.resetMulti(c)
		return appendErr(out, errExecAbort)
	}
	upstream := c.up.watching
	for _, q := range t.cmds {
		switch {
		case q.cmd.name == "select":
			s.resetMulti(c)
			return appendErrText(out, errUpstreamSelectInMulti)
		case upstreamQueued(q.cmd) || s.relayedQueued(q.cmd):
			upstream = true
		}
	}
	if !upstream {
		return cmdExec(s, c, args, now, out) // nothing for the upstream to do
	}
	tx := s.upTx(c)
	if tx == nil {
		s.resetMulti(c)
		return appendErr(out, errUpstreamNoTx)
	}
	cmds := make([]UpstreamTxCmd, len(t.cmds))
	for i, q := range t.cmds {
		argv := make([][]byte, 0, q.n)
		for _, sp := range t.spans[q.first : q.first+q.n] {
			argv = append(argv, t.buf[sp.off:sp.off+sp.n:sp.off+sp.n])
		}
		x := &cmds[i]
		if !upstreamQueued(q.cmd) && !s.relayedQueued(q.cmd) {
			x.IsLocal = true
			x.Local = s.call(c, q.cmd, argv, now, nil)
			continue
		}
		x.Args = argv
		x.Write = q.cmd == upUnknownCmd || q.cmd.flags&flagWrite != 0
		if q.cmd != upUnknownCmd {
			x.Name = q.cmd.name
			x.Keys = keysOf(q.cmd, argv, nil)
		}
	}
	tx.Exec(c.DB, c.Proto, cmds) // copies what it keeps
	s.upDefer(c)
	s.resetMulti(c)
	return out
}
