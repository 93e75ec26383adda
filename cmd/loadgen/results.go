package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sidecache/sidecache/loadgen"
)

// The headline experiment: sidecache as a sidecar (loopback TCP, Unix socket, in-process)
// against a central Redis behind a simulated pod network and against Redis on plain
// loopback, with the machine's floor measured alongside. It starts every server itself,
// writes dir/*, and stops what it started.

type resultsFlags struct {
	out, sidecache, redis string
	delay, jitter         time.Duration
	netns                 string
	rounds                int
	duration, warmup      time.Duration
	rate                  float64
	openConns             int
	connSteps             string
	stepDuration          time.Duration
	keys                  int
	value                 int
	read                  float64
	skip                  string
	plotFormat            string
}

// target of the experiment: label, spec and a one-line description for the README.
type expTarget struct {
	label, spec, what string
	inProcess         bool
	floor             string // label of the floor to subtract
	t                 loadgen.Target
}

func cmdResults(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("results", flag.ExitOnError)
	var f resultsFlags
	fs.StringVar(&f.out, "out", "results", "output directory")
	fs.StringVar(&f.sidecache, "sidecache", "bin/sidecache", "sidecache server binary")
	fs.StringVar(&f.redis, "redis-server", "redis-server", "redis-server binary")
	fs.DurationVar(&f.delay, "delay", 200*time.Microsecond, "simulated pod network: one-way delay each way")
	fs.DurationVar(&f.jitter, "jitter", 50*time.Microsecond, "simulated pod network: uniform jitter ± each way")
	fs.StringVar(&f.netns, "netns", "auto", "run the central Redis in a network namespace behind a veth pair: on, off, auto (on when root and ip(8) can)")
	fs.IntVar(&f.rounds, "rounds", 3, "rounds of the latency runs (targets alternate within a round)")
	fs.DurationVar(&f.duration, "duration", 3*time.Second, "measured time of one latency run")
	fs.DurationVar(&f.warmup, "warmup", 500*time.Millisecond, "warm-up of every run")
	fs.Float64Var(&f.rate, "rate", 1000, "open-loop rate (ops/s) of the fixed-rate runs")
	fs.IntVar(&f.openConns, "open-conns", 4, "connections of the fixed-rate runs")
	fs.StringVar(&f.connSteps, "conns", "1,2,4,8,16,32", "connection counts of the throughput sweep")
	fs.DurationVar(&f.stepDuration, "step-duration", 1500*time.Millisecond, "measured time of one sweep step")
	fs.IntVar(&f.keys, "keys", 100000, "keys (all SET before measuring)")
	fs.IntVar(&f.value, "value", 100, "value size in bytes")
	fs.Float64Var(&f.read, "read", 0.9, "fraction of GETs")
	fs.StringVar(&f.skip, "skip", "", "comma-separated target labels to leave out (e.g. sidecache-engine,sidecache-inproc)")
	fs.StringVar(&f.plotFormat, "plot-format", "svg", "plot file type: svg, png or pdf")
	fs.Parse(args)

	tmp, err := os.MkdirTemp("", "loadgen-results-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var procs []*proc
	var ns *netns
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			procs[i].stop()
		}
		if ns != nil { // after the processes inside it have stopped
			ns.remove()
		}
	}()
	start := func(name string, argv ...string) error {
		p, err := startProc(tmp, name, argv...)
		if err == nil {
			procs = append(procs, p)
		}
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	redisBin, err := exec.LookPath(f.redis)
	if err != nil {
		return err
	}
	sidecacheBin, err := filepath.Abs(f.sidecache)
	if err != nil {
		return err
	}
	if _, err := os.Stat(sidecacheBin); err != nil {
		return fmt.Errorf("sidecache binary: %w (make build)", err)
	}
	ports := map[string]int{}
	for _, n := range []string{"echo", "sidecache", "redis", "central", "proxy"} {
		if ports[n], err = freePort(); err != nil {
			return err
		}
	}
	loop := func(n string) string { return "127.0.0.1:" + strconv.Itoa(ports[n]) }
	sock := filepath.Join(tmp, "sidecache.sock")
	echoSock := filepath.Join(tmp, "echo.sock")
	redisArgs := []string{"--save", "", "--appendonly", "no", "--protected-mode", "no"}

	if err := start("echo", self, "echo", "-listen", loop("echo")); err != nil {
		return err
	}
	if err := start("echo-unix", self, "echo", "-listen", echoSock); err != nil {
		return err
	}
	if err := start("sidecache", sidecacheBin, "--port", strconv.Itoa(ports["sidecache"]), "--unixsocket", sock, "--admin-addr", ""); err != nil {
		return err
	}
	if err := start("redis-loopback", append([]string{redisBin, "--port", strconv.Itoa(ports["redis"]), "--bind", "127.0.0.1"}, redisArgs...)...); err != nil {
		return err
	}
	// The central Redis: in a network namespace of our own when we can, else on loopback.
	central := loop("central")
	useNetns := f.netns == "on" || (f.netns == "auto" && os.Geteuid() == 0 && haveIP())
	if useNetns {
		if ns, err = newNetns(); err != nil {
			if f.netns == "on" {
				return err
			}
			fmt.Fprintln(os.Stderr, "loadgen results: no network namespace:", err)
			useNetns = false
		} else {
			central = ns.peer + ":6379"
			if err := start("redis-central", append([]string{"ip", "netns", "exec", ns.name, redisBin, "--port", "6379", "--bind", ns.peer}, redisArgs...)...); err != nil {
				return err
			}
		}
	}
	if !useNetns {
		if err := start("redis-central", append([]string{redisBin, "--port", strconv.Itoa(ports["central"]), "--bind", "127.0.0.1"}, redisArgs...)...); err != nil {
			return err
		}
	}
	proxyStats := filepath.Join(tmp, "proxy.json")
	if err := start("proxy", self, "proxy", "-listen", loop("proxy"), "-upstream", central,
		"-delay", f.delay.String(), "-jitter", f.jitter.String(), "-stats", proxyStats); err != nil {
		return err
	}
	for _, w := range []struct{ name, network, addr string }{
		{"echo", "tcp", loop("echo")}, {"echo-unix", "unix", echoSock},
		{"sidecache", "tcp", loop("sidecache")}, {"sidecache", "unix", sock},
		{"redis-loopback", "tcp", loop("redis")}, {"redis-central", "tcp", central}, {"proxy", "tcp", loop("proxy")},
	} {
		if err := loadgen.WaitReady(w.network, w.addr, 10*time.Second); err != nil {
			log, _ := os.ReadFile(filepath.Join(tmp, w.name+".log"))
			if len(log) > 2000 {
				log = log[len(log)-2000:]
			}
			return fmt.Errorf("%s at %s not ready: %w\n%s", w.name, w.addr, err, log)
		}
	}

	podWhat := fmt.Sprintf("central redis-server through the delay proxy (%v ± %v each way)", f.delay, f.jitter)
	if useNetns {
		podWhat += ", inside a network namespace behind a veth pair"
	}
	targets := []*expTarget{
		{label: "floor", spec: "tcp://" + loop("echo"), what: "loadgen's +PONG echo server (own process) over loopback TCP: the machine's floor for TCP"},
		{label: "floor-unix", spec: "unix://" + echoSock, what: "the same echo server over a Unix socket: the floor for Unix sockets"},
		{label: "sidecache-engine", spec: "engine", inProcess: true, what: "sidecache's engine called in-process (embedded mode, no RESP)"},
		{label: "sidecache-inproc", spec: "proto", inProcess: true, what: "sidecache's protocol path in-process: parse + execute + encode, no syscalls"},
		{label: "sidecache-unix", spec: "unix://" + sock, floor: "floor-unix", what: "sidecache server (own process) over its Unix socket"},
		{label: "sidecache-tcp", floor: "floor", spec: "tcp://" + loop("sidecache"), what: "sidecache server (own process) over loopback TCP"},
		{label: "redis-loopback", floor: "floor", spec: "tcp://" + loop("redis"), what: "redis-server over loopback TCP"},
		{label: "redis-central-pod", floor: "floor", spec: "tcp://" + loop("proxy"), what: podWhat},
	}
	skip := map[string]bool{}
	for _, l := range strings.Split(f.skip, ",") {
		skip[strings.TrimSpace(l)] = true
	}
	kept := targets[:0]
	for _, et := range targets {
		if !skip[et.label] {
			kept = append(kept, et)
		}
	}
	targets = kept
	for _, et := range targets {
		if et.t, err = loadgen.ParseTarget(et.label + "=" + et.spec); err != nil {
			return err
		}
		defer et.t.Close()
	}

	w := loadgen.Workload{Keys: f.keys, ReadRatio: f.read, ValueMin: f.value, Dist: "uniform", Seed: 1}
	base := loadgen.Options{Workload: w, Conns: 1, Pipeline: 1, Warmup: f.warmup}
	began := time.Now()
	say := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "[%5.0fs] "+format+"\n", append([]any{time.Since(began).Seconds()}, a...)...)
	}

	// Fill every keyspace first, so GETs hit.
	for _, et := range targets {
		o := base
		o.Prefill, o.Requests, o.Warmup = true, 1, 0
		if _, err := loadgen.Run(ctx, et.t, o); err != nil {
			return fmt.Errorf("prefill %s: %w", et.label, err)
		}
	}
	say("servers up, %d keys set on each target", f.keys)

	res := &experiment{Flags: f, Netns: useNetns, Machine: loadgen.Facts(), Started: began.UTC(), LoadAvgStart: loadAvg()}
	res.Versions = versions(redisBin, loop("sidecache"))

	// 1. Closed loop, one connection: the round trip, alternating targets within a round.
	closed := map[string][]*loadgen.Report{}
	for r := 0; r < f.rounds; r++ {
		for _, et := range targets {
			o := base
			o.Duration = f.duration
			rep, err := loadgen.Run(ctx, et.t, o)
			if err != nil {
				return err
			}
			closed[et.label] = append(closed[et.label], rep)
			say("latency round %d/%d %-18s p50 %7.1fus p99 %7.1fus %8.0f ops/s", r+1, f.rounds, et.label, rep.Latency.P50, rep.Latency.P99, rep.OpsPerSec)
		}
	}
	// 2. Open loop at a fixed rate over several connections: the tail without coordinated
	// omission.
	open := map[string][]*loadgen.Report{}
	for r := 0; r < max(f.rounds-1, 1); r++ {
		for _, et := range targets {
			o := base
			o.Duration, o.Rate, o.Conns = f.duration, f.rate, f.openConns
			rep, err := loadgen.Run(ctx, et.t, o)
			if err != nil {
				return err
			}
			open[et.label] = append(open[et.label], rep)
			say("open loop %.0f/s %-18s p50 %7.1fus p99 %7.1fus send lag p99 %.1fus", f.rate, et.label, rep.Latency.P50, rep.Latency.P99, rep.SendLag.P99)
		}
	}
	// 3. Throughput against connections (closed loop).
	sweep := map[string][]*loadgen.Report{}
	steps, err := parseInts(f.connSteps)
	if err != nil {
		return fmt.Errorf("-conns: %w", err)
	}
	for _, n := range steps {
		for _, et := range targets {
			o := base
			o.Duration, o.Conns, o.Warmup = f.stepDuration, n, 300*time.Millisecond
			rep, err := loadgen.Run(ctx, et.t, o)
			if err != nil {
				return err
			}
			sweep[et.label] = append(sweep[et.label], rep)
			say("sweep %3d conns %-18s %8.0f ops/s p99 %7.1fus", n, et.label, rep.OpsPerSec, rep.Latency.P99)
		}
	}

	// Stop the proxy to read the delays it applied.
	for _, p := range procs {
		if p.name == "proxy" {
			p.stop()
		}
	}
	if b, err := os.ReadFile(proxyStats); err == nil {
		json.Unmarshal(b, &res.Proxy)
	}
	res.Seconds = time.Since(began).Seconds()
	res.LoadAvgEnd = loadAvg()
	for _, et := range targets {
		if p := findProc(procs, et.label); p != nil && p.exited() {
			return fmt.Errorf("%s exited during the run", et.label)
		}
	}
	return res.write(f.out, targets, closed, open, sweep, steps)
}

func findProc(ps []*proc, name string) *proc {
	for _, p := range ps {
		if p.name == name {
			return p
		}
	}
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, x := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad count %q", x)
		}
		out = append(out, n)
	}
	return out, nil
}

func versions(redisBin, sidecacheAddr string) map[string]string {
	v := map[string]string{}
	if out, err := exec.Command(redisBin, "--version").Output(); err == nil {
		v["redis-server"] = strings.TrimSpace(string(out))
	}
	if info, err := loadgen.Command("tcp", sidecacheAddr, "INFO", "server"); err == nil {
		if s := loadgen.InfoField(info, "sidecache_version"); s != "" {
			v["sidecache"] = s
		}
	}
	return v
}

// experiment is results/results.json.
type experiment struct {
	Flags    resultsFlags      `json:"-"`
	Command  string            `json:"command"`
	Started  time.Time         `json:"started"`
	Seconds  float64           `json:"seconds"`
	Machine  loadgen.Machine   `json:"machine"`
	Versions map[string]string `json:"versions"`
	Netns    bool              `json:"netns"`
	// The 1, 5 and 15 minute load averages when the run started and ended: other work on the
	// machine shows in every figure.
	LoadAvgStart string `json:"loadavg_start,omitempty"`
	LoadAvgEnd   string `json:"loadavg_end,omitempty"`
	Proxy        struct {
		Delay   time.Duration       `json:"delay_ns"`
		Jitter  time.Duration       `json:"jitter_ns"`
		Applied loadgen.Percentiles `json:"applied"`
	} `json:"proxy"`
	Targets []targetSummary `json:"targets"`
}

type targetSummary struct {
	Label     string              `json:"label"`
	InProcess bool                `json:"in_process"`
	Floor     string              `json:"floor,omitempty"`   // the floor subtracted in OverFloor
	OverFloor float64             `json:"p50_over_floor_us"` // closed loop p50 minus the floor's
	What      string              `json:"what"`
	Closed    loadgen.Percentiles `json:"closed_loop_latency"`
	ClosedOps float64             `json:"closed_loop_ops_per_sec"`
	ClosedCPU float64             `json:"closed_loop_client_cpu_percent"`
	Open      loadgen.Percentiles `json:"open_loop_latency"`
	OpenLag   loadgen.Percentiles `json:"open_loop_send_lag"`
	HitRate   float64             `json:"hit_rate"`
	Sweep     []sweepPoint        `json:"throughput_by_conns"`
	hist      *hdrhistogram.Histogram
	openHist  *hdrhistogram.Histogram
}

type sweepPoint struct {
	Conns     int     `json:"conns"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50       float64 `json:"p50_us"`
	P99       float64 `json:"p99_us"`
}

func mergeRuns(rs []*loadgen.Report, lag bool) *hdrhistogram.Histogram {
	var hs []*hdrhistogram.Histogram
	for _, r := range rs {
		if lag {
			hs = append(hs, r.LagHist)
		} else {
			hs = append(hs, r.Hist)
		}
	}
	return loadgen.Merge(hs...)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// loadAvg returns the first three fields of /proc/loadavg, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
