package netpoll

import (
	"encoding/binary"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// threadNicer keeps every thread of the process other than gnet's event loops at a higher
// nice value than the loops (Options.BackgroundNice), so that the garbage collector's
// workers, timers, the admin HTTP server and the upstream client yield the CPU to the loops
// instead of taking turns with them.
//
// Why: on a machine with few CPUs a collection's mark workers run for milliseconds at a
// stretch; at equal priority the kernel lets them finish their slice while a loop thread,
// or the client, woken by a request, waits runnable behind them (perf sched on 2 CPUs:
// waits of 4–7 ms, with the other CPU idle). At a higher nice the woken thread preempts them.
// Within a container the nice values only order the container's own threads (the CPU
// controller shares time between cgroups by their weights), so the application beside the
// sidecar is not affected either way.
//
// The loops are locked to their threads (gnet's LockOSThread) so that a thread's nice value
// follows a loop; each loop reports its thread id from that thread (LockedThreadHook)
// before any thread is reniced. Raising a nice value needs no privilege, lowering it does:
// so no loop thread may ever be reniced, and sweeping starts only once all loops have
// reported. Go starts threads at any time, from any thread, and a new thread inherits its
// creator's nice value: one started from a loop thread runs at the loops' value until the
// next sweep (reniceEvery) raises it.
type threadNicer struct {
	add    int // nice above the loops' own
	expect int // loop threads to wait for before sweeping
	log    *slog.Logger
	stop   <-chan struct{}

	mu    sync.Mutex
	loops []int // kernel thread ids of the loops, all reported before sweeping starts
}

// reniceEvery bounds how long a thread Go starts from a loop thread keeps the loops' priority.
const reniceEvery = time.Second

// loopLocked runs on each loop's thread right after the loop locked it.
func (t *threadNicer) loopLocked() {
	tid := unix.Gettid()
	t.mu.Lock()
	t.loops = append(t.loops, tid)
	all := len(t.loops) == t.expect
	t.mu.Unlock()
	if all {
		go t.run()
	}
}

func (t *threadNicer) run() {
	// The loops' value is the process's as started (a container or `nice` may have set one).
	base, err := niceOf(t.loops[0])
	if err != nil {
		t.log.Warn("background-nice: cannot read the event loops' nice value; threads keep theirs", "err", err)
		return
	}
	target := min(base+t.add, 19)
	dir, err := unix.Open("/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.log.Warn("background-nice: cannot list the process's threads; threads keep their nice value", "err", err)
		return
	}
	defer unix.Close(dir)
	buf := make([]byte, 8192)
	tick := time.NewTicker(reniceEvery)
	defer tick.Stop()
	logged := false
	for {
		n, err := t.sweep(dir, buf, target)
		if err != nil {
			t.log.Warn("background-nice: cannot renice threads; they keep their nice value", "err", err)
			return
		}
		if !logged {
			logged = true
			t.log.Info("background threads reniced below the event loops", "loops_nice", base,
				"background_nice", target, "loop_threads", len(t.loops), "reniced", n)
		}
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
	}
}

// sweep raises every non-loop thread below target to target and returns how many it
// raised. A thread already above target (reniced by someone else) is left as it is.
func (t *threadNicer) sweep(dir int, buf []byte, target int) (int, error) {
	if _, err := unix.Seek(dir, 0, 0); err != nil {
		return 0, err
	}
	raised := 0
	for {
		n, err := unix.Getdents(dir, buf)
		if err != nil {
			return raised, err
		}
		if n <= 0 {
			return raised, nil
		}
		for off := 0; off+19 <= n; {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name NUL-terminated.
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen == 0 || off+reclen > n {
				break
			}
			tid, ok := atoiNul(buf[off+19 : off+reclen])
			off += reclen
			if !ok || slices.Contains(t.loops, tid) {
				continue
			}
			cur, err := niceOf(tid)
			if err != nil || cur >= target {
				continue // ended since the listing, or already lower in priority
			}
			if err := unix.Setpriority(unix.PRIO_PROCESS, tid, target); err != nil {
				if err == unix.ESRCH {
					continue
				}
				return raised, err
			}
			raised++
		}
	}
}

// niceOf reads a thread's nice value: the system call returns 20 - nice (1..40), so that a
// valid result is never negative.
func niceOf(tid int) (int, error) {
	p, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return 0, err
	}
	return 20 - p, nil
}

// atoiNul parses a decimal directory entry name up to its NUL; "." and ".." are not numbers.
func atoiNul(b []byte) (int, bool) {
	v, digits := 0, 0
	for _, c := range b {
		if c == 0 {
			break
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
		digits++
	}
	return v, digits > 0
}
