package upstream

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

func newTestBreaker(threshold int64, cooldown time.Duration) *breaker {
	b := &breaker{node: "n", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	b.threshold.Store(threshold)
	b.cooldown.Store(int64(cooldown))
	return b
}

func (b *breaker) stateName() string { return BreakerStates[b.state.Load()] }

// The breaker's transitions, on an explicit clock (ns).
func TestBreakerStates(t *testing.T) {
	const cd = int64(time.Second)
	b := newTestBreaker(3, time.Second)
	fail := func(now int64) { b.failure(now, context.DeadlineExceeded) }
	f := func(step string, allowAt int64, wantAllow bool, wantState string) {
		t.Helper()
		if got := b.allow(allowAt); got != wantAllow || b.stateName() != wantState {
			t.Fatalf("%s: allow(%d) = %v in %s, want %v in %s", step, allowAt, got, b.stateName(), wantAllow, wantState)
		}
	}
	fail(1)
	fail(2)
	f("two failures", 3, true, "closed")
	b.success()
	fail(4)
	fail(5)
	f("a success in between resets the count", 6, true, "closed")
	fail(7)
	f("third consecutive failure", 8, false, "open")
	if !b.rejecting(8) || b.opens.Load() != 1 {
		t.Fatalf("open: rejecting %v opens %d", b.rejecting(8), b.opens.Load())
	}
	f("still cooling down", 7+cd-1, false, "open")
	f("the probe", 7+cd, true, "half_open")
	f("a second request while the probe is out", 7+cd+1, false, "half_open")
	fail(7 + cd + 2)
	f("the probe failed: a new cool-down", 7+2*cd, false, "open")
	f("the next probe", 7+cd+2+cd, true, "half_open")
	f("a lost probe is replaced after a cool-down", 7+cd+2+2*cd, true, "half_open")
	b.success()
	f("the probe answered", 7+cd+2+2*cd+1, true, "closed")
	if b.opens.Load() != 1 || b.consecutive.Load() != 0 {
		t.Fatalf("opens %d consecutive %d, want 1 0", b.opens.Load(), b.consecutive.Load())
	}
}

func TestBreakerDisabled(t *testing.T) {
	b := newTestBreaker(0, time.Second)
	for i := int64(1); i <= 100; i++ {
		b.failure(i, context.DeadlineExceeded)
	}
	if !b.allow(101) || b.stateName() != "closed" || b.rejecting(101) {
		t.Fatalf("upstream-breaker-failures 0: allow %v state %s", b.allow(101), b.stateName())
	}
}

// Requests starting within one granule share a context whose deadline is at least the
// timeout after each of them.
func TestSharedDeadlines(t *testing.T) {
	var d deadlines
	parent := context.Background()
	if d.get(parent, 0) != parent {
		t.Fatal("no timeout: the parent context is used")
	}
	d.timeout.Store(int64(160 * time.Millisecond)) // granule 10ms
	now := time.Now().UnixNano()
	a := d.get(parent, now)
	b := d.get(parent, now+int64(9*time.Millisecond))
	c := d.get(parent, now+int64(10*time.Millisecond))
	if a != b || b == c {
		t.Fatal("a granule shares one context, the next has its own")
	}
	for _, x := range []struct {
		ctx   context.Context
		start int64
	}{{a, now}, {b, now + int64(9*time.Millisecond)}, {c, now + int64(10*time.Millisecond)}} {
		dl, ok := x.ctx.Deadline()
		if left := dl.UnixNano() - x.start; !ok || left < int64(160*time.Millisecond) || left > int64(170*time.Millisecond) {
			t.Errorf("deadline %v after the start, want 160ms..170ms", time.Duration(left))
		}
	}
	d.stop()
}

func TestLatencyPercentile(t *testing.T) {
	var h latencyHist
	for i := 0; i < 99; i++ {
		h.observe(3 * time.Microsecond) // bucket 2: up to 4us
	}
	h.observe(time.Second) // bucket 20: up to 2^20us
	var counts [NumLatencyBuckets]uint64
	for i := range counts {
		counts[i] = h.buckets[i].Load()
	}
	f := func(p float64, want int64) {
		t.Helper()
		if got := latencyPercentile(&counts, p); got != want {
			t.Errorf("p%v = %d, want %d", p, got, want)
		}
	}
	f(50, 4)
	f(99, 1<<20)
	f(100, 1<<20)
	h.observe(time.Hour)
	counts[NumLatencyBuckets-1] = h.buckets[NumLatencyBuckets-1].Load()
	f(100, 1<<25) // the open bucket: the last bound doubled
}

// redisServer is a redis-server on a free loopback port, without persistence: stop kills
// it, start runs a new one (an empty dataset) on the same port.
type redisServer struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func newRedisServer(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skipf("redis-server not installed: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &redisServer{t: t, port: l.Addr().(*net.TCPAddr).Port, dir: t.TempDir()}
	l.Close()
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	waitFor(s.t, "redis-server to listen", func() bool {
		c, err := net.DialTimeout("tcp", s.addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// A real upstream stops: the breaker opens after upstream-breaker-failures failures and
// answers at once; with upstream-serve-stale the held L1 answers its keys, also on the hit
// path, without allocating; the upstream's return closes the breaker and flushes the hold.
func TestBreakerAndServeStaleOnARealUpstream(t *testing.T) {
	rs := newRedisServer(t)
	u := newTestUpstream(t, rs.addr(), func(o *Options) {
		o.BreakerFailures = 2
		o.BreakerCooldown = time.Hour // opened once, the breaker stays open until the test moves probeAt
		o.ServeStale = time.Hour
		o.Timeout = 5 * time.Second
	})
	a := newApp(u)
	if r := a.write(t, "SET", "k", "v1"); r != "+OK\r\n" {
		t.Fatalf("SET = %q", r)
	}
	if r := a.do(t, "GET", "k"); r != "$2\r\nv1\r\n" {
		t.Fatalf("GET = %q", r)
	}
	rs.stop()
	waitFor(t, "the hold after the lost connection", func() bool { held, _ := u.StaleHold(); return held })

	// Fetches fail: the held entry answers; a key L1 does not hold gets the failure.
	if r := a.do(t, "GET", "k"); r != "$2\r\nv1\r\n" {
		t.Fatalf("GET while unreachable, breaker closed = %q", r)
	}
	if r := a.do(t, "GET", "other"); !strings.HasPrefix(r, "-ERR upstream: ") {
		t.Fatalf("GET of a key not held = %q", r)
	}
	if st := u.brk.stateName(); st != "open" {
		t.Fatalf("breaker %s after two failures", st)
	}
	if r := a.do(t, "GET", "other"); r != "-ERR upstream: unavailable (circuit open)\r\n" {
		t.Fatalf("GET with the breaker open = %q", r)
	}
	if r := a.write(t, "SET", "x", "1"); r != "-ERR upstream: unavailable (circuit open)\r\n" {
		t.Fatalf("SET with the breaker open = %q", r)
	}
	// Breaker open: the held L1 answers on the hit path, allocation-free.
	args := [][]byte{[]byte("GET"), []byte("k")}
	out := make([]byte, 0, 64)
	serves := u.stats.StaleServes.Load()
	n := testing.AllocsPerRun(100, func() {
		var deferred bool
		out, deferred = a.c.Do(0, protocol.RESP2, "get", args, args[1:], false, time.Now().UnixMilli(), out[:0])
		if deferred || string(out) != "$2\r\nv1\r\n" {
			t.Fatalf("stale hit: deferred %v %q", deferred, out)
		}
	})
	if n != 0 {
		t.Errorf("stale hit: %.1f allocations", n)
	}
	if u.stats.StaleServes.Load() <= serves {
		t.Error("stale hits not counted")
	}

	rs.start()
	u.brk.probeAt.Store(0) // the cool-down is over
	if r := a.do(t, "GET", "k"); r != "$-1\r\n" {
		t.Fatalf("GET after the upstream's return (empty dataset) = %q", r)
	}
	if held, _ := u.StaleHold(); held || u.brk.stateName() != "closed" {
		t.Fatalf("after the return: held %v breaker %s", held, u.brk.stateName())
	}
	if got := u.stats.FlushesBy[FlushReturn].Load(); got != 1 {
		t.Fatalf("stale_recovered flushes %d, want 1", got)
	}
}
