package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sidecache/sidecache/loadgen"
)

// write produces dir/results.json, dir/README.md, the merged .hgrm files and the plots.
func (e *experiment) write(dir string, targets []*expTarget, closed, open, sweep map[string][]*loadgen.Report, steps []int) error {
	for _, sub := range []string{"closed-loop", "open-loop"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	e.Command = strings.TrimSpace("loadgen results " + strings.Join(os.Args[2:], " "))
	var closedSeries, openSeries []loadgen.Series
	var tput, p99 []loadgen.Curve
	for _, et := range targets {
		s := targetSummary{Label: et.label, What: et.what, InProcess: et.inProcess, Floor: et.floor}
		s.hist = mergeRuns(closed[et.label], false)
		s.openHist = mergeRuns(open[et.label], false)
		s.Closed, s.Open = loadgen.PercentilesOf(s.hist), loadgen.PercentilesOf(s.openHist)
		s.OpenLag = loadgen.PercentilesOf(mergeRuns(open[et.label], true))
		var ops, cpu []float64
		var gets, hits int64
		for _, r := range closed[et.label] {
			ops, cpu = append(ops, r.OpsPerSec), append(cpu, r.ClientCPUPercent)
			gets, hits = gets+r.Gets, hits+r.Hits
		}
		s.ClosedOps, s.ClosedCPU = median(ops), median(cpu)
		if gets > 0 {
			s.HitRate = float64(hits) / float64(gets)
		}
		tc, pc := loadgen.Curve{Name: et.label}, loadgen.Curve{Name: et.label}
		for i, r := range sweep[et.label] {
			s.Sweep = append(s.Sweep, sweepPoint{Conns: steps[i], OpsPerSec: r.OpsPerSec, P50: r.Latency.P50, P99: r.Latency.P99})
			tc.XY = append(tc.XY, [2]float64{float64(steps[i]), r.OpsPerSec})
			pc.XY = append(pc.XY, [2]float64{float64(steps[i]), r.Latency.P99})
		}
		tput, p99 = append(tput, tc), append(p99, pc)
		e.Targets = append(e.Targets, s)
		closedSeries = append(closedSeries, loadgen.Series{Name: et.label, Hist: s.hist})
		openSeries = append(openSeries, loadgen.Series{Name: et.label, Hist: s.openHist})
		if err := loadgen.WriteHgrm(filepath.Join(dir, "closed-loop", et.label+".hgrm"), s.hist); err != nil {
			return err
		}
		if err := loadgen.WriteHgrm(filepath.Join(dir, "open-loop", et.label+".hgrm"), s.openHist); err != nil {
			return err
		}
	}
	f := e.Flags
	plots := []struct {
		name string
		make func(path string) error
	}{
		{"latency_by_percentile." + f.plotFormat, func(p string) error {
			return loadgen.PlotPercentiles(p, "GET/SET latency, closed loop, 1 connection", closedSeries)
		}},
		{"open_loop_by_percentile." + f.plotFormat, func(p string) error {
			return loadgen.PlotPercentiles(p, fmt.Sprintf("latency at a fixed %.0f ops/s over %d connections (from intended send time)", f.rate, f.openConns), openSeries)
		}},
		{"throughput_vs_conns." + f.plotFormat, func(p string) error {
			return loadgen.PlotCurves(p, "throughput, closed loop", "connections", "ops/s", true, true, tput)
		}},
		{"p99_vs_conns." + f.plotFormat, func(p string) error {
			return loadgen.PlotCurves(p, "p99 latency, closed loop", "connections", "p99 (µs)", true, true, p99)
		}},
	}
	for _, pl := range plots {
		if err := pl.make(filepath.Join(dir, pl.name)); err != nil {
			return fmt.Errorf("%s: %w", pl.name, err)
		}
	}
	for i := range e.Targets {
		t := &e.Targets[i]
		for _, f := range e.Targets {
			if t.Floor != "" && f.Label == t.Floor {
				t.OverFloor = t.Closed.P50 - f.Closed.P50
			}
		}
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "README.md"), e.readme(steps), 0o644)
}

func us(v float64) string {
	switch {
	case v >= 1e4:
		return fmt.Sprintf("%.1f ms", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.2f ms", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f µs", v)
	}
	return fmt.Sprintf("%.1f µs", v)
}

func (e *experiment) readme(steps []int) []byte {
	f := e.Flags
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Results: the sidecar latency experiment\n\n")
	p("This page and the files listed at its end were written by one command, `make results`, on the machine described below; none of it is edited by hand. ")
	p("Run it again to reproduce (about %s on 2 cores). It starts every server itself, measures, writes this directory, and stops what it started.\n\n", roundDur(e.Seconds))
	if h := e.headline(); h != "" {
		p("## Headline\n\n%s\n", h)
	}
	p("## What is measured\n\n")
	p("| target | what |\n|---|---|\n")
	for _, t := range e.Targets {
		p("| `%s` | %s |\n", t.Label, t.What)
	}
	p("\nHow: `loadgen results` starts each server as a process of its own (two `loadgen echo` floors, `bin/sidecache` with a TCP port and a Unix socket, two `redis-server`s with persistence off, `loadgen proxy`) on free loopback ports and a temporary directory, waits until each answers PING, SETs every key on every target, then runs the three experiments below with one goroutine per connection and a per-connection HDR histogram (1 ns .. 100 s, 3 significant digits), merged per target. It stops every process it started (by PID) and removes what it created, the network namespace included.\n")
	p("\nWorkload: %d keys (all SET before measuring), uniform key choice, %.0f%% GET / %.0f%% SET, %d-byte values. ", f.keys, 100*f.read, 100*(1-f.read), f.value)
	p("The pod network is simulated in user space (this kernel has no `netem` qdisc): `loadgen proxy` holds every chunk of bytes for %v ± %v (uniform) in each direction", f.delay, f.jitter)
	if e.Netns {
		p(", and the central Redis runs in a network namespace the command creates (a veth pair, removed at the end)")
	}
	a := e.Proxy.Applied
	p(". One-way hold times the proxy actually applied during the run: p50 %s, p90 %s, p99 %s, max %s over %d chunks.\n\n", us(a.P50), us(a.P90), us(a.P99), us(a.Max), a.Count)

	p("## Latency, closed loop, one connection\n\n")
	p("%d rounds of %v per target (after %v of warm-up each), targets alternating within a round so drift of the machine hits all alike; the histograms of the rounds are merged. ", f.rounds, f.duration, f.warmup)
	p("\"over floor\" is the target's p50 minus the p50 of the echo floor over the same kind of socket: the latency the server (and, for the central Redis, the simulated network) adds to a bare round trip. The in-process rows have no socket to subtract. In-process latencies include two clock reads (see Machine). The floor is a minimal Go server (a goroutine per connection on Go's netpoller), so its figure includes waking a sleeping goroutine and thread; a server with its own event loops can come out at or a little under it (on this machine mostly over the Unix socket, where the echo floor measures slower than over TCP): an \"over floor\" near zero or below it means the server adds nothing measurable to a bare round trip.\n\n")
	p("| target | p50 | p90 | p99 | p99.9 | p99.99 | max | over floor (p50) | ops/s | client CPU | hit rate |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range e.Targets {
		over := "—"
		if t.Floor != "" {
			over = fmt.Sprintf("%s (%s)", us(t.OverFloor), t.Floor)
		}
		c := t.Closed
		p("| `%s` | %s | %s | %s | %s | %s | %s | %s | %.0f | %.0f%% | %.1f%% |\n", t.Label, us(c.P50), us(c.P90), us(c.P99), us(c.P999), us(c.P9999), us(c.Max), over, t.ClosedOps, t.ClosedCPU, 100*t.HitRate)
	}
	p("\n![latency by percentile](latency_by_percentile.%[1]s)\n\n", f.plotFormat)
	p("Client CPU is the load generator's process (user + system) as a share of one core; for the in-process rows it includes the server's work, which runs in the same process.\n\n")

	p("## Latency at a fixed rate (open loop)\n\n")
	p("%.0f ops/s over %d connections, %d round(s) of %v per target. Latency is measured from each request's intended send time, so a stall delays the requests queued behind it and shows in the percentiles (no coordinated omission). \"send lag\" is how late requests left the load generator behind their intended time: each connection has one request in flight, so a slow reply delays the next send, and a timer wake-up later than the 100 µs the load generator polls the clock for before each send adds its own lateness; both are counted in the latency, as they should be. At this low rate both sides sleep between requests, so every round trip pays for waking them: that is why these figures sit above the closed-loop ones.\n\n", f.rate, f.openConns, max(f.rounds-1, 1), f.duration)
	p("| target | p50 | p90 | p99 | p99.9 | max | send lag p50 | send lag p99 |\n|---|---|---|---|---|---|---|---|\n")
	for _, t := range e.Targets {
		o := t.Open
		p("| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", t.Label, us(o.P50), us(o.P90), us(o.P99), us(o.P999), us(o.Max), us(t.OpenLag.P50), us(t.OpenLag.P99))
	}
	p("\n![open loop latency by percentile](open_loop_by_percentile.%[1]s)\n\n", f.plotFormat)

	p("## Throughput against connections (closed loop)\n\n")
	p("One step of %v (after 300ms of warm-up) per connection count and target. The load generator shares the machine's %d CPUs with the servers, so these are the numbers of a sidecar sharing its node, not of a server with the machine to itself.\n\n", f.stepDuration, e.Machine.CPUs)
	p("| target |")
	for _, n := range steps {
		p(" %d |", n)
	}
	p("\n|---|")
	for range steps {
		p("---|")
	}
	p("\n")
	for _, t := range e.Targets {
		p("| `%s` |", t.Label)
		for _, s := range t.Sweep {
			p(" %.0f |", s.OpsPerSec)
		}
		p("\n")
	}
	p("\n![throughput against connections](throughput_vs_conns.%[1]s)\n\n![p99 against connections](p99_vs_conns.%[1]s)\n\n", f.plotFormat)

	m := e.Machine
	p("## Machine\n\n")
	p("%d CPUs (GOMAXPROCS %d), %s; kernel %s, clock source %s, one clock read costs %.0f ns; %s %s/%s.", m.CPUs, m.GOMAXPROCS, orDash(m.CPUModel), orDash(m.Kernel), orDash(m.ClockSrc), m.ClockNs, m.GoVersion, m.OS, m.Arch)
	for _, k := range []string{"sidecache", "redis-server"} {
		if v, ok := e.Versions[k]; ok {
			p(" %s: %s.", k, v)
		}
	}
	p(" Run started %s and took %s.", e.Started.Format("2006-01-02 15:04 MST"), roundDur(e.Seconds))
	if e.LoadAvgStart != "" {
		p(" Load averages (1, 5, 15 min) at the start: %s, at the end: %s; on %d CPUs, anything much above the load the run itself makes (about 2) means other work shared the machine and widened the tails.", e.LoadAvgStart, e.LoadAvgEnd, m.CPUs)
	}
	p("\n\n")
	p("## Files\n\n")
	p("- `results.json`: every figure above, with the machine facts and the proxy's applied delays.\n")
	p("- `closed-loop/*.hgrm`, `open-loop/*.hgrm`: the merged HDR histograms (µs) of each target, readable by HdrHistogram's plotters.\n")
	p("- `*.%s`: the plots, made with gonum/plot.\n\n", f.plotFormat)
	p("Command: `%s` (what `make results` runs).\n", e.Command)
	return b.Bytes()
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func roundDur(sec float64) string {
	if sec >= 90 {
		return fmt.Sprintf("%.0f minutes", sec/60)
	}
	return fmt.Sprintf("%.0f seconds", sec)
}

// headline compares each sidecache target with the central Redis over the simulated pod
// network, from the closed-loop figures of this run.
func (e *experiment) headline() string {
	var central *targetSummary
	for i := range e.Targets {
		if e.Targets[i].Label == "redis-central-pod" {
			central = &e.Targets[i]
		}
	}
	if central == nil || central.Closed.P50 == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Closed loop, one connection. The central Redis over the simulated pod network answers in %s at p50 and %s at p99. From the sidecar:\n\n", us(central.Closed.P50), us(central.Closed.P99))
	for _, t := range e.Targets {
		if !strings.HasPrefix(t.Label, "sidecache-") || t.Closed.P50 == 0 {
			continue
		}
		fmt.Fprintf(&b, "- `%s`: p50 %s (%.0fx lower), p99 %s (%.0fx lower)\n", t.Label, us(t.Closed.P50), central.Closed.P50/t.Closed.P50, us(t.Closed.P99), central.Closed.P99/t.Closed.P99)
	}
	return b.String()
}
