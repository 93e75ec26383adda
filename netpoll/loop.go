package netpoll

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/sidecache/sidecache/command"
)

// Per-loop state: the command statistics shard the loop's clients count into (single
// writer, summed at scrape time) and a heartbeat proving the loop still runs.
//
// Liveness. gnet has no per-loop tick, so a goroutine asks every loop that has ever served a
// connection to run a tiny task (EventLoop.Execute) each heartbeatEvery; the task stamps the
// time (Options.Heartbeat). A loop whose request has been waiting longer than Stalled's maxAge is stuck (a
// command blocking it, a deadlock): /health reports 503. A loop that never had a connection
// has run no command and cannot be stuck in one; it joins the watch with its first client.

// heartbeatEvery is how often each loop is asked to prove it runs, by default.
const heartbeatEvery = time.Second

type loopState struct {
	el    gnet.EventLoop
	stats *command.LoopStats
	// num numbers the loop in the order first seen; lock is its batch lock (barrier.go).
	num  int
	lock *batchLock
	// asked is when the outstanding heartbeat was requested and beat when the loop last
	// ran one, ns on the server's monotonic clock; asked is 0 when none is outstanding.
	asked, beat atomic.Int64
	run         gnet.RunnableFunc

	// conns are the loop's connections and cursor where the next sweep starts; only the
	// loop touches them (OnOpen, OnClose and the sweep all run on it). See sweep.go.
	conns    []*conn
	cursor   int
	sweeping atomic.Bool // a sweep is queued and has not run yet
	sweepFn  gnet.RunnableFunc
	// clientMem is the memory of the loop's clients (limits.go); written only by the loop.
	clientMem atomic.Int64
	// push lists the loop's connections with pushes to write (push.go).
	push pushSched
}

// loopFor returns the state of el, creating it on first sight. Called under s.mu.
func (s *Server) loopFor(el gnet.EventLoop) *loopState {
	for _, l := range s.loops {
		if l.el == el {
			return l
		}
	}
	l := &loopState{el: el, stats: s.cmd.NewLoopStats(), num: len(s.loops)}
	l.lock = s.barrier.lockFor(l.num)
	l.beat.Store(s.mono())
	l.run = func(context.Context) error {
		l.beat.Store(s.mono())
		l.asked.Store(0)
		return nil
	}
	l.sweepFn = func(context.Context) error {
		s.sweep(l)
		return nil
	}
	l.initPush(s)
	s.loops = append(s.loops, l)
	list := append([]*loopState(nil), s.loops...)
	s.loopList.Store(&list)
	return l
}

// mono returns ns since the server was created, on the monotonic clock (never 0 after).
func (s *Server) mono() int64 { return int64(time.Since(s.epoch)) + 1 }

// heartbeat asks every known loop for a heartbeat each Options.Heartbeat until stop is closed.
func (s *Server) heartbeat(stop <-chan struct{}) {
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		loops := append([]*loopState(nil), s.loops...)
		s.mu.Unlock()
		for _, l := range loops {
			if l.asked.Load() != 0 {
				continue // the last request is still waiting
			}
			l.asked.Store(s.mono())
			if err := l.el.Execute(context.Background(), l.run); err != nil {
				l.asked.Store(0) // shutting down
			}
		}
	}
}

// LoopHealth reports the event loops watched and how many of them have not run a
// heartbeat requested more than maxAge ago. Safe from any goroutine.
func (s *Server) LoopHealth(maxAge time.Duration) (loops, stalled int) {
	now := s.mono()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.loops {
		if a := l.asked.Load(); a != 0 && time.Duration(now-a) > maxAge {
			stalled++
		}
	}
	return len(s.loops), stalled
}

// Command returns the command layer the server executes with (for /metrics and /health).
func (s *Server) Command() *command.Server { return s.cmd }
