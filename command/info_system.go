package command

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"sync"
)

// totalSystemMemory is INFO's total_system_memory: the machine's physical memory in bytes
// (MemTotal), as Redis reports it, not a container's limit; 0 if unknown. Read once.
var totalSystemMemory = sync.OnceValue(func() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
})

// clientMemory is INFO's mem_clients_normal: what all client buffers hold, in bytes, as the
// network layer counts it (maxmemory-clients); 0 without one.
func (s *Server) clientMemory() int64 {
	if s.netStats == nil {
		return 0
	}
	return s.netStats().ClientMemory
}
