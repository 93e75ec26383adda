//go:build unix

package loadgen

import "syscall"

// cpuTime is this process's user + system CPU time in ns, from getrusage(2).
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
