package loadgen

import "time"

// epoch is the origin of Now. Its monotonic reading makes Now immune to wall-clock steps.
var epoch = time.Now()

// Now is the load generator's clock: nanoseconds since the process started, monotonic. Every
// latency is a difference of two Now readings; one reading costs Machine.ClockNs.
func Now() int64 { return int64(time.Since(epoch)) }

// At returns the instant of a Now reading as a time.Time (with its monotonic reading), without
// reading the clock again.
func At(now int64) time.Time { return epoch.Add(time.Duration(now)) }

// WallMillis returns the wall-clock time of a Now reading in ms since the Unix epoch (the
// engine's and the command layer's clock), without reading the clock again.
func WallMillis(now int64) int64 { return At(now).UnixMilli() }
