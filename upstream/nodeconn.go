package upstream

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
)

// Which node a lost connection vouched for. rueidis reports the end of any connection as
// onInvalidations(nil), with nothing saying which connection, and a null push (FLUSHALL or
// FLUSHDB on a node) the same way. In a cluster every connection is dialed through
// dialNode, which wraps it with the address it was dialed to, so its end is seen here
// first, with the node:
//
//	connection ends ──► nodeConn.end (first Read or Write error, or Close) ──► drop the slots the node owns in the watcher's map
//	                ──► rueidis: pipe._exit closes the conn ──► onInvalidations(nil), on the goroutine that closed it
//
// Order. Every way a tracking connection ends goes through its conn's Close before rueidis
// reports it (rueidis v1.0.80 pipe.go): _background runs _exit — which closes the conn —
// before it calls onInvalidations(nil), on the same goroutine, both after a failed read
// (_backgroundRead returns), a failed write (the writer's _exit closes the conn, the
// reader's Read then fails), a missed PING deadline on a half-open connection (the ping
// timer's _exit closes the conn, same) and a close (pipe.Close, same); a failed
// synchronous read or write (failSync) closes the conn and starts _background with
// skipReadWrite, whose _exit closes it again before the report. So the slots are dropped
// before the report, and the fetches in flight on that connection are refused.
//
// Telling a report from a null push. The report runs on the goroutine that just closed the
// conn (_exit), so Close records its goroutine; a nil that arrives on a goroutine with such
// a record is that connection's report, already handled. Any other nil is a null push,
// delivered on the reading goroutine of an open connection while it is between two Reads:
// the slots of every open connection not inside Read are dropped (the one that received it
// is among them; the others only cost misses). A FLUSHALL on a cluster node empties only
// that node, so its slots are all it takes. A record nothing consumes is left by a Close
// on a goroutine that does not report (a failed handshake, pipe.Close by a caller); such a
// goroutine may go on to dial another connection and read a null push during its
// handshake, taken then for a report: that connection tracks nothing yet. A connection to an address that never was a
// primary in the watcher's map (a seed named otherwise), or an end while no map is known
// although the client was handed out (its first map read at dial failed), cannot be
// attributed: the whole L1 is flushed. An end during the dial, before the client carried
// any read, drops nothing.
//
// Goroutine identity is read from runtime.Stack's first line, only on these rare paths
// (a Close, a nil report), never per Read.

// nodeConns are the open connections of a cluster client.
type nodeConns struct {
	mu       sync.Mutex
	open     map[*nodeConn]struct{}
	closedBy map[uint64]*nodeConn // goroutine → the conn it closed last
}

// maxClosedBy bounds closedBy: a Close on a goroutine that never reports (a failed
// synchronous read, pipe.Close from a caller) leaves a record nothing consumes.
const maxClosedBy = 1024

// nodeConn is a cluster connection with the address it was dialed to.
type nodeConn struct {
	net.Conn
	u       *Upstream
	addr    string
	reading atomic.Bool // inside Read
	ended   atomic.Bool
	// dropped says the end dropped the node's slots (not with upstream-serve-stale on, whose
	// hold covers the whole L1 at the report).
	dropped atomic.Bool
}

// dialNode is rueidis's DialCtxFn in a cluster: its default dial, wrapped.
func (u *Upstream) dialNode(ctx context.Context, dst string, d *net.Dialer, cfg *tls.Config) (net.Conn, error) {
	var c net.Conn
	var err error
	if cfg != nil {
		c, err = (&tls.Dialer{NetDialer: d, Config: cfg}).DialContext(ctx, "tcp", dst)
	} else {
		c, err = d.DialContext(ctx, "tcp", dst)
	}
	if err != nil {
		return nil, err
	}
	nc := &nodeConn{Conn: c, u: u, addr: dst}
	r := &u.conns
	r.mu.Lock()
	if r.open == nil {
		r.open = make(map[*nodeConn]struct{})
	}
	r.open[nc] = struct{}{}
	r.mu.Unlock()
	return nc, nil
}

func (c *nodeConn) Read(b []byte) (int, error) {
	c.reading.Store(true)
	n, err := c.Conn.Read(b)
	c.reading.Store(false)
	if err != nil {
		c.end()
	}
	return n, err
}

func (c *nodeConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err != nil {
		c.end()
	}
	return n, err
}

func (c *nodeConn) Close() error {
	c.end()
	r := &c.u.conns
	g := goid()
	r.mu.Lock()
	if r.closedBy == nil || len(r.closedBy) >= maxClosedBy {
		r.closedBy = make(map[uint64]*nodeConn)
	}
	r.closedBy[g] = c
	r.mu.Unlock()
	return c.Conn.Close()
}

// end drops the node's slots, once: what the connection vouched for may not be invalidated
// any more. rueidis gives up a connection after any error on it.
func (c *nodeConn) end() {
	if !c.ended.CompareAndSwap(false, true) {
		return
	}
	u := c.u
	u.conns.mu.Lock()
	delete(u.conns.open, c)
	u.conns.mu.Unlock()
	if u.stale.window.Load() > 0 || u.ctx.Err() != nil {
		return // the report puts L1 on hold (stale.go), or Close is closing everything
	}
	c.dropped.Store(true)
	u.dropNodes([]string{c.addr}, DropConnection)
}

// clusterNil handles onInvalidations(nil) in a cluster with upstream-serve-stale off: a
// connection's end report, or a null push.
func (u *Upstream) clusterNil() {
	r := &u.conns
	g := goid()
	r.mu.Lock()
	c := r.closedBy[g]
	delete(r.closedBy, g)
	var idle []string
	if c == nil {
		for oc := range r.open {
			if !oc.reading.Load() {
				idle = append(idle, oc.addr)
			}
		}
	}
	r.mu.Unlock()
	switch {
	case c != nil && c.dropped.Load():
		// Its end dropped its slots before this report.
	case c != nil || len(idle) == 0:
		u.log.Warn("upstream cluster connection lost or null push, not attributable to a node: L1 flushed",
			"closed_here", c != nil)
		u.flush(FlushUpstream)
	default:
		u.dropNodes(idle, DropConnection)
	}
}

// dropNodes drops the slots the primaries at addrs own in the watcher's map; when one of
// them cannot be placed in the map, the whole L1.
func (u *Upstream) dropNodes(addrs []string, cause DropCause) {
	var set slotSet
	if u.nodes.route.Load() == nil && !u.dialed() {
		return // the dial reads the map before the client is used: nothing was read yet
	}
	if !u.slotsOf(addrs, &set) {
		u.log.Warn("upstream cluster connection lost, its node not in the slot map: L1 flushed", "nodes", addrs)
		u.flush(FlushUpstream)
		return
	}
	if n := u.dropSlots(&set, cause); n > 0 {
		u.log.Info("upstream cluster connection lost: its node's slots dropped from L1", "nodes", addrs, "slots", n)
	}
}

// dialed reports whether a client was published: reads may have used it.
func (u *Upstream) dialed() bool {
	for i := range u.clients {
		if u.clients[i].c.Load() != nil {
			return true
		}
	}
	return false
}

// slotsOf adds to set the slots the primaries at addrs own in the current map; false when
// there is no map yet or an address never was a primary in one. An address that was a
// primary but owns nothing now adds nothing: the slots it held moved in a map change,
// which dropped them (cluster.go says why a change the watcher has not seen yet is covered).
func (u *Upstream) slotsOf(addrs []string, set *slotSet) bool {
	rt := u.nodes.route.Load()
	if rt == nil {
		return false
	}
	n := &u.nodes
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range addrs {
		if _, seen := n.byAddr[a]; !seen {
			return false
		}
		for _, sr := range rt.ranges {
			if sr.addr == a {
				set.addRange(sr.start, sr.end)
			}
		}
	}
	return true
}

// dropSlots drops the slots of set from the L1 (slots.go) and tells the app clients
// tracking through the sidecar to flush: which of their keys are in those slots is not
// known here (their reads may have passed through). It returns the number of slots.
func (u *Upstream) dropSlots(set *slotSet, cause DropCause) int {
	n := u.l1.dropSlots(set)
	if n == 0 {
		return 0
	}
	u.stats.SlotDrops[cause].Add(1)
	u.stats.SlotsDropped[cause].Add(int64(n))
	if f := u.opt.OnFlush; f != nil {
		f()
	}
	return n
}

// goid is the running goroutine's id, from runtime.Stack's "goroutine N [". Rare paths only.
func goid() uint64 {
	var b [32]byte
	s := b[:runtime.Stack(b[:], false)]
	const p = "goroutine "
	if len(s) < len(p) {
		return 0
	}
	var id uint64
	for _, ch := range s[len(p):] {
		if ch < '0' || ch > '9' {
			break
		}
		id = id*10 + uint64(ch-'0')
	}
	return id
}
