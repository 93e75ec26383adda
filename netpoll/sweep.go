package netpoll

import (
	"context"
	"runtime"
	"runtime/debug"
	"time"
)

// The sweep is Redis's clientsCron for this server: each sweepEvery a goroutine asks every
// loop to run one bounded slice of its connections (EventLoop.Execute, so the work runs on
// the loop that owns them and reads their state without locks, but between batches rather
// than inside one). A slice is 1/sweepSlices of the loop's connections, at least
// sweepMinConns, so every connection is visited about once a second. For each it
//   - closes the client if idle longer than timeout (not blocked or subscribed ones),
//   - applies the output limit, so a client over the soft limit that has stopped sending is
//     still closed once the soft time has passed,
//   - releases the buffers of a client idle for idleShrinkAfter (Redis's clientsCron
//     resizes idle clients' buffers likewise), so idle connections hold next to nothing and
//     do not count against maxmemory-clients,
//   - refreshes its memory, which changes without a batch when the peer reads replies.
// Closes go through gnet's Conn.Close (queued on the loop).

const (
	sweepEvery      = 100 * time.Millisecond
	sweepSlices     = 10
	sweepMinConns   = 5
	idleShrinkAfter = 2000 // ms
)

// Returning memory. A client closed with a large backlog (a reader that stopped, an evicted
// client), or clients closed after large batches whose buffers add up to releaseAfterClose
// (a burst of pipelining clients), leave tens of MiB of freed buffers that an otherwise idle
// server would keep in its RSS until the next GC, up to two minutes later; the pod's memory
// limit sees RSS. So after such closes the sweeper runs two GCs (gnet's buffer pools are sync.Pools: a buffer put
// back survives one) and returns the free pages to the OS, at most once per releaseEvery.
// The keys are off-heap, so a GC here marks only connections and buffers.
const (
	releaseAfterClose = 4 << 20
	releaseEvery      = time.Second
)

// sweeper asks every loop for a sweep each sweepEvery until stop is closed.
func (s *Server) sweeper(stop <-chan struct{}) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	var released time.Time
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		// A request is served one tick later at the earliest: by then the loop has finished
		// the close and gnet has put the connection's buffers back.
		if at := s.releaseWanted.Load(); at != 0 && s.mono()-at >= int64(sweepEvery) && time.Since(released) >= releaseEvery {
			s.releaseWanted.CompareAndSwap(at, 0)
			s.closedMem.Store(0)
			runtime.GC()
			debug.FreeOSMemory()
			released = time.Now()
		}
		loops := s.loopList.Load()
		if loops == nil {
			continue
		}
		for _, l := range *loops {
			if l.sweeping.Load() {
				continue // the last one has not run yet
			}
			l.sweeping.Store(true)
			if err := l.el.Execute(context.Background(), l.sweepFn); err != nil {
				l.sweeping.Store(false) // shutting down
			}
		}
	}
}

// sweep runs one slice of l's connections. Called on l's loop.
func (s *Server) sweep(l *loopState) {
	defer l.sweeping.Store(false)
	n := len(l.conns)
	if n == 0 {
		return
	}
	batch := max(n/sweepSlices+1, sweepMinConns)
	batch = min(batch, n)
	now := time.Now().UnixMilli()
	timeout := s.idleTimeout.Load()
	for range batch {
		if l.cursor >= len(l.conns) {
			l.cursor = 0
		}
		c := l.conns[l.cursor]
		l.cursor++
		if c.closing {
			continue
		}
		out := c.gc.OutboundBuffered()
		if out < c.lastOut {
			c.lastIO = now // the peer read replies
		}
		c.lastOut = out
		switch {
		case s.overOutputLimit(c, out, now):
			s.closeOverOutputLimit(c, out)
			_ = c.gc.Close()
		case timeout > 0 && now-c.lastIO > timeout && !c.client.NoTimeout():
			c.closing = true
			s.log.Info("closing idle client", "id", c.client.ID, "addr", c.client.Addr, "idle_ms", now-c.lastIO)
			_ = c.gc.Close()
		default:
			if now-c.lastIO > idleShrinkAfter && len(c.pending) == 0 && len(c.out) == 0 {
				c.pending, c.out = nil, nil
				c.client.ReleaseScratch()
			}
			s.account(c, out)
		}
	}
}

// register adds c to its loop's connections. Called on c's loop.
func (l *loopState) register(c *conn) {
	c.loop = l
	c.idx = len(l.conns)
	l.conns = append(l.conns, c)
}

// unregister removes c from its loop's connections. Called on c's loop.
func (l *loopState) unregister(c *conn) {
	last := len(l.conns) - 1
	if c.idx > last || l.conns[c.idx] != c {
		return
	}
	moved := l.conns[last]
	l.conns[c.idx] = moved
	moved.idx = c.idx
	l.conns[last] = nil
	l.conns = l.conns[:last]
}
