package upstream

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Failing fast. Every round trip of a fetch or a pass-through is admitted by the circuit
// breaker of the node it goes to, bounded by upstream-timeout, and settled: its latency
// enters one histogram (latency.go) and its outcome the breaker.
//
//	closed ──(upstream-breaker-failures consecutive failures)──► open
//	open ──(upstream-breaker-cooldown passed: one request admitted, the probe)──► half-open
//	half-open ──(the probe answered)──► closed
//	half-open ──(the probe failed)──► open (a new cool-down)
//
// A failure is the upstream's absence: a refused or reset connection, a dial that failed, a
// request past upstream-timeout. An error reply (-ERR, -WRONGTYPE, -LOADING ...) is an
// answer: the node is there. While the breaker is open a request is answered at once with
// errCircuitOpen instead of waiting for a dial or a timeout. A probe that never settles
// (its context cancelled by Close) does not leave the breaker half-open for ever: one probe
// is admitted per cool-down.
//
// Nodes. A standalone upstream is one node: every database's client shares its breaker. In
// a cluster, each primary of the watcher's slot map has its own, charged with the requests
// whose keys hash to its slots; keyless requests, and every request until a map was read,
// share the cluster-wide breaker (node "cluster"): breaker_nodes.go.

// errCircuitOpen is the failure of a request refused by an open breaker; it reaches the app
// as "-ERR upstream: unavailable (circuit open)". ERR rather than TRYAGAIN or CLUSTERDOWN:
// common clients retry those on their own, which would turn a fast failure into a slow one.
var errCircuitOpen = errors.New("unavailable (circuit open)")

type breakerState int32

const (
	breakerClosed breakerState = iota
	breakerOpen
	breakerHalfOpen
)

// BreakerStates names the states as INFO and /metrics show them, by breakerState.
var BreakerStates = []string{"closed", "open", "half_open"}

// breaker is one node's circuit breaker. Safe for concurrent use; the request paths only
// read shared words unless the state changes.
type breaker struct {
	node string
	log  *slog.Logger

	threshold atomic.Int64 // upstream-breaker-failures; 0: never opens
	cooldown  atomic.Int64 // upstream-breaker-cooldown, ns

	state       atomic.Int32 // breakerState
	consecutive atomic.Int64 // failures since the last success
	probeAt     atomic.Int64 // unix ns: when not closed, from when the next probe may go
	openedAt    atomic.Int64 // unix ns of the last closed -> open
	opens       atomic.Int64 // closed -> open transitions
}

// allow reports whether a request may go at now (unix ns). Past the cool-down the first
// caller moves probeAt on and goes as the probe; the others are refused.
func (b *breaker) allow(now int64) bool {
	if breakerState(b.state.Load()) == breakerClosed || b.threshold.Load() == 0 {
		return true
	}
	at := b.probeAt.Load()
	if now < at || !b.probeAt.CompareAndSwap(at, now+b.cooldown.Load()) {
		return false
	}
	b.state.CompareAndSwap(int32(breakerOpen), int32(breakerHalfOpen))
	return true
}

// rejecting reports whether allow would refuse a request at now (unix ns) without taking
// the probe: the node is known to be unreachable.
func (b *breaker) rejecting(now int64) bool {
	return breakerState(b.state.Load()) != breakerClosed && b.threshold.Load() != 0 && now < b.probeAt.Load()
}

// success records an answer from the node.
func (b *breaker) success() {
	if b.consecutive.Load() != 0 {
		b.consecutive.Store(0)
	}
	if breakerState(b.state.Load()) == breakerClosed {
		return
	}
	if old := breakerState(b.state.Swap(int32(breakerClosed))); old != breakerClosed {
		down := time.Duration(time.Now().UnixNano() - b.openedAt.Load())
		b.log.Info("upstream circuit closed: the node answers again", "node", b.node, "open_for", down.Round(time.Millisecond))
	}
}

// failure records the node's absence at now (unix ns).
func (b *breaker) failure(now int64, err error) {
	n := b.consecutive.Add(1)
	switch breakerState(b.state.Load()) {
	case breakerClosed:
		t := b.threshold.Load()
		if t == 0 || n < t {
			return
		}
		b.probeAt.Store(now + b.cooldown.Load()) // before the state: allow reads it once open
		if b.state.CompareAndSwap(int32(breakerClosed), int32(breakerOpen)) {
			b.openedAt.Store(now)
			b.opens.Add(1)
			b.log.Warn("upstream circuit open: requests fail at once until a probe answers",
				"node", b.node, "consecutive_failures", n, "cooldown", time.Duration(b.cooldown.Load()), "err", err)
		}
	case breakerHalfOpen:
		b.probeAt.Store(now + b.cooldown.Load())
		if b.state.CompareAndSwap(int32(breakerHalfOpen), int32(breakerOpen)) {
			b.log.Debug("upstream circuit stays open: the probe failed", "node", b.node, "err", err)
		}
	}
}

// BreakerStatus is one node's breaker as INFO and /metrics show it.
type BreakerStatus struct {
	Node                string
	State               string // one of BreakerStates
	ConsecutiveFailures int64
	Opens               int64
}

// Breakers returns the state of every node's breaker.
func (u *Upstream) Breakers() []BreakerStatus {
	bs := u.nodeBreakerList()
	st := make([]BreakerStatus, len(bs))
	for i, b := range bs {
		st[i] = BreakerStatus{Node: b.node, State: BreakerStates[b.state.Load()],
			ConsecutiveFailures: b.consecutive.Load(), Opens: b.opens.Load()}
	}
	return st
}

// SetBreaker changes upstream-breaker-failures (0: the breaker never opens) and
// upstream-breaker-cooldown; a breaker open now keeps its current cool-down.
func (u *Upstream) SetBreaker(failures int64, cooldown time.Duration) {
	u.brk.threshold.Store(failures)
	u.brk.cooldown.Store(int64(cooldown))
	u.setNodeBreakers(failures, int64(cooldown))
}

// SetTimeout changes upstream-timeout, the longest wait for a reply of a non-blocking
// request (0: none); requests already sent keep theirs.
func (u *Upstream) SetTimeout(d time.Duration) { u.deadlines.timeout.Store(int64(d)) }

func (u *Upstream) initBreaker() {
	b := &u.brk
	b.log = u.log
	b.node = u.opt.Addrs[0]
	if u.opt.Cluster {
		b.node = "cluster"
	}
	u.SetBreaker(u.opt.BreakerFailures, u.opt.BreakerCooldown)
	u.SetTimeout(u.opt.Timeout)
}

// admit returns db's client and the context bounding one round trip on it, or why the
// request cannot go: brk, the breaker of the request's node, is open, or the client could
// not be dialed (a failure). blocking requests (BLPOP ...) wait as long as the app asked,
// not upstream-timeout.
func (u *Upstream) admit(db int, blocking bool, brk *breaker) (rueidis.Client, context.Context, error) {
	now := time.Now()
	if !brk.allow(now.UnixNano()) {
		u.stats.BreakerRejected.Add(1)
		return nil, nil, errCircuitOpen
	}
	c, err := u.client(db)
	if err != nil {
		brk.failure(now.UnixNano(), err)
		return nil, nil, err
	}
	if blocking {
		return c, u.ctx, nil
	}
	return c, u.deadlines.get(u.ctx, now.UnixNano()), nil
}

// do is c.Do, timed and settled on brk.
func (u *Upstream) do(ctx context.Context, c rueidis.Client, brk *breaker, cmd rueidis.Completed) rueidis.RedisResult {
	start := time.Now()
	res := c.Do(ctx, cmd)
	u.settle(start, brk, res.NonRedisError())
	return res
}

// doMulti is c.DoMulti, timed and settled as one round trip: the commands share one
// connection, so the last one's outcome is the connection's.
func (u *Upstream) doMulti(ctx context.Context, c rueidis.Client, brk *breaker, cmds ...rueidis.Completed) []rueidis.RedisResult {
	start := time.Now()
	resps := c.DoMulti(ctx, cmds...)
	u.settle(start, brk, resps[len(resps)-1].NonRedisError())
	return resps
}

// settle records a round trip on brk's node that started at start and failed with err
// (nil: answered, an error reply included).
func (u *Upstream) settle(start time.Time, brk *breaker, err error) {
	now := time.Now()
	u.latency.observe(now.Sub(start))
	switch {
	case err == nil:
		brk.success()
		u.upstreamAnswered() // stale.go
	case closing(err):
	default:
		if isTimeout(err) {
			u.stats.Timeouts.Add(1)
		}
		brk.failure(now.UnixNano(), err)
	}
}

// closing reports whether err says the sidecar is closing its upstream side, which says
// nothing of the upstream.
func closing(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, rueidis.ErrClosing)
}

// isTimeout reports whether err is a request past upstream-timeout or a connection deadline.
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
}

// deadlines hands out the contexts bounding requests by upstream-timeout. A context per
// request would cost a timer and two allocations, and a lock on the parent, on every miss;
// instead the requests that start within one granule share a context, whose deadline is
// timeout + granule after the granule's start: a request waits at least the timeout and at
// most a granule (timeout/16, 1..100 ms) more.
type deadlines struct {
	timeout atomic.Int64 // ns; 0: no timeout
	cur     atomic.Pointer[sharedDeadline]
	mu      sync.Mutex // serialises renewals
}

type sharedDeadline struct {
	ctx     context.Context
	cancel  context.CancelFunc
	timeout int64 // the timeout it was made for, ns
	until   int64 // unix ns: requests starting from then need a new one
}

// get returns the context for a request starting at now (unix ns).
func (d *deadlines) get(parent context.Context, now int64) context.Context {
	t := d.timeout.Load()
	if t <= 0 {
		return parent
	}
	if s := d.cur.Load(); s != nil && now < s.until && s.timeout == t {
		return s.ctx
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.cur.Load(); s != nil && now < s.until && s.timeout == t {
		return s.ctx
	}
	g := min(max(t/16, int64(time.Millisecond)), int64(100*time.Millisecond))
	ctx, cancel := context.WithDeadline(parent, time.Unix(0, now+t+g))
	// The previous context is left to its deadline: requests still wait on it.
	d.cur.Store(&sharedDeadline{ctx: ctx, cancel: cancel, timeout: t, until: now + g})
	return ctx
}

// stop releases the current context's timer.
func (d *deadlines) stop() {
	if s := d.cur.Load(); s != nil {
		s.cancel()
	}
}

// appendResilienceInfo appends INFO upstream's lines of the timeout, the breakers, the
// round-trip latency and the serve-stale hold.
func (u *Upstream) appendResilienceInfo(dst []byte) []byte {
	line := func(k string, v ...string) {
		dst = append(append(dst, k...), ':')
		for _, s := range v {
			dst = append(dst, s...)
		}
		dst = append(dst, "\r\n"...)
	}
	num := func(v int64) string { return strconv.FormatInt(v, 10) }
	ms := func(ns int64) string { return num(ns / int64(time.Millisecond)) }
	line("upstream_timeout_ms", ms(u.deadlines.timeout.Load()))
	line("upstream_breaker_failures", num(u.brk.threshold.Load()))
	line("upstream_breaker_cooldown_ms", ms(u.brk.cooldown.Load()))
	worst, opens := breakerClosed, int64(0)
	bs := u.Breakers()
	for i := range bs {
		opens += bs[i].Opens
		for st, name := range BreakerStates {
			if name == bs[i].State && breakerState(st) > worst {
				worst = breakerState(st)
			}
		}
	}
	line("upstream_breaker_state", BreakerStates[worst])
	line("upstream_breaker_opens", num(opens))
	line("upstream_breaker_rejected", num(u.stats.BreakerRejected.Load()))
	for i := range bs {
		b := &bs[i]
		line("upstream_node"+strconv.Itoa(i), "addr=", b.Node, ",breaker=", b.State,
			",consecutive_failures=", num(b.ConsecutiveFailures), ",opens=", num(b.Opens))
	}
	line("upstream_timeouts", num(u.stats.Timeouts.Load()))
	counts, _ := u.Latency()
	var total uint64
	for _, c := range counts {
		total += c
	}
	line("upstream_round_trips", strconv.FormatUint(total, 10))
	line("upstream_latency_percentiles_usec", "p50=", num(latencyPercentile(&counts, 50)),
		",p99=", num(latencyPercentile(&counts, 99)), ",p99.9=", num(latencyPercentile(&counts, 99.9)))
	line("upstream_serve_stale_s", num(u.stale.window.Load()/1000))
	held, left := u.StaleHold()
	yn := "no"
	if held {
		yn = "yes"
	}
	line("l1_stale_held", yn)
	line("l1_stale_left_ms", num(left.Milliseconds()))
	line("l1_stale_serves", num(u.stats.StaleServes.Load()))
	return dst
}
