package command

import (
	"sync/atomic"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// Transactions: MULTI queues commands, EXEC runs them as one step that no other client's
// command interleaves with, DISCARD drops them. Redis 7's semantics (multi.c and
// processCommand, checked against redis-server 7.0.15):
//
//   - While queuing, a command refused before it would run (unknown command or subcommand,
//     wrong arity, NOAUTH, DEBUG disabled, OOM) answers its error and flags the transaction
//     (CLIENT_DIRTY_EXEC): EXEC then answers EXECABORT and discards it. Errors a command
//     meets while running (WRONGTYPE) are elements of EXEC's array.
//   - Over maxmemory, queuing any command is refused, not only denyoom ones (the queue
//     itself grows memory); EXEC is refused when its queue holds a denyoom command. A
//     refused EXEC (OOM, or EXEC with arguments) discards the transaction and answers
//     "EXECABORT Transaction discarded because of: <reason>".
//   - MULTI, EXEC, DISCARD, WATCH, QUIT and RESET (flagNoQueue) run at once inside MULTI;
//     every other command answers +QUEUED, except no-multi ones (flagNoMulti: SAVE,
//     SHUTDOWN...), refused with "Command not allowed inside a transaction" (checked when
//     queuing, after the OOM check where Redis checks before it). WATCH inside MULTI is an
//     error that does not flag the transaction.
//   - EXEC fails with a null array when a watched key changed (watch.go); EXECABORT wins when
//     both apply. EXEC and each queued command count in commandstats (each is a call()).
//
// Memory. Queued arguments are borrowed from the network layer's input buffer, valid for
// one batch (DESIGN invariant 2), so they are copied into the client's own buffer:
//
//	buf:   |set|k|v|incr|k|...           argument bytes, back to back
//	spans: (0,3) (3,1) (4,1) (5,4) (9,1)  offset and length of each argument in buf
//	cmds:  {set, spans[0:3]} {incr, spans[3:5]}
//
// Offsets, not slices: buf moves when it grows. What the queue and the watched keys hold is
// client memory (BufferMemory: maxmemory-clients, CLIENT LIST tot-mem and multi-mem), and
// their bytes count with the unprocessed input against client-query-buffer-limit
// (QueuedBytes): queued commands are input not processed yet, so a client over the limit is
// closed as Redis closes one whose query buffer is too long. Redis itself bounds the queue
// only through maxmemory-clients and maxmemory; this keeps every buffer bounded (invariant 6)
// when neither is set.
//
// Isolation. Commands run on N event loops at once. EXEC asks the Barrier the network layer
// installed (netpoll: every loop's batch lock) to stop all other command execution, checks
// the watched keys and runs the queue inside it. Without a Barrier (the command layer used
// in-process by one goroutine) EXEC runs unguarded.

// Barrier isolates transactions from the other event loops; the network layer implements
// it (Options.Barrier, SetBarrier).
type Barrier interface {
	// Isolate is called by EXEC on c's event loop, inside c's batch. When it returns no
	// command of any other client runs, on any loop, and no Quiesce job, until Release(c).
	Isolate(c *Client)
	// Release ends Isolate; c's batch goes on.
	Release(c *Client)
	// Quiesce runs fn, a background job that changes keys (active expiry, eviction), while
	// no EXEC runs. It must not be called from an event loop's batch.
	Quiesce(fn func())
}

// Reply texts of transactions.
const (
	errExecAbort      = "EXECABORT Transaction discarded because of previous errors."
	errExecAbortWhy   = "EXECABORT Transaction discarded because of: "
	errMultiNested    = "ERR MULTI calls can not be nested"
	errExecNoMulti    = "ERR EXEC without MULTI"
	errDiscardNoMulti = "ERR DISCARD without MULTI"
	errWatchInMulti   = "ERR WATCH inside MULTI is not allowed"
	errNoMulti        = "ERR Command not allowed inside a transaction"
)

// txKeepCap is the largest queue buffer kept for the next transaction; a bigger one goes
// back to the heap when the transaction ends.
const txKeepCap = 16 << 10

// argSpan is one queued argument: offset and length in txClient.buf.
type argSpan struct{ off, n int }

// queuedCmd is one queued command: its table entry and its arguments spans[first:first+n].
type queuedCmd struct {
	cmd      *command
	first, n int
}

// Sizes used for the queue's memory (bytes of each slice element).
const (
	argSpanSize   = 16
	queuedCmdSize = 24
	sliceSize     = 24
)

// txClient is a client's transaction state. Only c's event loop touches it, except the
// atomics (read by CLIENT LIST from any loop; dirty is set by any loop's writes).
type txClient struct {
	on        bool // between MULTI and EXEC or DISCARD (CLIENT_MULTI)
	dirtyExec bool // a command was refused while queuing (CLIENT_DIRTY_EXEC)
	denyOOM   bool // a queued command is denyoom: EXEC is refused over maxmemory

	buf   []byte
	spans []argSpan
	cmds  []queuedCmd
	argv  [][]byte // EXEC's arguments of the command it runs, into buf

	watched  []*watchEntry // see watch.go
	watchMem int           // bytes the watched keys hold
	// dirty is CLIENT_DIRTY_CAS: a watched key changed since WATCH.
	dirty atomic.Bool

	// pub is the number of queued commands + 1 while in MULTI, 0 otherwise (CLIENT LIST
	// multi=); mem is memory() as last published (multi-mem=).
	pub, mem atomic.Int64

	loop int // index of the client's event loop, for the Barrier (SetLoop)
}

// memory is what the queue and the watched keys hold, in bytes.
func (t *txClient) memory() int {
	return cap(t.buf) + cap(t.spans)*argSpanSize + cap(t.cmds)*queuedCmdSize + cap(t.argv)*sliceSize + t.watchMem
}

// publish refreshes the atomics CLIENT LIST reads. Outside MULTI and without watched keys
// multi-mem is 0, as in Redis, though buffers kept for the next transaction still count in
// BufferMemory.
func (t *txClient) publish() {
	if t.on {
		t.pub.Store(int64(len(t.cmds)) + 1)
	} else {
		t.pub.Store(0)
	}
	if t.on || t.watchMem > 0 {
		t.mem.Store(int64(t.memory()))
	} else {
		t.mem.Store(0)
	}
}

// releaseIdle drops the buffers kept for the next transaction of an idle client.
func (t *txClient) releaseIdle() {
	if !t.on {
		t.buf, t.spans, t.cmds, t.argv = nil, nil, nil, nil
	}
}

// refused flags the transaction being queued, if any, after a command was refused
// (Redis's flagTransaction).
func (t *txClient) refused() {
	if t.on {
		t.dirtyExec = true
	}
}

// oomApplies reports whether the maxmemory check applies to cmd, which is not denyoom,
// while c is in MULTI: every command but EXEC, DISCARD, QUIT and RESET is refused over
// maxmemory, and EXEC only when it would run a denyoom command.
func (t *txClient) oomApplies(cmd *command) bool {
	switch cmd.name {
	case "exec":
		return t.denyOOM
	case "discard", "quit", "reset":
		return false
	}
	return true
}

// SetLoop records the index of c's event loop, passed back to the Barrier through Loop.
// Called by the network layer before c runs a command.
func (c *Client) SetLoop(i int) { c.tx.loop = i }

// Loop returns the index SetLoop recorded.
func (c *Client) Loop() int { return c.tx.loop }

// QueuedBytes is what c's transaction holds that counts with its unprocessed input against
// client-query-buffer-limit: queued arguments and watched keys, in bytes. Only c's event
// loop may call it.
func (c *Client) QueuedBytes() int { return len(c.tx.buf) + c.tx.watchMem }

// txState is the Server's part of transactions.
type txState struct {
	barrier Barrier
	watch   watchTable
}

// SetBarrier installs the network layer's Barrier; call it before any command runs.
func (s *Server) SetBarrier(b Barrier) { s.barrier = b }

// Quiesce runs fn, a background job that changes keys, while no EXEC runs (Barrier.Quiesce);
// without a Barrier it just runs fn. Never call it from a command. The wake-ups of the
// invalidations fn produced are issued after it (wake.go).
func (s *Server) Quiesce(fn func()) {
	if b := s.barrier; b != nil {
		b.Quiesce(fn)
	} else {
		fn()
	}
	s.FlushWakes()
}

// queue appends a copy of the command to c's transaction and answers +QUEUED, or refuses
// a no-multi command.
func (s *Server) queue(c *Client, cmd *command, args [][]byte, out []byte) []byte {
	if cmd.flags&flagNoMulti != 0 {
		start := len(out)
		out = appendErr(out, errNoMulti)
		return s.refuse(c, cmd, out, start)
	}
	t := &c.tx
	first := len(t.spans)
	for _, a := range args {
		t.spans = append(t.spans, argSpan{len(t.buf), len(a)})
		t.buf = append(t.buf, a...)
	}
	t.cmds = append(t.cmds, queuedCmd{cmd: cmd, first: first, n: len(args)})
	if cmd.flags&flagDenyOOM != 0 {
		t.denyOOM = true
	}
	t.publish()
	return protocol.AppendSimple(out, "QUEUED")
}

// refuse ends a command refused before it ran, whose error reply is out[start:], as Redis's
// rejectCommand: a transaction being queued is flagged, and a refused EXEC discards its
// transaction and answers EXECABORT with the reason instead.
func (s *Server) refuse(c *Client, cmd *command, out []byte, start int) []byte {
	c.tx.refused()
	if cmd.name == "exec" {
		// "-ERR wrong number ...\r\n" becomes "-EXECABORT ... because of: wrong number ...":
		// Redis formats the reason without the leading "-" and, for its own ERR errors,
		// without "ERR ".
		buf := append(c.scratch[:0], out[start+1:len(out)-2]...)
		why := buf
		if len(why) >= 4 && string(why[:4]) == "ERR " {
			why = why[4:]
		}
		out = append(out[:start], '-')
		out = append(out, errExecAbortWhy...)
		out = append(out, why...)
		out = append(out, "\r\n"...)
		c.keepScratch(buf)
		s.resetMulti(c)
	}
	s.reject(c, cmd, out[start:])
	return out
}

// resetMulti ends c's transaction and unwatches every key: DISCARD, the end of EXEC, RESET
// and a closing connection.
func (s *Server) resetMulti(c *Client) {
	s.unwatchAll(c)
	s.upEndTx(c) // upstream_tx.go: the dedicated upstream connection, if any
	t := &c.tx
	t.on, t.dirtyExec, t.denyOOM = false, false, false
	clear(t.argv)
	if cap(t.buf) > txKeepCap {
		t.buf, t.spans, t.cmds, t.argv = nil, nil, nil, nil
	} else {
		t.buf, t.spans, t.cmds, t.argv = t.buf[:0], t.spans[:0], t.cmds[:0], t.argv[:0]
	}
	clear(t.cmds[:cap(t.cmds)]) // drop the command pointers of the last transaction
	t.publish()
}

func cmdMulti(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if c.tx.on {
		return appendErr(out, errMultiNested)
	}
	c.tx.on = true
	c.tx.publish()
	return protocol.AppendSimple(out, "OK")
}

func cmdDiscard(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if !c.tx.on {
		return appendErr(out, errDiscardNoMulti)
	}
	s.resetMulti(c)
	return protocol.AppendSimple(out, "OK")
}

func cmdExec(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	t := &c.tx
	if !t.on {
		return appendErr(out, errExecNoMulti)
	}
	if t.dirtyExec {
		s.resetMulti(c)
		return appendErr(out, errExecAbort)
	}
	if b := s.barrier; b != nil && len(t.cmds) > 0 {
		b.Isolate(c)
		defer b.Release(c)
	}
	if !s.watchHolds(c, now) {
		s.resetMulti(c)
		return protocol.AppendNullArray(out, c.Proto)
	}
	// The client stays in MULTI while the queue runs, as in Redis (CLIENT LIST shows x and
	// multi=N from inside EXEC); the queued commands are called directly, never queued again.
	out = protocol.AppendArrayLen(out, len(t.cmds))
	for i := range t.cmds {
		q := t.cmds[i]
		argv := t.argv[:0]
		for _, sp := range t.spans[q.first : q.first+q.n] {
			argv = append(argv, t.buf[sp.off:sp.off+sp.n:sp.off+sp.n])
		}
		t.argv = argv
		// The rules may have changed since the command was queued (ACL SETUSER from
		// another connection): Redis's execCommand checks again and answers NOPERM in the
		// command's place.
		if o, refused := s.aclExecRefuse(c, q.cmd, argv, out); refused {
			s.countError(c.stats, o[len(out):])
			out = o
			continue
		}
		out = s.call(c, q.cmd, argv, now, out)
	}
	s.resetMulti(c)
	return out
}

// call runs a queued command as Redis's call(): the command's statistics and the slow log,
// without the checks of exec, which ran when it was queued.
func (s *Server) call(c *Client, cmd *command, args [][]byte, now int64, out []byte) []byte {
	if !statsEnabled {
		out = s.run(c, cmd, args, now, out)
		s.afterRun(c, cmd, args) // MONITOR shows each queued command as EXEC runs it
		c.commands.Store(c.commands.Load() + 1)
		return out
	}
	start := len(out)
	var t0 time.Time
	w := s.timing(c, cmd, len(args))
	if w != 0 {
		t0 = time.Now()
	}
	out = s.run(c, cmd, args, now, out)
	s.afterRun(c, cmd, args) // MONITOR shows each queued command as EXEC runs it
	s.afterCall(c, cmd, args, out[start:], t0, w)
	c.commands.Store(c.commands.Load() + 1)
	return out
}
