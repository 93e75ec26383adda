package netpoll

import (
	"sync"

	"github.com/sidecache/sidecache/command"
)

// Transaction isolation: a big-reader lock made of one mutex per event loop and one exec
// mutex. It implements command.Barrier.
//
//	batch on loop i:    locks[i].Lock()   parse, execute every command   locks[i].Unlock()   write
//	EXEC on loop i:     locks[i].Unlock()  execMu.Lock()  locks[0..n-1].Lock()
//	                    ... watched keys checked, queued commands run ...
//	                    locks[j≠i].Unlock()  execMu.Unlock()            (the batch keeps locks[i])
//	background job:     execMu.Lock()  active expiry / eviction slice  execMu.Unlock()
//
// A loop's mutex is taken by its own loop only, once per batch: uncontended, on its own
// cache line, it costs two atomic operations a batch. While an EXEC holds every mutex, each
// other loop stops at the start of its next batch, so no command of another client runs
// inside a transaction; background jobs that change keys take execMu, so they do not run
// inside one either (and a transaction waits at most one of their time-budgeted slices).
//
// Deadlock freedom: the only thing waited for while a loop's mutex is held is a segment
// lock (a leaf). EXEC gives its own mutex up before it waits for execMu, and takes the
// loop mutexes in index order holding execMu, so two EXECs never hold each other's. A job
// holding execMu takes no loop mutex. Hence nothing that holds a loop mutex may call
// Quiesce, and nothing may block (write, sleep on I/O) while holding one: the write of a
// batch comes after its Unlock.
//
// Loops are numbered as netpoll first sees them (loopFor); the mutexes are allocated up
// front for Options.Loops, so a loop seen later is covered by an EXEC already holding them
// all. Should gnet run more loops than asked, loops share mutexes (index modulo the count):
// still correct, they only serialise their batches.

// batchLock is one loop's mutex, alone on its cache line (loops write their own only).
type batchLock struct {
	sync.Mutex
	_ [56]byte
}

type barrier struct {
	execMu sync.Mutex
	locks  []batchLock
}

func (b *barrier) init(loops int) { b.locks = make([]batchLock, max(loops, 1)) }

// lockFor returns the mutex of the loop numbered i.
func (b *barrier) lockFor(i int) *batchLock { return &b.locks[i%len(b.locks)] }

// Isolate implements command.Barrier: called inside c's batch, with c's loop mutex held.
func (s *Server) Isolate(c *command.Client) {
	b := &s.barrier
	b.lockFor(c.Loop()).Unlock()
	b.execMu.Lock()
	for i := range b.locks {
		b.locks[i].Lock()
	}
}

// Release implements command.Barrier: c's loop keeps its mutex for the rest of its batch.
func (s *Server) Release(c *command.Client) {
	b := &s.barrier
	own := b.lockFor(c.Loop())
	for i := range b.locks {
		if l := &b.locks[i]; l != own {
			l.Unlock()
		}
	}
	b.execMu.Unlock()
}

// Quiesce implements command.Barrier: fn runs while no EXEC does. Never call it from a
// batch (see the top of this file).
func (s *Server) Quiesce(fn func()) {
	s.barrier.execMu.Lock()
	defer s.barrier.execMu.Unlock()
	fn()
}
