package netpoll

import (
	"sort"
	"time"
)

// Client limits: the reply backlog of one client (client-output-buffer-limit normal), the
// memory of all clients together (maxmemory-clients) and the idle timeout. Each can be
// changed at run time; connections see a change at their next batch or sweep.
//
// Memory accounting. After each batch (and each sweep) the loop computes what a connection
// holds (conn.memory) and, only when it changed, publishes it to the client (CLIENT LIST,
// the evictor) and adds the difference to its loop's total. Each total has one writer, its
// loop, so no lock and no locked add sits on the request path; readers sum the loops.
//
// Eviction. A batch that grows its loop's total past maxmemory-clients wakes the evictor
// goroutine, which closes the clients holding the most memory (CLIENT NO-EVICT ones exempt)
// until the published total minus what is already being closed fits. Closing goes through
// gnet's Conn.Close, which is safe from any goroutine and queues the close on the loop.

// OutputLimit is client-output-buffer-limit for normal clients, with Redis's semantics: a
// client whose unsent replies reach Hard bytes is closed at once; one that stays at or over
// Soft bytes for longer than SoftFor is closed too. 0 disables a limit.
type OutputLimit struct {
	Hard, Soft int
	SoftFor    time.Duration
}

// SetOutputLimit changes the reply-backlog limit of every client.
func (s *Server) SetOutputLimit(l OutputLimit) { s.outLimit.Store(&l) }

// SetIdleTimeout changes the idle timeout (Redis's timeout); 0 means never.
func (s *Server) SetIdleTimeout(d time.Duration) { s.idleTimeout.Store(int64(d / time.Millisecond)) }

// SetMaxMemoryClients changes the limit on all client buffers together, in bytes; 0 means
// none. Lowering it evicts at once.
func (s *Server) SetMaxMemoryClients(n int64) {
	s.maxClientMem.Store(n)
	s.wakeEvictor()
}

// ClientMemory returns the bytes all client buffers hold, as last published by the loops.
// Safe from any goroutine.
func (s *Server) ClientMemory() int64 {
	var n int64
	if loops := s.loopList.Load(); loops != nil {
		for _, l := range *loops {
			n += l.clientMem.Load()
		}
	}
	return n
}

// overOutputLimit applies the output limit to c, whose unsent replies are outbound bytes,
// at now (ms since the epoch). Called on c's loop.
func (s *Server) overOutputLimit(c *conn, outbound int, now int64) bool {
	l := s.limitFor(c.client) // the normal class, or pubsub for a subscribed client (push.go)
	if l.Hard > 0 && outbound >= l.Hard {
		return true
	}
	if l.Soft > 0 && outbound >= l.Soft {
		if c.softSince == 0 {
			c.softSince = now
			return false
		}
		return now-c.softSince > l.SoftFor.Milliseconds()
	}
	c.softSince = 0
	return false
}

// closeOverOutputLimit logs and counts c's close for its reply backlog.
func (s *Server) closeOverOutputLimit(c *conn, outbound int) {
	c.closing = true
	if !c.limitClosed.CompareAndSwap(false, true) {
		return // a pusher closed it already (push.go)
	}
	s.stats.OutputLimitClosed.Add(1)
	if outbound >= releaseAfterClose {
		s.releaseWanted.Store(s.mono()) // see sweep.go
	}
	s.log.Warn("closing client over the output buffer limit", "id", c.client.ID, "addr", c.client.Addr, "omem", outbound)
}

// account publishes c's memory if it changed (see the top of this file). Called on c's loop.
func (s *Server) account(c *conn, outbound int) {
	total := c.memory(outbound)
	if total == c.pubTotal && outbound == c.pubOut && len(c.pending) == c.pubQbuf {
		return
	}
	delta := total - c.pubTotal
	c.pubQbuf, c.pubOut, c.pubTotal = len(c.pending), outbound, total
	// A MULTI queue or a pub/sub backlog is garbage once drained: its peak, not only the
	// network buffers', decides whether the close is worth returning memory for.
	c.peakBuf = max(c.peakBuf, total)
	c.client.SetMemory(int64(c.pubQbuf), int64(outbound), int64(total))
	// Single writer: the loop. A load and a store, not a locked add.
	c.loop.clientMem.Store(c.loop.clientMem.Load() + int64(delta))
	if delta > 0 {
		if lim := s.maxClientMem.Load(); lim > 0 && s.ClientMemory() > lim {
			s.wakeEvictor()
		}
	}
}

// unaccount removes a closing connection's memory from its loop's total. Called on c's loop.
func (s *Server) unaccount(c *conn) {
	c.loop.clientMem.Store(c.loop.clientMem.Load() - int64(c.pubTotal))
	// Many clients closing with a few MiB each leave as much garbage as one with a lot.
	if s.closedMem.Add(int64(max(c.pubTotal, c.peakBuf))) >= releaseAfterClose {
		s.releaseWanted.Store(s.mono()) // see sweep.go
	}
	c.pubTotal = 0
}

func (s *Server) wakeEvictor() {
	select {
	case s.evictWake <- struct{}{}:
	default:
	}
}

// evictor runs evictClients whenever woken, until stop is closed.
func (s *Server) evictor(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-s.evictWake:
		}
		s.evictClients()
	}
}

// evictClients closes the clients using the most memory until the rest fit
// maxmemory-clients. Clients picked earlier whose close has not run yet count as gone.
func (s *Server) evictClients() {
	limit := s.maxClientMem.Load()
	if limit <= 0 {
		return
	}
	total := s.ClientMemory()
	if total <= limit {
		return
	}
	type cand struct {
		c   *conn
		mem int64
	}
	var cands []cand
	s.mu.Lock()
	for c := range s.conns {
		m := c.client.Memory()
		switch {
		case c.evicting.Load():
			total -= m
		case m > 0 && !c.client.NoEvict():
			cands = append(cands, cand{c, m})
		}
	}
	s.mu.Unlock()
	sort.Slice(cands, func(i, j int) bool { return cands[i].mem > cands[j].mem })
	for _, k := range cands {
		if total <= limit {
			break
		}
		k.c.evicting.Store(true)
		total -= k.mem
		s.stats.EvictedClients.Add(1)
		s.log.Warn("evicting client over maxmemory-clients", "id", k.c.client.ID, "addr", k.c.client.Addr, "tot-mem", k.mem, "maxmemory-clients", limit)
		_ = k.c.gc.Close()
	}
}
