package netpoll

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/sidecache/sidecache/command"
)

// The push path: messages one client's command produces for another (pub/sub, MONITOR,
// invalidations; command/push.go queues them per client) reach the target's socket through
// the target's own event loop, the only goroutine that writes to it.
//
//	pusher (any loop)                     target's loop
//	Client.Push ─► Wake hook ─► schedulePush: conns += c ─► el.Execute(flushPushes), once
//	                                       per turn of the loop, however many conns/pushes
//	                                       flushPushes: for each c, DrainPush + one write
//
// A connection that runs a batch meanwhile drains its queue itself at command boundaries
// (OnTraffic), so pushes never split or reorder replies; flushPushes then finds it empty.
// Only the first push after a drain wakes (Client.Push), and only the first wake of a loop
// turn calls Execute, whose task gnet allocates: a flood of messages costs one task per
// loop turn, not one per message.

// pushState is the Server's part of the push path.
type pushState struct {
	// pubLimit is client-output-buffer-limit pubsub: it applies instead of the normal
	// class's to subscribed clients.
	pubLimit atomic.Pointer[OutputLimit]
}

// pushSched is a loop's list of connections with queued pushes; see the top of this file.
type pushSched struct {
	mu        sync.Mutex
	conns     []*conn // under mu
	spare     []*conn // the list flushed last, reused; under mu
	scheduled bool    // a flushPushes task is queued and has not started; under mu
	fn        gnet.RunnableFunc
}

// pushKeepConns bounds the connection list kept between flushes.
const pushKeepConns = 1024

// SetPubSubOutputLimit changes client-output-buffer-limit for the pubsub class.
func (s *Server) SetPubSubOutputLimit(l OutputLimit) { s.pubLimit.Store(&l) }

// limitFor returns the output limit of cl's class (Redis's getClientType: a client holding
// a subscription is pubsub, any other normal). Safe from any goroutine.
func (s *Server) limitFor(cl *command.Client) *OutputLimit {
	if cl.IsPubSub() {
		if l := s.pubLimit.Load(); l != nil {
			return l
		}
	}
	return s.outLimit.Load()
}

// initPush prepares l's push task. Called once, when l is created.
func (l *loopState) initPush(s *Server) {
	l.push.fn = func(context.Context) error {
		s.flushPushes(l)
		return nil
	}
}

// hookPush connects c's client push queue to c. Called in OnOpen, before c runs anything.
func (s *Server) hookPush(c *conn) {
	l := c.loop
	c.client.SetPushHooks(command.PushHooks{
		Wake:      func() { l.schedulePush(c) },
		HardLimit: func() int64 { return int64(s.limitFor(c.client).Hard) },
		Overflow:  func() { s.pushOverflow(c) },
	})
}

// schedulePush has l flush c's pushes at its next turn. Safe from any goroutine.
func (l *loopState) schedulePush(c *conn) {
	p := &l.push
	p.mu.Lock()
	p.conns = append(p.conns, c)
	first := !p.scheduled
	p.scheduled = true
	p.mu.Unlock()
	if first {
		if err := l.el.Execute(context.Background(), p.fn); err != nil {
			// Shutting down: nobody will write these pushes.
			p.mu.Lock()
			clear(p.conns)
			p.conns, p.scheduled = p.conns[:0], false
			p.mu.Unlock()
		}
	}
}

// flushPushes writes the queued pushes of every connection scheduled on l. Runs on l.
func (s *Server) flushPushes(l *loopState) {
	p := &l.push
	p.mu.Lock()
	list := p.conns
	p.conns, p.spare = p.spare[:0], nil
	p.scheduled = false
	p.mu.Unlock()
	var now int64
	for _, c := range list {
		if !c.closing {
			s.flushPush(c, &now)
		}
	}
	clear(list)
	p.mu.Lock()
	if cap(list) <= pushKeepConns {
		p.spare = list[:0]
	}
	p.mu.Unlock()
}

// flushPush writes c's queued pushes between two of its batches and applies the limits as
// a batch does; *now is read from the clock once per flush of the loop. Runs on c's loop.
//
// It drains even when nothing seems queued: the wake that scheduled it re-armed the queue
// (Client.Push), and only a drain disarms it; skipping would leave later pushes waiting
// for a wake that never comes. A closed connection's queue is closed and empty
// (ReleaseClient, in OnClose), so nothing is written to it.
func (s *Server) flushPush(c *conn, now *int64) {
	c.out = c.client.DrainPush(c.out[:0])
	if len(c.out) == 0 {
		return
	}
	if *now == 0 {
		*now = time.Now().UnixMilli()
	}
	c.bytesOut.Add(int64(len(c.out)))
	_, err := c.write()
	c.out = trim(c.out)
	c.lastIO = *now // Redis counts a write to the client as an interaction
	if err != nil {
		c.closing = true
		_ = c.gc.Close()
		return
	}
	pendingOut := c.gc.OutboundBuffered()
	if s.overOutputLimit(c, pendingOut, *now) {
		s.closeOverOutputLimit(c, pendingOut)
		_ = c.gc.Close()
		return
	}
	s.account(c, pendingOut)
	if (pendingOut > 0) != c.outPending.Load() {
		c.outPending.Store(pendingOut > 0)
	}
}

// pushOverflow closes c, whose queued pushes and unsent replies reached its hard output
// limit (Client.Push). Called by the pusher, any goroutine.
func (s *Server) pushOverflow(c *conn) {
	if c.limitClosed.CompareAndSwap(false, true) {
		s.stats.OutputLimitClosed.Add(1)
		s.releaseWanted.Store(s.mono()) // see sweep.go
		s.log.Warn("closing client over the output buffer limit", "id", c.client.ID, "addr", c.client.Addr, "omem", c.client.Memory())
	}
	_ = c.gc.Close()
}
