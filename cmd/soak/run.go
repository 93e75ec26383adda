package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	sampleEvery   = 250 * time.Millisecond // RSS and used_memory, for their peaks
	settleTimeout = 30 * time.Second       // for the figures to come back after the load stops
)

// Figures are the server's counts that must come back after the load.
type Figures struct {
	FDs         int   // entries of /proc/PID/fd
	Clients     int   // INFO connected_clients, the soak's own two connections included
	Goroutines  int   // go_goroutines
	HeapInuse   int64 // go_memstats_heap_inuse_bytes after a GC
	RSS         int64 // VmRSS, bytes
	UsedMemory  int64 // INFO used_memory
	EvictedKeys int64
}

// Result is what a run saw.
type Result struct {
	Cfg      Config
	Started  time.Time
	Timeline []string
	Baseline Figures
	Final    Figures
	PeakUsed int64
	PeakRSS  int64
	// Samples of used_memory taken, and how many were over maxmemory.
	Samples, OverSamples int64
	RSSBound             int64
	Ops                  int64
	Errors               []kindCount
	Counters             map[string]int64 // kills, reconnects, server counters
	ExitCode             int
	Failures             []string
	Elapsed              time.Duration
	Completed            bool // the measured run reached its end (not interrupted)
}

func (r *Result) Failed() bool { return len(r.Failures) > 0 }

func (r *Result) failf(format string, a ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, a...))
}

// Run starts the server, runs the warm-up, the baseline, the measured load and the final
// check, and stops the server. out gets the progress lines.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Result, error) {
	srv, err := startServer(cfg)
	if err != nil {
		return nil, err
	}
	defer srv.kill()
	res := &Result{Cfg: cfg, Started: time.Now(), Counters: map[string]int64{},
		RSSBound: cfg.MaxMemory + cfg.MaxMemory/10 + cfg.MaxMemoryClients + 32<<20}
	printf := func(format string, a ...any) {
		line := fmt.Sprintf(format, a...)
		fmt.Fprintln(out, line)
		res.Timeline = append(res.Timeline, line)
	}

	mon, err := dial("tcp", srv.tcp)
	if err != nil {
		return nil, err
	}
	defer mon.close()
	ctl, err := dial("unix", srv.unix)
	if err != nil {
		return nil, err
	}
	defer ctl.close()
	p := &probe{srv: srv, mon: mon}

	// Peaks are sampled through the whole run, warm-up included.
	var peakUsed, peakRSS, samples, overSamples atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sleep(sampleCtx, sampleEvery) {
			if used, err := p.usedMemory(); err == nil {
				if used > peakUsed.Load() {
					peakUsed.Store(used)
				}
				if used > cfg.MaxMemory {
					overSamples.Add(1)
				}
				samples.Add(1)
			}
			if rss, err := vmRSS(srv.pid); err == nil && rss > peakRSS.Load() {
				peakRSS.Store(rss)
			}
		}
	}()
	defer func() { stopSampling(); <-sampled }()

	rng := rand.New(rand.NewPCG(cfg.Seed, 9))
	t := &tally{}
	ws := make([]*worker, cfg.Workers)
	for i := range ws {
		network, addr := "tcp", srv.tcp
		if i%2 == 1 {
			network, addr = "unix", srv.unix
		}
		ws[i] = &worker{network: network, addr: addr, keys: cfg.Keys, t: t,
			rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)))}
	}
	// load runs every worker and the killer for d (or until ctx is done) and waits until
	// they have closed their connections.
	load := func(d time.Duration, report bool) {
		lctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Add(1)
			go func() { defer wg.Done(); w.run(lctx) }()
		}
		wg.Add(1)
		go func() { defer wg.Done(); killer(lctx, ctl, ws, rng, t) }()
		if report {
			start, startOps := time.Now(), t.ops.Load()
			lastOps, lastT := startOps, start
			for sleep(lctx, cfg.Report) {
				ops, now := t.ops.Load(), time.Now()
				rate := float64(ops-lastOps) / now.Sub(lastT).Seconds()
				lastOps, lastT = ops, now
				f, err := p.figures(false)
				if err != nil {
					printf("t=%s probe: %v", time.Since(start).Round(time.Second), err)
					continue
				}
				printf("t=%-5s ops=%d (%.0f/s) errors: %s | rss=%s used_memory=%s clients=%d evicted_keys=%d killed=%d aborted=%d",
					time.Since(start).Round(time.Second), ops-startOps, rate,
					formatErrors(t.errors()), mib(f.RSS), mib(f.UsedMemory), f.Clients, f.EvictedKeys,
					t.killedByID.Load(), t.aborted.Load())
			}
		}
		wg.Wait()
	}

	printf("soak: sidecache pid %d, maxmemory %s allkeys-lfu, maxmemory-clients %s, %d workers (TCP and Unix socket), %d keys, seed %d",
		srv.pid, mib(cfg.MaxMemory), mib(cfg.MaxMemoryClients), cfg.Workers, cfg.Keys, cfg.Seed)
	load(cfg.Warmup, false)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if res.Baseline, err = p.settle(nil); err != nil {
		return res, err
	}
	printf("baseline after a %v warm-up: %s", cfg.Warmup, res.Baseline)
	warmOps := t.ops.Load()
	t.mu.Lock()
	warmErrs := t.errs
	t.errs = nil
	t.mu.Unlock()

	start := time.Now()
	load(cfg.Duration, true)
	res.Elapsed = time.Since(start)
	res.Completed = ctx.Err() == nil
	res.Ops = t.ops.Load() - warmOps
	res.Errors = t.errors()
	for k, n := range warmErrs {
		res.Counters["warm-up error "+k] = n
	}

	res.Final, err = p.settle(&res.Baseline)
	if err != nil {
		res.failf("final figures: %v", err)
	}
	printf("final after the load stopped: %s", res.Final)
	stopSampling()
	<-sampled
	res.PeakUsed, res.PeakRSS = peakUsed.Load(), peakRSS.Load()
	res.Samples, res.OverSamples = samples.Load(), overSamples.Load()

	res.Counters["client kills (CLIENT KILL ID)"] = t.killedByID.Load()
	res.Counters["abrupt closes (reset)"] = t.aborted.Load()
	res.Counters["QUIT"] = t.quit.Load()
	res.Counters["connections"] = t.reconnects.Load()
	if info, err := p.info("stats"); err == nil {
		for _, k := range []string{"total_connections_received", "rejected_connections", "evicted_keys", "expired_keys",
			"evicted_clients", "client_output_buffer_limit_disconnections"} {
			n, _ := strconv.ParseInt(infoField(info, k), 10, 64)
			res.Counters["server "+k] = n
		}
	}
	res.check()
	mon.close()
	ctl.close()
	code, err := srv.terminate(30 * time.Second)
	res.ExitCode = code
	if err != nil {
		res.failf("SIGTERM: %v", err)
	} else if code != 0 {
		res.failf("exit code %d after SIGTERM", code)
	}
	if res.Failed() {
		printf("server log tail:\n%s", srv.logTail())
	}
	return res, nil
}

// check applies the pass criteria.
func (r *Result) check() {
	if !r.Completed {
		r.failf("interrupted after %v of %v", r.Elapsed.Round(time.Second), r.Cfg.Duration)
	}
	b, f := r.Baseline, r.Final
	if f.FDs > b.FDs {
		r.failf("open fds %d, baseline %d", f.FDs, b.FDs)
	}
	if f.Clients > b.Clients {
		r.failf("connected_clients %d, baseline %d", f.Clients, b.Clients)
	}
	if f.Goroutines > b.Goroutines {
		r.failf("goroutines %d, baseline %d", f.Goroutines, b.Goroutines)
	}
	if f.HeapInuse > heapTolerance(b.HeapInuse) {
		r.failf("Go heap in use %s, baseline %s (tolerance 10%% + 8 MiB)", mib(f.HeapInuse), mib(b.HeapInuse))
	}
	if r.PeakUsed > r.Cfg.MaxMemory {
		r.failf("used_memory reached %d > maxmemory %d (%d of %d samples over)", r.PeakUsed, r.Cfg.MaxMemory, r.OverSamples, r.Samples)
	}
	if r.PeakRSS > r.RSSBound {
		r.failf("RSS reached %s > 1.1 × maxmemory + maxmemory-clients + 32 MiB = %s", mib(r.PeakRSS), mib(r.RSSBound))
	}
	for _, e := range r.Errors {
		if !expectedKind(e.Kind) {
			r.failf("%d errors of kind %s", e.N, e.Kind)
		}
	}
}

func heapTolerance(base int64) int64 { return base + base/10 + 8<<20 }

func (f Figures) String() string {
	return fmt.Sprintf("fds=%d connected_clients=%d goroutines=%d heap_inuse=%s rss=%s used_memory=%s",
		f.FDs, f.Clients, f.Goroutines, mib(f.HeapInuse), mib(f.RSS), mib(f.UsedMemory))
}

func mib(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }

// probe reads the server's figures: /proc, INFO on the monitor connection, /metrics.
type probe struct {
	srv *server
	mon *client
	mu  sync.Mutex // the monitor connection is shared with the sampler
}

func (p *probe) info(section string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if section == "" {
		return p.mon.do("INFO")
	}
	return p.mon.do("INFO", section)
}

func (p *probe) usedMemory() (int64, error) {
	info, err := p.info("memory")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
}

// figures reads the current figures; with gc it runs a GC first (pprof's heap?gc=1) so that
// the heap in use counts live objects only.
func (p *probe) figures(gc bool) (Figures, error) {
	var f Figures
	var err error
	if f.FDs, err = openFDs(p.srv.pid); err != nil {
		return f, err
	}
	if f.RSS, err = vmRSS(p.srv.pid); err != nil {
		return f, err
	}
	info, err := p.info("")
	if err != nil {
		return f, err
	}
	f.Clients, _ = strconv.Atoi(infoField(info, "connected_clients"))
	f.UsedMemory, _ = strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
	f.EvictedKeys, _ = strconv.ParseInt(infoField(info, "evicted_keys"), 10, 64)
	if gc {
		if err := httpGet("http://"+p.srv.admin+"/debug/pprof/heap?gc=1", io.Discard); err != nil {
			return f, err
		}
	}
	var m strings.Builder
	if err := httpGet("http://"+p.srv.admin+"/metrics", &m); err != nil {
		return f, err
	}
	g, _ := strconv.ParseFloat(metric(m.String(), "go_goroutines"), 64)
	h, _ := strconv.ParseFloat(metric(m.String(), "go_memstats_heap_inuse_bytes"), 64)
	f.Goroutines, f.HeapInuse = int(g), int64(h)
	return f, nil
}

// settle waits until the soak's workers are gone from the server (only its own two
// connections remain) and, with base, until the figures are back within tolerance; it
// returns the last figures read.
func (p *probe) settle(base *Figures) (Figures, error) {
	deadline := time.Now().Add(settleTimeout)
	for {
		f, err := p.figures(true)
		if err != nil {
			return f, err
		}
		ok := f.Clients == 2
		if base != nil {
			ok = ok && f.FDs <= base.FDs && f.Goroutines <= base.Goroutines && f.HeapInuse <= heapTolerance(base.HeapInuse)
		}
		if ok {
			return f, nil
		}
		if time.Now().After(deadline) {
			return f, fmt.Errorf("not settled within %v: %s", settleTimeout, f)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func httpGet(url string, w io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// No keep-alive: an idle admin connection would be one more open fd in the server.
	resp, err := noKeepAlive.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// metric returns the value of an unlabelled sample in Prometheus text.
func metric(text, name string) string {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	return ""
}

func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

func openFDs(pid int) (int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(ents), err
}
