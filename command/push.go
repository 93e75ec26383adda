package command

import (
	"sync"
	"sync/atomic"

	"github.com/sidecache/sidecache/protocol"
)

// Pushes are messages for a client that another client's command produced: pub/sub
// messages, client-side-caching invalidations, MONITOR lines. Any goroutine may push; only
// the client's own event loop writes to its socket. So:
//
//	producer (any loop)           c.push (mutex)                    c's event loop
//	Push(msg) ──copy──► buf: [msg1][msg2]...   ──wake (one at a time)──► DrainPush(out)
//	                    spare: last drained buffer, reused             appends buf to out
//
// Ordering: the loop drains at command boundaries only, before the first command of a batch
// and after each command (netpoll), so a message never lands inside a reply and replies are
// never reordered. A message pushed while its target executes a command (PUBLISH to oneself,
// an invalidation of one's own write) therefore follows that command's reply, as Redis 7.2
// does (server.pending_push_messages).
//
// A push made under an engine segment lock (client-side caching invalidations) must not
// make the syscall a wake may need: it queues, and the wake-up follows once the lock is
// released (queuePush, wake.go).
//
// Bounds: the bytes queued plus the replies the peer has not read yet (last published omem)
// may not reach the hard client-output-buffer-limit of the client's class; the push that
// would cross it closes the client, as Redis closes a client over its limit. What is queued
// counts as the client's memory (BufferMemory) for maxmemory-clients.

// pushKeepCap is the largest queue buffer kept after a drain; a burst's bigger buffer goes
// back to the heap.
const pushKeepCap = 64 << 10

// pushQueue is a client's queue of encoded messages; see the top of this file.
type pushQueue struct {
	mu     sync.Mutex
	buf    []byte // whole messages in arrival order; under mu
	spare  []byte // the buffer drained last, reused by the next swap; under mu
	closed bool   // the client closed or overflowed: pushes are refused; under mu

	queued atomic.Int64 // len(buf): the loop's lock-free "anything to drain?"
	mem    atomic.Int64 // cap(buf)+cap(spare), bytes, for BufferMemory
	armed  atomic.Bool  // a wake is outstanding: later pushes need none

	// hooks are set once by the network layer, under mu: the client is registered (other
	// loops may find it) before its connection installs them.
	hooks PushHooks

	// The deferred wake of a push made under an engine lock (wake.go).
	wakes       *wakeList              // the Server's; nil for a client NewClient did not make
	wakeNext    atomic.Pointer[Client] // next client on the wake list
	listed      atomic.Bool            // on the wake list, not yet woken
	overflowDue atomic.Bool            // the deferred push overflowed: close instead of waking
}

// PushHooks connect a client's push queue to its connection. Each func must be safe from
// any goroutine; nil ones are skipped (a client without a connection, in tests).
type PushHooks struct {
	// Wake asks the client's event loop to call DrainPush soon and write the result. It is
	// called once per drain at most, never while holding a lock of the command layer's or
	// the engine's (a push made under an engine lock is woken later: wake.go).
	Wake func()
	// HardLimit returns the hard output limit that applies to the client now, in bytes
	// (client-output-buffer-limit of its class); 0 means none.
	HardLimit func() int64
	// Overflow closes the client for crossing its output limit (counted and logged as such);
	// called at most once.
	Overflow func()
}

// SetPushHooks installs the network side of c's push queue. Call it before c runs commands.
func (c *Client) SetPushHooks(h PushHooks) {
	c.push.mu.Lock()
	c.push.hooks = h
	c.push.mu.Unlock()
}

// Push queues msg, a complete RESP message already encoded for c's protocol (a RESP3 push
// '>' or a RESP2 array; read ProtoAtomic to choose), and wakes c's event loop to write it.
// msg is copied before Push returns. Safe from any goroutine, including c's own loop while
// c executes a command (the message then follows that command's reply), but not under an
// engine segment lock: waking may make a syscall (queuePush is for that case).
//
// It returns false, and queues nothing, when c is closed or when the message would take c
// past its hard output limit; in the latter case c is closed as a client over its limit.
// A steady stream of pushes allocates nothing: the queue's two buffers are reused.
func (c *Client) Push(msg []byte) bool { return c.enqueue(msg, false) }

// queuePush is Push for a caller that holds an engine segment lock (an invalidation from
// the engine's change hook): it makes no syscall. The wake-up of c's loop, or c's closing
// when the message overflowed its limit, waits on the Server's wake list for the next
// FlushWakes (wake.go).
func (c *Client) queuePush(msg []byte) bool { return c.enqueue(msg, true) }

func (c *Client) enqueue(msg []byte, deferred bool) bool {
	q := &c.push
	deferred = deferred && q.wakes != nil
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	h := q.hooks
	if h.HardLimit != nil {
		if lim := h.HardLimit(); lim > 0 && int64(len(q.buf)+len(msg))+c.omem.Load() >= lim {
			q.closed = true
			q.buf, q.spare = nil, nil
			q.queued.Store(0)
			q.mem.Store(0)
			q.mu.Unlock()
			switch {
			case deferred:
				q.overflowDue.Store(true)
				q.wakes.add(c)
			case h.Overflow != nil:
				h.Overflow()
			}
			return false
		}
	}
	oldCap := cap(q.buf)
	q.buf = append(q.buf, msg...)
	q.queued.Store(int64(len(q.buf)))
	if cap(q.buf) != oldCap {
		q.mem.Store(int64(cap(q.buf) + cap(q.spare)))
	}
	q.mu.Unlock()
	if !q.armed.Load() && !q.armed.Swap(true) {
		switch {
		case deferred:
			q.wakes.add(c)
		case h.Wake != nil:
			h.Wake()
		}
	}
	return true
}

// PushPending reports whether messages wait in c's queue. Only c's event loop may call it
// (any goroutine may, but the answer is then only a hint).
func (c *Client) PushPending() bool { return c.push.queued.Load() != 0 }

// DrainPush appends every queued message to out and returns it. Only c's event loop may
// call it, and only at a command boundary (see the top of this file).
func (c *Client) DrainPush(out []byte) []byte {
	q := &c.push
	// Disarm before taking the buffer: a push after the swap wakes the loop again, a push
	// before it is taken now.
	q.armed.Store(false)
	q.mu.Lock()
	b := q.buf
	q.buf = q.spare[:0]
	q.spare = nil
	q.queued.Store(0)
	q.mu.Unlock()
	out = append(out, b...)
	q.mu.Lock()
	switch {
	case q.closed:
	case cap(b) <= pushKeepCap:
		q.spare = b[:0]
	}
	q.mem.Store(int64(cap(q.buf) + cap(q.spare)))
	q.mu.Unlock()
	return out
}

// closePush refuses further pushes and drops what is queued (c disconnected).
func (c *Client) closePush() {
	q := &c.push
	q.mu.Lock()
	q.closed = true
	q.buf, q.spare = nil, nil
	q.queued.Store(0)
	q.mem.Store(0)
	q.mu.Unlock()
}

// pushMemory is the memory of c's push queue, bytes. Safe from any goroutine.
func (c *Client) pushMemory() int { return int(c.push.mem.Load()) }

// ProtoAtomic returns c's RESP version for a goroutine other than c's loop (to encode a
// message for Push). It follows c.Proto at command boundaries: a push encoded while c
// switches protocol (HELLO) may use the old one, as the switch races with it anyway.
func (c *Client) ProtoAtomic() protocol.Version { return protocol.Version(c.protoPub.Load()) }

// afterRun is exec's epilogue for a command that ran: c.Proto is published for pushes
// (HELLO and RESET change it) and c.DB for CLIENT LIST (SELECT, RESET), and the command is
// shown to MONITOR clients. Three loads when nothing changed and nobody monitors.
func (s *Server) afterRun(c *Client, cmd *command, args [][]byte) {
	if uint32(c.Proto) != c.protoPub.Load() {
		c.protoPub.Store(uint32(c.Proto))
		c.refreshGate()
	}
	if int32(c.DB) != c.dbPub.Load() {
		c.dbPub.Store(int32(c.DB))
	}
	if s.nmon.Load() != 0 {
		s.feedMonitors(c, cmd, args)
	}
}
