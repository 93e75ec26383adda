package config

import (
	"os"
	"strconv"
	"strings"
)

// autoMaxMemoryPercent is the share of the container's memory limit that "maxmemory auto"
// gives to the keyspace; the rest is left to client buffers (maxmemory-clients), the Go
// runtime and the binary, so the pod stays under its limit without a 2x "headroom" limit.
const autoMaxMemoryPercent = 80

// cgroup files holding the memory limit, as seen from inside a container (cgroup namespaces
// make the container's own group the root). v2 first; v1 is the fallback.
const (
	cgroupV2MemoryMax = "/sys/fs/cgroup/memory.max"
	cgroupV1Limit     = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
)

// cgroupV1Unlimited: v1 reports "no limit" as a huge page-rounded number (~2^63).
const cgroupV1Unlimited = 1 << 62

// readFile is os.ReadFile; tests replace it.
var readFile = os.ReadFile

// ResolveMaxMemory turns a maxmemory value into bytes (0 = unlimited). "auto" (any case) is
// 80% of the cgroup memory limit (v2 memory.max, else v1 memory.limit_in_bytes), or 0 when
// there is no limit or no cgroup file can be read; anything else is a Redis size (ParseSize).
func ResolveMaxMemory(raw string) (int64, error) {
	if !strings.EqualFold(raw, "auto") {
		return ParseSize(raw)
	}
	limit, ok := CgroupMemoryLimit()
	if !ok {
		return 0, nil
	}
	return limit / 100 * autoMaxMemoryPercent, nil
}

// CgroupMemoryLimit returns the memory limit of this process's cgroup in bytes; ok is false
// when there is none (unlimited, or not in a readable cgroup).
func CgroupMemoryLimit() (limit int64, ok bool) {
	if b, err := readFile(cgroupV2MemoryMax); err == nil {
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil && n > 0
	}
	if b, err := readFile(cgroupV1Limit); err == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n, err == nil && n > 0 && n < cgroupV1Unlimited
	}
	return 0, false
}
