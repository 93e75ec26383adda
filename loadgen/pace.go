package loadgen

import (
	"runtime"
	"time"
)

// pacer waits until given Now readings, as precisely as its spin allows. It is used by one
// goroutine.
//
// With spin >= 0 it waits in three steps, each finer and costlier than the one before: a Go
// timer while more than timerSlack is left (on Linux it wakes up late by up to about a
// millisecond: its epoll wait has millisecond resolution); then one fine sleep (fineTimer:
// late by tens of µs; an estimate of that lateness is learnt) until spin before the time; then
// polling the clock, yielding the processor between reads. With spin < 0 it only sleeps on the
// Go timer, and is as late as that timer.
type pacer struct {
	spin  int64 // ns; < 0: never poll
	timer *time.Timer
	fine  *fineTimer
	late  int64 // estimated lateness of the fine sleep, ns
}

// timerSlack is how early the Go timer of a pacer ends, to wake up before the fine sleep.
const timerSlack = int64(2 * time.Millisecond)

// Fine sleep lateness estimate: it starts at lateStart and moves up by lateStep when a wake-up
// was later than the estimate and down by lateStep/9 otherwise, so it settles at about the
// 90th percentile of the lateness (a stochastic quantile estimate: one outlier moves it one
// step only).
const (
	lateStart = int64(100 * time.Microsecond)
	lateStep  = int64(9 * time.Microsecond)
	lateMax   = int64(2 * time.Millisecond)
)

func newPacer(spin time.Duration) *pacer {
	p := &pacer{spin: int64(spin), timer: time.NewTimer(time.Hour), late: lateStart}
	p.timer.Stop()
	if spin >= 0 {
		p.fine = newFineTimer()
	}
	return p
}

// wait returns at t, or false as soon as stop is closed (nil: never). A close of stop during
// the fine sleep or the polling is seen within timerSlack.
func (p *pacer) wait(t int64, stop <-chan struct{}) bool {
	if p.spin < 0 {
		return p.sleep(t-Now(), stop)
	}
	if d := t - Now() - p.spin - p.late - timerSlack; d > 0 && !p.sleep(d, stop) {
		return false
	}
	if d := t - Now() - p.spin - p.late; d > 0 {
		asked := Now() + d
		p.fine.sleep(d)
		p.learn(Now() - asked)
	}
	for Now() < t {
		runtime.Gosched()
	}
	select {
	case <-stop:
		return false
	default:
		return true
	}
}

// sleep sleeps on the Go timer for d ns; false if stop was closed meanwhile.
func (p *pacer) sleep(d int64, stop <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	p.timer.Reset(time.Duration(d))
	select {
	case <-p.timer.C:
		return true
	case <-stop:
		p.timer.Stop()
		return false
	}
}

func (p *pacer) learn(over int64) {
	if over > p.late {
		p.late = min(p.late+lateStep, lateMax)
	} else {
		p.late = max(p.late-lateStep/9, 0)
	}
}

func (p *pacer) close() {
	if p != nil {
		p.timer.Stop()
		p.fine.close()
	}
}

// goSleep is the fallback of a fineTimer that could not be made.
func goSleep(d int64) { time.Sleep(time.Duration(d)) }
