package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Options of a run.
type Options struct {
	Workload Workload `json:"workload"`
	Conns    int      `json:"conns"`    // connections, one goroutine each; default 1
	Pipeline int      `json:"pipeline"` // commands per batch; default 1
	// Duration is the measured time (after Warmup). With Requests > 0 it is a bound, if set;
	// with neither set it is 5 s.
	Duration time.Duration `json:"duration_ns"`
	// Requests, if > 0, ends the run after this many measured commands over all connections.
	Requests int64         `json:"requests,omitempty"`
	Warmup   time.Duration `json:"warmup_ns"` // commands sent but not measured, first
	// Rate, if > 0, runs open loop: batches leave at fixed intended times adding up to Rate
	// commands/s over all connections, and latency counts from the intended time.
	Rate float64 `json:"rate,omitempty"`
	// Spin is how long before each open-loop send the connection polls the clock instead of
	// sleeping, because a timer wakes up late (see pacer); 0 means 100 µs, negative never
	// (sleep only).
	Spin time.Duration `json:"spin_ns,omitempty"`
	// Prefill SETs every key once before the run (not measured).
	Prefill bool `json:"prefill,omitempty"`
	// Progress, if set, gets a line a second while the run goes.
	Progress io.Writer `json:"-"`
	// TraceMax, if > 0, keeps the send time and latency of the first TraceMax measured
	// commands (Report.Trace), in a buffer allocated before the run; later commands are
	// counted in Report.TraceDropped.
	TraceMax int `json:"trace_max,omitempty"`
}

const (
	defaultSpin     = 100 * time.Microsecond
	defaultDuration = 5 * time.Second
	// prefillBatch is the pipeline depth of prefill SETs.
	prefillBatch = 64
	maxConns     = 1024
	maxPipeline  = 1 << 16
	// maxTrace bounds a trace's buffer to 1 GiB (16-byte records).
	maxTrace = 1 << 26
)

// stallGrace is how long after the measured span Run waits for replies before it unblocks the
// connections and reports the target as not answering (a variable for tests).
var stallGrace = 10 * time.Second

func (o *Options) normalize() error {
	if err := o.Workload.Normalize(); err != nil {
		return err
	}
	switch {
	case o.Conns < 0 || o.Pipeline < 0:
		return fmt.Errorf("conns %d, pipeline %d: want positive counts", o.Conns, o.Pipeline)
	case o.Conns > maxConns || o.Pipeline > maxPipeline:
		// Each connection keeps two histograms of about 230 KiB and buffers for a batch.
		return fmt.Errorf("conns %d, pipeline %d: at most %d and %d", o.Conns, o.Pipeline, maxConns, maxPipeline)
	case o.Duration < 0 || o.Warmup < 0 || o.Requests < 0:
		return errors.New("duration, warm-up and requests may not be negative")
	case !(o.Rate >= 0) || math.IsInf(o.Rate, 1):
		return fmt.Errorf("rate %v: want a finite rate >= 0", o.Rate)
	case o.TraceMax < 0 || o.TraceMax > maxTrace:
		return fmt.Errorf("trace %d: want 0 to %d records", o.TraceMax, maxTrace)
	}
	o.Conns, o.Pipeline = max(o.Conns, 1), max(o.Pipeline, 1)
	if o.Duration == 0 && o.Requests == 0 {
		o.Duration = defaultDuration
	}
	if o.Spin == 0 {
		o.Spin = defaultSpin
	}
	return nil
}

// run is the state the connections of one run share.
type run struct {
	o            Options
	begin        int64 // Now when the workers started
	measureStart int64 // begin + Warmup
	measureEnd   int64 // measureStart + Duration; MaxInt64 without Duration
	budget       atomic.Int64
	trace        *tracer // nil without Options.TraceMax
	stopped      atomic.Bool
	stop         chan struct{} // closed with stopped
	stopOnce     sync.Once
}

func (r *run) halt() {
	r.stopOnce.Do(func() {
		r.stopped.Store(true)
		close(r.stop)
	})
}

// claim takes up to p commands of the Requests budget; 0 when it is spent.
func (r *run) claim(p int) int {
	if r.o.Requests == 0 {
		return p
	}
	left := r.budget.Add(-int64(p))
	if left >= 0 {
		return p
	}
	return int(max(left+int64(p), 0))
}

// Run measures t with o and returns the report. Connections that cannot be made, a
// connection that fails and a target that stops answering end it with an error.
func Run(ctx context.Context, t Target, o Options) (*Report, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	dist, err := newKeyDist(o.Workload.Dist, o.Workload.Keys)
	if err != nil {
		return nil, err
	}
	ws := make([]*worker, o.Conns)
	defer func() {
		for _, w := range ws {
			if w != nil {
				w.conn.Close()
				w.pace.close()
			}
		}
	}()
	values := makeValues(&o.Workload)
	for i := range ws {
		c, err := t.Connect()
		if err != nil {
			return nil, err
		}
		ws[i] = newWorker(i, c, &o, dist, values)
	}
	rep := &Report{Target: t.Name(), Workload: o.Workload, Conns: o.Conns, Pipeline: o.Pipeline, Rate: o.Rate, Machine: Facts()}
	if o.Prefill {
		n, err := prefill(ctx, ws, o.Workload.Keys)
		if err != nil {
			return nil, fmt.Errorf("%s: prefill: %w", t.Name(), err)
		}
		rep.Prefilled = n
	}

	r := &run{o: o, stop: make(chan struct{}), trace: newTracer(o.TraceMax)}
	for _, w := range ws {
		w.trace = r.trace
	}
	r.budget.Store(o.Requests)
	r.begin = Now()
	r.measureStart = r.begin + int64(o.Warmup)
	r.measureEnd = math.MaxInt64
	if o.Duration > 0 {
		r.measureEnd = r.measureStart + int64(o.Duration)
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(r)
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	cpu, err := r.supervise(ctx, ws, t.Name(), finished)
	if err != nil {
		return nil, err
	}
	for _, w := range ws {
		if w.err != nil {
			return nil, fmt.Errorf("%s: %w", t.Name(), w.err)
		}
	}
	r.summarise(rep, ws)
	if r.trace != nil {
		rep.Trace, rep.TraceDropped = r.trace.kept()
		rep.Traced = int64(len(rep.Trace))
	}
	rep.ClientCPUPercent = cpu
	return rep, nil
}

// supervise waits until the workers have finished, printing progress lines, and stops them
// early when ctx ends or, stallGrace after the end of the measured span, when the target has
// not answered. It returns the CPU time the process used over the measured span, as a
// percentage of one core.
func (r *run) supervise(ctx context.Context, ws []*worker, name string, finished <-chan struct{}) (float64, error) {
	cpu0, wall0 := int64(-1), int64(0)
	if r.o.Warmup == 0 {
		cpu0, wall0 = cpuTime(), Now()
	}
	measuring := time.NewTimer(time.Duration(r.measureStart - Now()))
	defer measuring.Stop()
	var tick <-chan time.Time
	if r.o.Progress != nil {
		tk := time.NewTicker(time.Second)
		defer tk.Stop()
		tick = tk.C
	}
	var watchdog <-chan time.Time
	if r.measureEnd != math.MaxInt64 {
		wd := time.NewTimer(time.Duration(r.measureEnd-Now()) + stallGrace)
		defer wd.Stop()
		watchdog = wd.C
	}
	// Stopping: the workers see r.stopped at their next batch; a Do waiting on a peer is
	// unblocked and fails, which a stopped worker does not count as an error.
	stop := func() {
		r.halt()
		for _, w := range ws {
			if u, ok := w.conn.(Unblocker); ok {
				u.Unblock()
			}
		}
	}
	prog := progress{r: r, ws: ws, name: name}
	var stalled bool
	for {
		select {
		case <-finished:
			cpu1, wall1 := cpuTime(), Now()
			if stalled {
				return 0, fmt.Errorf("%s: no reply %v after the end of the run", name, stallGrace)
			}
			if cpu0 < 0 || wall1 <= wall0 {
				return 0, nil
			}
			return 100 * float64(cpu1-cpu0) / float64(wall1-wall0), nil
		case <-measuring.C:
			if cpu0 < 0 {
				cpu0, wall0 = cpuTime(), Now()
			}
		case <-tick:
			prog.line(r.o.Progress)
		case <-ctx.Done():
			stop()
			<-finished
			return 0, ctx.Err()
		case <-watchdog:
			stalled = true
			stop()
			watchdog = nil
		}
	}
}

// summarise fills in rep from the workers' counts and histograms.
func (r *run) summarise(rep *Report, ws []*worker) {
	hs, lags := make([]*hdrhistogram.Histogram, len(ws)), make([]*hdrhistogram.Histogram, len(ws))
	var last int64
	for i, w := range ws {
		hs[i], lags[i] = w.hist, w.lag
		rep.Ops += w.gets + w.sets
		rep.Gets += w.gets
		rep.Hits += w.hits
		rep.CacheHits += w.cached
		rep.Sets += w.sets
		rep.Errors += w.errs
		last = max(last, w.lastDone)
	}
	rep.Hist, rep.LagHist = Merge(hs...), Merge(lags...)
	rep.Latency, rep.SendLag = PercentilesOf(rep.Hist), PercentilesOf(rep.LagHist)
	// A duration run spans at least Duration (an open loop's last reply may come before its
	// end); replies to batches sent before its end count, so it may span a little more.
	rep.Elapsed = time.Duration(max(last-r.measureStart, 0))
	if r.o.Requests == 0 {
		rep.Elapsed = max(rep.Elapsed, r.o.Duration)
	}
	if rep.Elapsed > 0 {
		rep.OpsPerSec = float64(rep.Ops) / rep.Elapsed.Seconds()
	}
	if rep.Gets > 0 {
		rep.HitRate = float64(rep.Hits) / float64(rep.Gets)
		rep.CacheHitRate = float64(rep.CacheHits) / float64(rep.Gets)
	}
}

// prefill SETs keys 0..keys-1 once, connection i taking i, i+n, i+2n ..., in pipelined
// batches. It returns the number of SETs sent.
func prefill(ctx context.Context, ws []*worker, keys int) (int64, error) {
	var sent atomic.Int64
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ops, out := make([]Op, prefillBatch), make([]Reply, prefillBatch)
			n := 0
			for k := uint64(i); k < uint64(keys); k += uint64(len(ws)) {
				w.gen.set(&ops[n], n, k)
				if n++; n == len(ops) || k+uint64(len(ws)) >= uint64(keys) {
					if errs[i] = ctx.Err(); errs[i] != nil {
						return
					}
					if errs[i] = w.conn.Do(Now(), ops[:n], out); errs[i] != nil {
						return
					}
					sent.Add(int64(n))
					n = 0
				}
			}
		}()
	}
	wg.Wait()
	return sent.Load(), errors.Join(errs...)
}

// worker is one connection's goroutine state. Its counters are its own until the run ends.
type worker struct {
	id         int
	conn       Conn
	gen        *opGen
	ops        []Op
	out        []Reply
	hist, lag  *hdrhistogram.Histogram
	pace       *pacer       // open loop
	trace      *tracer      // nil when not tracing
	measured   atomic.Int64 // commands measured so far, for progress lines
	failed     atomic.Int64 // error replies so far, for progress lines
	gets, hits int64
	cached     int64 // GETs answered from a client-side cache
	sets, errs int64
	lastDone   int64
	err        error
}

func newWorker(id int, c Conn, o *Options, dist keyDist, values []byte) *worker {
	w := &worker{id: id, conn: c, hist: NewHist()}
	w.gen = newOpGen(&o.Workload, dist, id, max(o.Pipeline, prefillBatch), values)
	w.ops, w.out = make([]Op, o.Pipeline), make([]Reply, o.Pipeline)
	if o.Rate > 0 {
		w.lag = NewHist()
		w.pace = newPacer(o.Spin)
	}
	return w
}

func (w *worker) run(r *run) {
	if r.o.Rate > 0 {
		w.openLoop(r)
	} else {
		w.closedLoop(r)
	}
}

// closedLoop sends the next batch as soon as the previous one's replies are in.
func (w *worker) closedLoop(r *run) {
	for !r.stopped.Load() {
		start := Now()
		if start >= r.measureEnd {
			return
		}
		measured := start >= r.measureStart
		n, ok := w.send(r, start, measured)
		if !ok {
			return
		}
		if measured {
			w.record(start, n)
		}
	}
}

// openLoop sends batch k at its intended time begin + phase + k*interval, where the interval
// spreads Rate over all connections and the phase staggers them. A batch that leaves late
// (the previous reply came late, or the wake-up did) still counts from its intended time:
// what a stall costs every request queued behind it is measured, not omitted.
func (w *worker) openLoop(r *run) {
	interval := float64(r.o.Pipeline*r.o.Conns) / r.o.Rate * 1e9
	phase := interval * float64(w.id) / float64(r.o.Conns)
	for k := 0; !r.stopped.Load(); k++ {
		intended := r.begin + int64(phase+float64(k)*interval)
		if intended >= r.measureEnd || !w.pace.wait(intended, r.stop) {
			return
		}
		start := Now()
		measured := intended >= r.measureStart
		n, ok := w.send(r, start, measured)
		if !ok {
			return
		}
		if measured {
			w.record(intended, n)
			record(w.lag, start-intended)
		}
	}
}

// send claims the batch's share of a request-count budget when it is measured (warm-up
// batches are not counted) and executes it; false when the budget is spent or the batch
// failed, and the worker stops.
func (w *worker) send(r *run, start int64, measured bool) (n int, ok bool) {
	n = len(w.ops)
	if measured {
		if n = r.claim(n); n == 0 {
			return 0, false
		}
	}
	return n, w.batch(r, start, n)
}

// batch makes and executes n commands. On failure it notes the error, unless the run was
// stopping anyway (then the failure is the stop closing the connection), and stops the run.
func (w *worker) batch(r *run, start int64, n int) bool {
	ops, out := w.ops[:n], w.out[:n]
	w.gen.batch(ops)
	if err := w.conn.Do(start, ops, out); err != nil {
		if !r.stopped.Load() {
			w.err = err
			r.halt()
		}
		return false
	}
	w.gen.done(ops, out)
	return true
}

// record adds the latencies, from from, and the counts of the last batch of n commands.
func (w *worker) record(from int64, n int) {
	var errs int64
	var trace []TraceRecord
	if w.trace != nil {
		trace = w.trace.claim(n)
	}
	for i := range n {
		op, rp := &w.ops[i], &w.out[i]
		record(w.hist, rp.At-from)
		if i < len(trace) {
			var f uint32
			switch {
			case op.Set:
				f = TraceSet
			case !rp.Hit:
				f = TraceMiss
			}
			if rp.Err {
				f |= TraceErr
			}
			trace[i] = TraceRecord{Send: w.trace.wallOff + from, Latency: traceLatency(rp.At - from), Flags: f}
		}
		if op.Set {
			w.sets++
		} else {
			w.gets++
			if rp.Hit {
				w.hits++
			}
			if rp.Cached {
				w.cached++
			}
		}
		if rp.Err {
			errs++
		}
	}
	w.errs += errs
	w.lastDone = w.out[n-1].At
	w.measured.Add(int64(n))
	if errs > 0 {
		w.failed.Add(errs)
	}
}

// progress prints a line a second: commands per second over the last second and so far.
type progress struct {
	r        *run
	ws       []*worker
	name     string
	lastOps  int64
	lastTime int64
}

func (p *progress) line(w io.Writer) {
	now := Now()
	el := time.Duration(now - p.r.begin).Round(time.Second)
	if now < p.r.measureStart {
		fmt.Fprintf(w, "[%4s] %s: warm-up\n", el, p.name)
		return
	}
	var ops, errs int64
	for _, wk := range p.ws {
		ops += wk.measured.Load()
		errs += wk.failed.Load()
	}
	since := max(p.lastTime, p.r.measureStart)
	rate := 0.0
	if now > since {
		rate = float64(ops-p.lastOps) / (float64(now-since) / 1e9)
	}
	fmt.Fprintf(w, "[%4s] %s: %.0f ops/s, %d ops, %d errors\n", el, p.name, rate, ops, errs)
	p.lastOps, p.lastTime = ops, now
}
