package main

import (
	"runtime"

	"github.com/sidecache/sidecache/config"
)

// reserveRuntimeP gives the Go scheduler one P more than there are event loops (the loop
// count was read before, so the loops stay at the CPU count, GOMAXPROCS's default). A gnet
// loop waits for its sockets in epoll_wait, a blocking system call; with as many loops as
// Ps, every P of an idle or lightly loaded server sits in a loop's epoll_wait and none is
// idle, so:
//   - sysmon, finding no idle P, takes a P back from a loop blocked for more than 20 µs,
//     starts a spare thread for it over a futex, and polls again 20 µs later; the loop,
//     woken, finds its P gone and parks until it gets one. At redis-benchmark -c 50 -P 1
//     on 2 CPUs that was 0.15 sysmon sleeps, 0.07 futex calls and 0.6 context switches per
//     request; with the extra P 0.003, 0.017 and 0.3 (Redis: 0.16–0.22 switches), and
//     ops/s at that cell went from 0.75–0.92 of Redis's to 0.97–0.98 (results/redis-benchmark);
//   - in upstream mode, a reply from the upstream woke the rueidis goroutine reading it only
//     when sysmon polled the network or took a P back: about one miss in a thousand took
//     15-21 ms that way (results/upstream).
//
// The extra P is one the loops cannot hold: when idle it waits in the Go netpoller and runs
// timers, so the loops' Ps stay with them. Locking the loops to their threads (gnet's
// LockOSThread, which background-nice turns on for another reason, netpoll/threadnice.go)
// does not help here: a locked goroutine in a system call keeps its P all the same; one loop
// fewer would free a P as well, but on 2 CPUs one loop served a fifth fewer pipelined
// requests than two. The price is one thread more than CPUs. Setting GOMAXPROCS
// also ends the runtime's updates of it from the container's CPU limit, which the loop
// count, fixed at start, does not follow either.
func reserveRuntimeP() { runtime.GOMAXPROCS(runtime.GOMAXPROCS(0) + 1) }

// backgroundNice resolves background-nice (netpoll/threadnice.go). auto is 10, or 0 in
// upstream mode: there the upstream client's goroutines apply the invalidations that keep
// L1 coherent, and on niced threads they would wait for a CPU behind the loops that serve
// the very keys they are about to drop.
func backgroundNice(cfg *config.Config) int {
	n := int(cfg.Int("background-nice"))
	if n >= 0 {
		return n
	}
	if cfg.String("upstream") != "" {
		return 0
	}
	return 10
}
