package command

import (
	"sync"
	"sync/atomic"

	"github.com/sidecache/sidecache/protocol"
)

// maxClientAttrLen bounds a client name, lib-name or lib-ver (the copies a connection keeps).
const maxClientAttrLen = 4096

// Client is the per-connection state. It is owned by one event loop: only that loop touches
// it, except through methods documented as safe for other goroutines.
type Client struct {
	ID    int64
	DB    int              // selected database
	Proto protocol.Version // RESP2 until HELLO 3
	Addr  string           // peer address (host:port, or the socket path's "" peer for unix)
	LAddr string           // local address
	Unix  bool             // connected over the Unix socket
	// CloseAfterReply is set by Exec when the connection must close once the reply is
	// written (QUIT).
	CloseAfterReply bool
	// Deferred is set by Exec when the command's reply will come later, as a push, in
	// upstream mode (upstream.go): the command ran; the network layer must execute nothing
	// more for the client while Waiting() is true.
	Deferred bool
	// Postponed is set by Exec when a client pause held the command back (pause.go):
	// nothing was executed or appended, and the network layer must keep the command's
	// bytes, and all after them, and run them again once Paused() is false.
	Postponed bool

	// Created is when the connection was registered, ms since the epoch.
	Created int64

	authenticated bool
	// user is the ACL user the connection runs as (acl.go): the default user until AUTH.
	// Written by the client's loop, read by others (CLIENT LIST, ACL DELUSER).
	user atomic.Pointer[aclUser]

	// lastCmd is the time of the last command (ms since the epoch) and commands the number
	// executed; atomics because CLIENT LIST and INFO read them from other loops.
	lastCmd  atomic.Int64
	commands atomic.Int64
	lastName atomic.Pointer[command] // last command executed, for CLIENT LIST's cmd=

	// attrs are the name and library set by CLIENT SETNAME / SETINFO: owned copies, read by
	// other loops (CLIENT LIST), hence the lock.
	attrMu  sync.Mutex
	name    []byte
	libName []byte
	libVer  []byte

	// out is the reply buffer while an engine callback appends to it; bulkFn is the one
	// callback that does, bound once here so passing it to the engine allocates nothing.
	out    []byte
	bulkFn func(val []byte)
	// scratch is reusable memory for replies built before their header is known.
	scratch []byte

	// stats is the statistics shard this client counts into (its event loop's); tick
	// counts its commands for latency sampling. See stats.go.
	stats *LoopStats
	tick  uint32

	// closer closes the connection from any goroutine (CLIENT KILL); set by the network
	// layer after the client is registered (other loops may already see it), nil for a
	// client without a connection.
	closer atomic.Pointer[func()]
	// noEvict is CLIENT NO-EVICT: maxmemory-clients never picks this client.
	noEvict atomic.Bool
	// noTimeout exempts the client from the idle timeout while set (blocked or subscribed
	// clients, as in Redis).
	noTimeout atomic.Bool
	// Buffer sizes published by the network layer for CLIENT LIST and INFO (bytes):
	// unprocessed input, unsent replies, and everything the connection holds.
	qbuf, omem, totMem atomic.Int64

	// push queues messages other clients' commands produce for this one (push.go);
	// protoPub is Proto for other goroutines (ProtoAtomic), dbPub DB (CLIENT LIST):
	// both follow the fields at command boundaries (afterRun).
	push     pushQueue
	protoPub atomic.Uint32
	dbPub    atomic.Int32
	// sub is the client's pub/sub subscriptions and MONITOR mode (pubsub.go).
	sub subState
	// tx is the MULTI queue and the watched keys (multi.go, watch.go).
	tx txClient
	// track is the client's client-side caching state (tracking.go).
	track trackClient

	// postponed is true from a command a pause held back until the client's next command
	// that runs (pause.go); blocked is set with it and cleared with it or when the pause
	// ends, for other goroutines (CLIENT LIST 'b', INFO blocked_clients, the idle timeout).
	postponed bool
	blocked   atomic.Bool
	// replyFlags is the CLIENT REPLY mode (client_modes.go); noTouch is CLIENT NO-TOUCH.
	replyFlags uint8
	noTouch    atomic.Bool
	// up is the client's upstream side in upstream mode (upstream.go).
	up upClient
}

// SetCloser installs the function that closes c's connection; it must be safe to call from
// any goroutine, more than once, and after the connection has closed.
func (c *Client) SetCloser(f func()) { c.closer.Store(&f) }

// kill closes c's connection, if it has one. Safe from any goroutine.
func (c *Client) kill() {
	if f := c.closer.Load(); f != nil {
		(*f)()
	}
}

// NoEvict reports CLIENT NO-EVICT. Safe from any goroutine.
func (c *Client) NoEvict() bool { return c.noEvict.Load() }

// NoTimeout reports whether the idle timeout must skip c. Safe from any goroutine.
func (c *Client) NoTimeout() bool { return c.noTimeout.Load() || c.blocked.Load() }

// SetMemory publishes c's buffer sizes in bytes (see Client.qbuf). Called by c's event loop
// only when a value changed.
func (c *Client) SetMemory(qbuf, omem, total int64) {
	c.qbuf.Store(qbuf)
	c.omem.Store(omem)
	c.totMem.Store(total)
}

// ReleaseScratch drops c's scratch space (an idle client's memory goes back to the heap).
// Only c's event loop may call it.
func (c *Client) ReleaseScratch() {
	c.scratch = nil
	c.tx.releaseIdle()
}

// Memory returns the bytes c's connection holds, as last published (SetMemory). Safe from
// any goroutine.
func (c *Client) Memory() int64 { return c.totMem.Load() }

// BufferMemory is what the command layer holds for c beyond the network buffers (reply
// scratch space, queued pushes, subscriptions, the MULTI queue and watched keys), in bytes; c.out is not counted, it is the network layer's reply buffer
// lent for one call. Only c's event loop may call it.
func (c *Client) BufferMemory() int {
	return cap(c.scratch) + c.pushMemory() + c.tx.memory() + c.sub.memory()
}

// Name returns a copy of the client's name (CLIENT SETNAME). Safe from any goroutine.
func (c *Client) Name() string {
	c.attrMu.Lock()
	defer c.attrMu.Unlock()
	return string(c.name)
}

// setAttr replaces *dst with a copy of v under attrMu, reusing its memory.
func (c *Client) setAttr(dst *[]byte, v []byte) {
	c.attrMu.Lock()
	*dst = append((*dst)[:0], v...)
	c.attrMu.Unlock()
}

// NewClient registers a new connection.
func (s *Server) NewClient(addr, laddr string, unix bool) *Client {
	c := &Client{
		ID:    s.nextID.Add(1),
		Proto: protocol.RESP2,
		Addr:  addr,
		LAddr: laddr,
		Unix:  unix,
	}
	c.Created = s.nowMs()
	c.protoPub.Store(uint32(protocol.RESP2))
	c.push.wakes = &s.wakes
	c.lastCmd.Store(c.Created)
	c.authenticated = !s.authRequired()
	c.user.Store(s.defaultUser)
	c.bulkFn = func(val []byte) { c.out = protocol.AppendBulk(c.out, val) }
	c.stats = s.statsFor(c.ID)
	c.tick = uint32(c.ID) // spread the sampled commands of clients over time
	s.clientsMu.Lock()
	s.clients[c.ID] = c
	s.clientsMu.Unlock()
	s.connectionsReceived.Add(1)
	return c
}

// ReleaseClient unregisters a connection that closed.
func (s *Server) ReleaseClient(c *Client) {
	c.closePush()
	s.dropSubscriptions(c)
	s.resetMulti(c)
	s.trackRelease(c)
	s.clientsMu.Lock()
	if _, ok := s.clients[c.ID]; ok {
		delete(s.clients, c.ID)
		s.releasedCommands += c.commands.Load()
	}
	s.clientsMu.Unlock()
}

// Clients returns the number of connected clients.
func (s *Server) Clients() int {
	s.clientsMu.Lock()
	defer s.clientsMu.Unlock()
	return len(s.clients)
}

// validClientAttr reports whether v may be a client name or library attribute: printable
// ASCII without spaces ('!' to '~'), as Redis's validateClientName / validateClientAttr.
func validClientAttr(v []byte) bool {
	for _, ch := range v {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

// PasswordSet reports whether the default user needs a password (requirepass, or ACL
// SETUSER default), which turns protected mode off, as Redis's check of the default user's
// nopass flag. Safe from any goroutine.
func (s *Server) PasswordSet() bool { return !s.defaultNoPass() }
