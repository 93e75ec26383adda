//go:build !unix

package loadgen

// cpuTime is unknown without getrusage(2): reports show 0% client CPU.
func cpuTime() int64 { return 0 }
