package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
)

// The runtime's share is recomputed every memLimitTick, and garbage it holds beyond it is
// returned at most every freeOSInterval. A value-size shift under a write flood (64 KiB
// values, then 100 B) turns the evicted large values into garbage while the arena grows
// into their place within a few hundred milliseconds: checking every 100 ms and freeing at
// most once a second let RSS pass the bound by 1-3 MiB on a quiet machine.
const (
	memLimitTick   = 25 * time.Millisecond
	freeOSInterval = 200 * time.Millisecond
)

// heapMargin is left outside the Go runtime's limit for what it does not count: the binary's
// text and the C-side of the process.
const heapMargin = 16 << 20

// startMemoryLimit logs how "maxmemory auto" split the process's memory (or, for an explicit
// maxmemory, the bound it implies) and, unless the environment sets GOMEMLIMIT, gives the Go
// runtime the rest of it: everything the arena and the index (off-heap, not seen by the
// runtime) do not hold. The share is followed ten times a second, so large values (on the
// Go heap, counted in used_memory) can use what the arena leaves, while the garbage of
// evicted large values and client buffers is collected before the process as a whole
// reaches its limit.
func startMemoryLimit(cfg *config.Config, eng *engine.Engine, log *slog.Logger) (stop func()) {
	z, auto := cfg.MemorySizing()
	if !auto {
		// An explicit maxmemory: the process budget is the bound itself, 1.1 x maxmemory +
		// maxmemory-clients + 32 MiB, so that garbage of large values (on the Go heap) is
		// collected before the process passes it.
		mm := cfg.Int("maxmemory")
		if mm <= 0 {
			log.Info("maxmemory", "maxmemory", 0, "source", "explicit (no limit)")
			return func() {}
		}
		z = config.MemorySizing{Source: "explicit", MaxMemory: mm, Overhead: 32 << 20, Clients: max(maxMemoryClients(cfg), 16<<20)}
		z.Limit = mm*11/10 + z.Clients + z.Overhead
		z.HeapLimit = z.Limit - z.MaxMemory
	}
	_, userLimit := os.LookupEnv("GOMEMLIMIT")
	if !userLimit {
		debug.SetMemoryLimit(z.HeapLimit)
	}
	log.Info("maxmemory", "auto", auto, "limit", z.Limit, "source", z.Source, "maxmemory", z.MaxMemory,
		"maxmemory_clients", z.Clients, "overhead", z.Overhead,
		"gomemlimit", debug.SetMemoryLimit(-1), "gomemlimit_from_env", userLimit)
	if userLimit {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(memLimitTick)
		defer t.Stop()
		// The runtime enforces its limit only when something allocates, and the request path
		// allocates nothing: the garbage of evicted large values would stay resident while the
		// arena grows into their place (measured: 117-130 MiB against a 118 MiB bound in the
		// 100-byte phase of a 64 KiB -> 100 B flood). So when the runtime holds more than its
		// share, collect and return it now, at most every freeOSInterval (it is a full GC, of
		// a heap of a few MiB: the keyspace is off the heap).
		sample := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
		var lastFree time.Time
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			share := heapShare(z, eng.OffHeapBytes())
			debug.SetMemoryLimit(share)
			metrics.Read(sample)
			held := int64(sample[0].Value.Uint64() - sample[1].Value.Uint64())
			if held > share && time.Since(lastFree) >= freeOSInterval {
				debug.FreeOSMemory()
				lastFree = time.Now()
			}
		}
	}()
	return func() { close(done) }
}

// heapShare is the Go runtime's limit when the arena and the index hold offHeap bytes.
func heapShare(z config.MemorySizing, offHeap int64) int64 {
	return max(z.Limit-offHeap-heapMargin, z.Clients+heapMargin)
}
