//go:build !linux

package loadgen

// fineTimer sleeps on a Go timer: no finer sleep is wired up here.
type fineTimer struct{}

func newFineTimer() *fineTimer { return nil }

func (t *fineTimer) sleep(d int64) { goSleep(d) }

func (t *fineTimer) close() {}
