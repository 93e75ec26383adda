package config

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// "maxmemory auto" (the default) sizes the keyspace from the memory the process may use, so
// that the RSS bound of DESIGN.md invariant 5,
//
//	RSS <= 1.1 x maxmemory + maxmemory-clients + 32 MiB,
//
// keeps the process inside that memory:
//
//	maxmemory = (limit - 32 MiB - clients) / 1.1
//
// limit is the cgroup memory limit (v2 memory.max, else v1 memory.limit_in_bytes, the
// smallest along the process's cgroup path), or half of physical memory when there is none.
// clients is maxmemory-clients when set in bytes; by default 5% of the limit and at least
// 16 MiB; "N%" (of maxmemory, as Redis reads it) solves the equation with clients = N% x
// maxmemory.

const (
	autoOverhead       = 32 << 20 // the binary, goroutine stacks, runtime metadata
	autoClientsMin     = 16 << 20
	autoClientsPercent = 5
)

// Roots of the files auto sizing reads; tests point them at fixture directories.
var (
	cgroupRoot = "/sys/fs/cgroup"
	procRoot   = "/proc"
)

// cgroupV1Unlimited: v1 reports "no limit" as a huge page-rounded number (~2^63).
const cgroupV1Unlimited = 1 << 62

// MemorySizing is how "maxmemory auto" split the memory the process may use; the server logs
// it at start-up and INFO memory shows it.
type MemorySizing struct {
	Source    string // "cgroup v2", "cgroup v1" or "physical memory / 2"
	Limit     int64  // bytes the process may use
	Clients   int64  // reserved for client buffers (maxmemory-clients)
	Overhead  int64  // reserved for the runtime and the binary
	MaxMemory int64  // the keyspace's share
	// HeapLimit is the Go runtime's memory limit (GOMEMLIMIT) to start with: everything but
	// the keyspace's off-heap share.
	HeapLimit int64
}

// SizeMemory computes the split for a limit and a maxmemory-clients value as Config.Int
// reads it (bytes; minus a percentage of maxmemory; 0 = the default share).
func SizeMemory(limit, clients int64) MemorySizing {
	z := MemorySizing{Limit: limit, Overhead: autoOverhead}
	avail := limit - autoOverhead
	switch {
	case clients > 0:
		z.Clients = clients
		z.MaxMemory = (avail - clients) * 10 / 11
	case clients < 0: // -p: p% of maxmemory, so maxmemory = avail / (1.1 + p/100)
		z.MaxMemory = avail * 100 / (110 - clients)
		z.Clients = z.MaxMemory * -clients / 100
	default:
		z.Clients = max(limit/100*autoClientsPercent, autoClientsMin)
		z.MaxMemory = (avail - z.Clients) * 10 / 11
	}
	if z.MaxMemory < 1<<20 {
		// A limit too small for the bound: keep a token keyspace rather than none
		// (0 would mean unlimited).
		z.MaxMemory = 1 << 20
	}
	z.HeapLimit = max(limit-z.MaxMemory, autoOverhead)
	return z
}

// AutoMemory reads the limit (see the top of this file) and sizes it for clients.
func AutoMemory(clients int64) MemorySizing {
	limit, source := MemoryLimit()
	z := SizeMemory(limit, clients)
	z.Source = source
	return z
}

// MemoryLimit returns the memory this process may use and where the figure comes from: its
// cgroup's limit (v2, else v1), else half of physical memory.
func MemoryLimit() (int64, string) {
	if n, ok := cgroupLimit(cgroupRoot, procRoot); ok {
		return n.limit, n.source
	}
	return physicalMemory(procRoot) / 2, "physical memory / 2"
}

// CgroupMemoryLimit returns the memory limit of this process's cgroup in bytes; ok is false
// when there is none (unlimited, or not in a readable cgroup).
func CgroupMemoryLimit() (limit int64, ok bool) {
	n, ok := cgroupLimit(cgroupRoot, procRoot)
	return n.limit, ok
}

type foundLimit struct {
	limit  int64
	source string
}

// cgroupLimit finds the smallest memory limit along the process's cgroup path (a parent's
// limit binds its children), v2 first. /proc/self/cgroup names the path; inside a container
// with a cgroup namespace it is "/" and the container's own limit sits at the root.
func cgroupLimit(sysfs, proc string) (foundLimit, bool) {
	v2, v1 := "/", "/"
	if b, err := os.ReadFile(filepath.Join(proc, "self", "cgroup")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), ":", 3)
			if len(f) != 3 {
				continue
			}
			if f[0] == "0" && f[1] == "" {
				v2 = f[2]
			}
			for _, ctl := range strings.Split(f[1], ",") {
				if ctl == "memory" {
					v1 = f[2]
				}
			}
		}
	}
	if n, ok := smallestAlong(filepath.Join(sysfs), v2, "memory.max"); ok {
		return foundLimit{n, "cgroup v2"}, true
	}
	if n, ok := smallestAlong(filepath.Join(sysfs, "memory"), v1, "memory.limit_in_bytes"); ok {
		return foundLimit{n, "cgroup v1"}, true
	}
	return foundLimit{}, false
}

// smallestAlong reads file in dir/path and in each ancestor up to dir, and returns the
// smallest limit found ("max" and v1's huge "unlimited" are no limit).
func smallestAlong(dir, path, file string) (int64, bool) {
	best, found := int64(0), false
	p := filepath.Clean("/" + path)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, p, file)); err == nil {
			v := strings.TrimSpace(string(b))
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 && n < cgroupV1Unlimited && (!found || n < best) {
				best, found = n, true
			}
		}
		if p == "/" {
			return best, found
		}
		p = filepath.Dir(p)
	}
}

// physicalMemory is MemTotal from /proc/meminfo in bytes (0 if unreadable).
func physicalMemory(proc string) int64 {
	b, err := os.ReadFile(filepath.Join(proc, "meminfo"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return n << 10 // kB
				}
			}
		}
	}
	return 0
}

// ResolveMaxMemory turns a maxmemory value into bytes (0 = unlimited): "auto" (any case) is
// AutoMemory with the default client share; anything else is a Redis size (ParseSize).
func ResolveMaxMemory(raw string) (int64, error) {
	if !strings.EqualFold(raw, "auto") {
		return ParseSize(raw)
	}
	z := AutoMemory(0)
	if z.Limit <= 0 {
		return 0, nil
	}
	return z.MaxMemory, nil
}

// MemorySizing returns the split "maxmemory auto" made; ok is false when maxmemory was given
// explicitly (or there was no limit to split).
func (c *Config) MemorySizing() (z MemorySizing, ok bool) {
	a := c.must("maxmemory").aux.Load()
	if a == nil {
		return MemorySizing{}, false
	}
	p, _ := (*a).(*MemorySizing)
	if p == nil {
		return MemorySizing{}, false
	}
	return *p, true
}

// resizeAuto redoes "maxmemory auto" once the whole configuration is loaded, so that an
// explicit maxmemory-clients (registered after maxmemory) takes its part of the split.
func (c *Config) resizeAuto() {
	z, ok := c.MemorySizing()
	clients := c.Int("maxmemory-clients")
	if !ok || clients == 0 {
		return
	}
	src := z.Source
	z = SizeMemory(z.Limit, clients)
	z.Source = src
	s := c.must("maxmemory")
	c.mu.Lock()
	s.store(value{num: z.MaxMemory, text: strconv.FormatInt(z.MaxMemory, 10), aux: &z})
	c.mu.Unlock()
}
