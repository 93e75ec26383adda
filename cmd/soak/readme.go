package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// WriteReadme writes the run's figures as Markdown to path.
func (r *Result) WriteReadme(path string) error {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	verdict := "PASS"
	if r.Failed() {
		verdict = "FAIL"
	}
	w("# Soak: sidecache under a mixed workload with client kills\n\n")
	w("Produced by `cmd/soak`; this file is overwritten by each run.\n\n")
	w("Command: `%s`\n\n", r.Cfg.Command)
	w("Run: %s, %v measured after a %v warm-up, %d CPUs, %s. Verdict: **%s**.\n\n",
		r.Started.UTC().Format(time.RFC3339), r.Elapsed.Round(time.Second), r.Cfg.Warmup, runtime.NumCPU(), runtime.Version(), verdict)
	w("Server: `--maxmemory %d --maxmemory-policy allkeys-lfu --maxmemory-clients %d`, TCP and Unix socket on this host.\n",
		r.Cfg.MaxMemory, r.Cfg.MaxMemoryClients)
	w("Workload: %d clients (half TCP, half Unix socket), GET 45%% / SET 30%% (1 in 8 with EX) / INCR 12%% / DEL 7%% / EXPIRE 6%%, "+
		"values 16 B to 64 KiB log-uniform, %d string keys and as many counters (skewed), one command at a time or pipelines of 2 to 64 (1 in 4); "+
		"each connection lives 100 to 5,100 commands and ends by a reset, QUIT or close; another connection kills a random client with CLIENT KILL ID every 0.2 to 2 s. "+
		"Every GET reply is checked against the key it asked for. Seed %d.\n\n", r.Cfg.Workers, r.Cfg.Keys, r.Cfg.Seed)

	w("## Baseline and end\n\n")
	w("The baseline is taken after the warm-up with every worker disconnected, the end the same way after the measured run; ")
	w("the Go heap is read after a GC (`/debug/pprof/heap?gc=1`, then `/metrics`). connected_clients counts the soak's own two connections.\n\n")
	w("| figure | baseline | end | pass if |\n|---|---|---|---|\n")
	w("| open fds | %d | %d | end ≤ baseline |\n", r.Baseline.FDs, r.Final.FDs)
	w("| connected_clients | %d | %d | end ≤ baseline |\n", r.Baseline.Clients, r.Final.Clients)
	w("| goroutines (go_goroutines) | %d | %d | end ≤ baseline |\n", r.Baseline.Goroutines, r.Final.Goroutines)
	w("| Go heap in use (go_memstats_heap_inuse_bytes) | %s | %s | end ≤ baseline + 10%% + 8 MiB |\n", mib(r.Baseline.HeapInuse), mib(r.Final.HeapInuse))
	w("| RSS | %s | %s | (reported) |\n", mib(r.Baseline.RSS), mib(r.Final.RSS))
	w("| used_memory | %s | %s | (reported) |\n\n", mib(r.Baseline.UsedMemory), mib(r.Final.UsedMemory))

	w("## Bounds over the whole run (sampled every %v)\n\n", sampleEvery)
	w("| figure | peak | bound |\n|---|---|---|\n")
	w("| used_memory | %s (%d B); %d of %d samples over maxmemory | maxmemory %s (%d B) |\n",
		mib(r.PeakUsed), r.PeakUsed, r.OverSamples, r.Samples, mib(r.Cfg.MaxMemory), r.Cfg.MaxMemory)
	w("| RSS | %s | 1.1 × maxmemory + maxmemory-clients + 32 MiB = %s |\n\n", mib(r.PeakRSS), mib(r.RSSBound))

	w("## Work and errors\n\n")
	w("Commands answered in the measured run: %d (%.0f/s).\n\n", r.Ops, float64(r.Ops)/max(r.Elapsed.Seconds(), 1))
	w("Errors by kind (closed:* are the workload's own kills and resets, seen by the killed client): %s\n\n", formatErrors(r.Errors))
	keys := make([]string, 0, len(r.Counters))
	for k := range r.Counters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w("| counter | n |\n|---|---|\n")
	for _, k := range keys {
		w("| %s | %d |\n", k, r.Counters[k])
	}
	w("\nExit code after SIGTERM: %d.\n\n", r.ExitCode)
	if r.Failed() {
		w("## Failures\n\n")
		for _, f := range r.Failures {
			w("- %s\n", f)
		}
		w("\n")
	}
	w("## Progress lines\n\n```\n")
	for _, l := range r.Timeline {
		if strings.HasPrefix(l, "server log tail") {
			continue
		}
		w("%s\n", l)
	}
	w("```\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
