package upstream

import (
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/sidecache/sidecache/protocol"
)

// Transactions. WATCH, MULTI and EXEC only mean something on one connection, so an app
// connection's transaction runs on an upstream connection dedicated to it (rueidis's
// Dedicate: taken out of the blocking pool, nobody else's commands go on it) from its first
// WATCH, or from EXEC when nothing was watched, until the transaction ends (EXEC, DISCARD,
// UNWATCH, RESET, the app connection closing). The command layer queues MULTI's commands
// itself (QUEUED, EXECABORT after a refused command, as without an upstream); EXEC sends
//
//	MULTI, cmd1 ... cmdN, EXEC           on the dedicated connection, back to back
//
// and relays EXEC's reply: a null when a watched key changed upstream (by anyone: the
// app's own writes go on the shared connections, which Redis counts as well), an error
// when the upstream refused a queued command (EXECABORT), else the array of replies, each
// re-encoded for the app's protocol with its command's shape. Commands the command layer
// runs itself (PING, ECHO ...) keep their local reply, spliced in at their place.
//
// L1: the keys of every queued command are dropped before the transaction leaves and again
// once EXEC answered, as for a single write (forward.go); a keyless write inside it
// (FLUSHDB, FLUSHALL, SWAPDB) flushes the L1 after. Reads inside a transaction never use
// the L1: they must see the upstream at EXEC's instant.
//
// The dedicated connection is used by one goroutine at a time (txConn.mu): a transaction's
// round trips, then the release (UNWATCH and back to the pool), which may be started by
// the loop while a WATCH is still in flight.

// TxCmd is one command of a transaction. Local is the reply of a command the command layer
// ran itself (IsLocal); the others go upstream. Args and Keys are borrowed for Exec.
type TxCmd struct {
	Name    string // the command table's name, "" when it does not know the command
	Args    [][]byte
	Keys    [][]byte
	Write   bool
	IsLocal bool
	Local   []byte
}

// txConn is the dedicated upstream connection of one app connection's transaction.
type txConn struct {
	db      int
	mu      sync.Mutex // held by the goroutine using dc
	dc      rueidis.DedicatedClient
	release func()
	slot    string // a key of the first command, for a cluster (the node the connection is to)
}

// acquire returns the dedicated client, taking one on first use. Under t.mu.
func (t *txConn) acquire(u *Upstream) (rueidis.DedicatedClient, error) {
	if t.dc != nil {
		return t.dc, nil
	}
	c, err := u.client(t.db)
	if err != nil {
		return nil, err
	}
	t.dc, t.release = c.Dedicate()
	return t.dc, nil
}

// close sends UNWATCH (a connection back in the pool must not carry a watch) and gives the
// connection back. Runs on its own goroutine.
func (t *txConn) close(u *Upstream) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dc == nil {
		return
	}
	cmd := t.dc.B().Unwatch().Build()
	if u.opt.Cluster && t.slot != "" {
		cmd = cmd.SetSlot(t.slot)
	}
	_ = t.dc.Do(u.ctx, cmd).Error()
	t.release()
	t.dc, t.release = nil, nil
}

// tx returns the connection's transaction state for database db, making it if need be.
// ok is false when a transaction on another database is open (WATCH, SELECT, EXEC).
func (c *Conn) tx(db int) (t *txConn, ok bool) {
	if c.txc == nil {
		c.txc = &txConn{db: db}
	}
	return c.txc, c.txc.db == db
}

// Watch prepares WATCH args (deferred: Start sends it). A WATCH on another database than
// the one watched already answers an error: one dedicated connection serves one database.
func (c *Conn) Watch(db int, proto protocol.Version, args [][]byte) {
	t, ok := c.tx(db)
	r := &request{c: c, db: db, proto: proto, o: opForward, name: "watch"}
	r.args, _ = copyArgs(args, nil)
	r.left.Store(2)
	if t.slot == "" && len(args) > 1 {
		t.slot = string(args[1])
	}
	r.run = func() {
		defer r.done()
		if !ok {
			r.reply = protocol.AppendError(nil, "ERR WATCH of keys in two databases is not supported in upstream mode")
			return
		}
		r.reply = c.u.txDo(t, r)
	}
	c.next = r
}

// Exec prepares the transaction cmds (deferred: Start sends it) and ends the connection's
// transaction state: the EXEC's goroutine releases the dedicated connection when done.
func (c *Conn) Exec(db int, proto protocol.Version, cmds []TxCmd) {
	t, ok := c.tx(db)
	c.txc = nil
	r := &request{c: c, db: db, proto: proto, o: opForward, name: "exec", write: true}
	r.left.Store(2)
	tc := make([]TxCmd, len(cmds))
	now := time.Now().UnixMilli()
	for i, x := range cmds {
		tc[i] = TxCmd{Name: x.Name, Write: x.Write, IsLocal: x.IsLocal}
		if x.IsLocal {
			tc[i].Local = append([]byte(nil), x.Local...)
			continue
		}
		keys := x.Keys
		if x.Name == "" {
			keys = x.Args[1:]
		}
		tc[i].Args, tc[i].Keys = copyArgs(x.Args, keys)
		for _, k := range tc[i].Keys {
			c.u.l1.invalidate(k, now)
			if t.slot == "" {
				t.slot = string(k)
			}
		}
	}
	r.run = func() {
		defer r.done()
		defer t.close(c.u)
		if !ok {
			// WATCH was on another database: its watch cannot be honoured here, and a
			// transaction refused as if a watched key changed is one the app retries.
			r.reply = protocol.AppendNullArray(nil, proto)
			return
		}
		r.reply = c.u.exec(t, r, tc)
	}
	c.next = r
}

// EndTx ends the connection's transaction state: the dedicated connection, if any, is
// unwatched and given back in the background.
func (c *Conn) EndTx() {
	t := c.txc
	c.txc = nil
	if t != nil {
		go t.close(c.u)
	}
}

// txDo sends r's command on t's dedicated connection and returns its encoded reply.
func (u *Upstream) txDo(t *txConn, r *request) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	u.stats.Forwarded.Add(1)
	dc, err := t.acquire(u)
	if err != nil {
		u.stats.Errors.Add(1)
		return protocol.AppendError(nil, errorText(err))
	}
	cmd := u.txCommand(dc, t, r.args)
	res := dc.Do(u.ctx, cmd)
	if err := res.NonRedisError(); err != nil {
		u.stats.Errors.Add(1)
		return protocol.AppendError(nil, errorText(err))
	}
	msg, _ := res.ToMessage()
	out, _ := appendMessage(nil, &msg, r.proto, shapePlain, nil)
	return out
}

func (u *Upstream) txCommand(dc rueidis.DedicatedClient, t *txConn, args [][]byte) rueidis.Completed {
	tokens := make([]string, len(args))
	for i, a := range args {
		tokens[i] = string(a)
	}
	cmd := dc.B().Arbitrary(tokens...).Build()
	if u.opt.Cluster && t.slot != "" {
		cmd = cmd.SetSlot(t.slot)
	}
	return cmd
}

// exec runs the transaction tc on t's dedicated connection and returns EXEC's reply for
// the app.
func (u *Upstream) exec(t *txConn, r *request, tc []TxCmd) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	u.stats.Forwarded.Add(1)
	defer u.afterTx(tc)
	dc, err := t.acquire(u)
	if err != nil {
		u.stats.Errors.Add(1)
		return protocol.AppendError(nil, errorText(err))
	}
	for i := range tc {
		if first := tc[i].Args; !tc[i].IsLocal && (len(first[0]) == 0 ||
			strings.HasSuffix(strings.ToLower(string(first[0])), "subscribe")) {
			// rueidis refuses both (it panics), as in roundTrip.
			return protocol.AppendError(nil, "EXECABORT Transaction discarded because of: '"+oneLine(string(first[0]))+"' cannot be passed to the upstream")
		}
	}
	cmds := make(rueidis.Commands, 0, len(tc)+2)
	cmds = append(cmds, u.txCommand(dc, t, [][]byte{[]byte("MULTI")}))
	for i := range tc {
		if !tc[i].IsLocal {
			cmds = append(cmds, u.txCommand(dc, t, tc[i].Args))
		}
	}
	cmds = append(cmds, u.txCommand(dc, t, [][]byte{[]byte("EXEC")}))
	resps := dc.DoMulti(u.ctx, cmds...)
	exec := resps[len(resps)-1]
	if err := exec.NonRedisError(); err != nil {
		u.stats.Errors.Add(1)
		return protocol.AppendError(nil, errorText(err))
	}
	msg, _ := exec.ToMessage()
	if msg.IsNil() {
		return protocol.AppendNullArray(nil, r.proto)
	}
	if msg.Error() != nil {
		return protocol.AppendError(nil, msgErrorText(&msg))
	}
	vals, err := msg.ToArray()
	if err != nil || len(vals) != len(cmds)-2 {
		return protocol.AppendError(nil, "ERR "+errMalformed.Error())
	}
	out := protocol.AppendArrayLen(nil, len(tc))
	var scratch []byte
	j := 0
	for i := range tc {
		if tc[i].IsLocal {
			out = append(out, tc[i].Local...)
			continue
		}
		out, scratch = appendMessage(out, &vals[j], r.proto, shapeOf(tc[i].Name, tc[i].Args), scratch)
		j++
	}
	return out
}

// afterTx drops the transaction's keys from L1 once EXEC answered (or failed: whether it
// ran is unknown), tells the app clients tracking its written keys, and flushes the L1
// after a keyless write (FLUSHDB, FLUSHALL, SWAPDB).
func (u *Upstream) afterTx(tc []TxCmd) {
	now := time.Now().UnixMilli()
	flush := false
	for i := range tc {
		x := &tc[i]
		if x.IsLocal {
			continue
		}
		for _, k := range x.Keys {
			u.l1.invalidate(k, now)
			if f := u.opt.OnInvalidate; x.Write && f != nil {
				f(k)
			}
		}
		if x.Write && x.Name != "" && len(x.Keys) == 0 {
			flush = true
		}
	}
	if flush {
		u.flush(FlushWrite)
	}
}
