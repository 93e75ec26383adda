package loadgen

import (
	"os"

	"golang.org/x/sys/unix"
)

// fineTimer sleeps with nanosecond resolution: a timerfd(2) read through Go's netpoller, so
// the goroutine parks and frees its processor like on any socket. A Go timer on Linux may
// fire up to a millisecond late (its epoll wait has millisecond resolution); a timerfd is an
// hrtimer, late only by the kernel's timer slack (tens of µs) and the wake-up.
type fineTimer struct {
	fd  int
	f   *os.File // the same fd, registered with the netpoller
	buf [8]byte  // the expiry count a read returns
}

func newFineTimer() *fineTimer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil
	}
	return &fineTimer{fd: fd, f: os.NewFile(uintptr(fd), "timerfd")}
}

// sleep blocks for d > 0 ns; a nil timer (none could be made) sleeps on a Go timer.
func (t *fineTimer) sleep(d int64) {
	if t == nil {
		goSleep(d)
		return
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(d, 1))}
	if unix.TimerfdSettime(t.fd, 0, &spec, nil) != nil {
		goSleep(d)
		return
	}
	t.f.Read(t.buf[:])
}

func (t *fineTimer) close() {
	if t != nil {
		t.f.Close()
	}
}
