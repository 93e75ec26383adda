package main

// The upstream circuit breaker and serve-stale against a real redis-server that the tests
// stop and restart on the same port: the breaker opens and answers at once, closes when the
// upstream is back; a held L1 answers while the upstream is away, is flushed when it
// returns and dropped when upstream-serve-stale passes.

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const errCircuitOpen = "-ERR upstream: unavailable (circuit open)\r\n"

// restartableRedis is a redis-server without persistence on a fixed port: stop kills it,
// start runs a new one (an empty dataset) on the same port.
type restartableRedis struct {
	start func() *proc
	cur   *proc
}

func newRestartableRedis(t *testing.T) *restartableRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skipf("redis-server not installed: %v", err)
	}
	port := freePort(t)
	dir := shortTempDir(t)
	r := &restartableRedis{}
	r.start = func() *proc {
		r.cur = startProc(t, "redis", bin, []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir}, port, "")
		return r.cur
	}
	r.start()
	return r
}

// breakerMetric returns the breaker's state as /metrics shows it: the state whose sample is 1.
func breakerMetric(t *testing.T, s *server) (state string, opens float64) {
	t.Helper()
	status, body := httpGet(t, "http://"+s.admin+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	for _, smp := range parseProm(t, body) {
		switch smp.name {
		case "sidecache_upstream_breaker_state":
			if smp.value == 1 {
				if state != "" {
					t.Fatalf("two breaker states at 1: %s and %s", state, smp.labels["state"])
				}
				state = smp.labels["state"]
			}
		case "sidecache_upstream_breaker_opens_total":
			opens += smp.value
		}
	}
	return state, opens
}

// The upstream is killed: after upstream-breaker-failures failures the breaker opens and
// requests fail at once with the circuit's error; the upstream restarts on the same port:
// the first probe after the cool-down closes the breaker and data flows again.
func TestUpstreamBreakerOpensAndCloses(t *testing.T) {
	up := newRestartableRedis(t)
	s := startServerEnv(t, nil, "--upstream", "redis://"+up.cur.Addr,
		"--upstream-breaker-failures", "3", "--upstream-breaker-cooldown", "1s")
	c := dialResp(t, s.Addr)
	if r := string(c.Do("SET", "k", "v1")); r != "+OK\r\n" {
		t.Fatalf("SET = %q", r)
	}
	if r := string(c.Do("GET", "k")); r != l1Bulk("v1") {
		t.Fatalf("GET = %q", r)
	}
	if st := upInfoText(t, c, "upstream_breaker_state"); st != "closed" {
		t.Fatalf("breaker %s before any failure", st)
	}

	up.cur.stop()
	// Failures before the breaker opens answer the upstream's error; then the circuit's.
	l1Eventually(t, "the breaker to open", func() bool {
		r := string(c.Do("GET", "other"))
		if !strings.HasPrefix(r, "-ERR upstream: ") {
			t.Fatalf("GET while the upstream is away = %q", r)
		}
		return r == errCircuitOpen
	})
	if st := upInfoText(t, c, "upstream_breaker_state"); st != "open" && st != "half_open" {
		t.Fatalf("INFO upstream_breaker_state %s", st)
	}
	if n := upInfo(t, c, "upstream_breaker_opens"); n != 1 {
		t.Fatalf("upstream_breaker_opens %d, want 1", n)
	}
	rejected := upInfo(t, c, "upstream_breaker_rejected")
	// While open, writes and reads alike are refused by the circuit (or, once per cool-down,
	// tried as the probe, which fails).
	circuit := 0
	for i := 0; i < 20; i++ {
		for _, cmd := range [][]string{{"GET", "x" + strconv.Itoa(i)}, {"SET", "y", "1"}, {"HGETALL", "h"}} {
			r := string(c.Do(cmd...))
			if !strings.HasPrefix(r, "-ERR upstream: ") {
				t.Fatalf("%v while open = %q", cmd, r)
			}
			if r == errCircuitOpen {
				circuit++
			}
		}
	}
	if circuit == 0 || upInfo(t, c, "upstream_breaker_rejected") < rejected+int64(circuit) {
		t.Fatalf("%d circuit errors, upstream_breaker_rejected %d -> %d", circuit, rejected, upInfo(t, c, "upstream_breaker_rejected"))
	}
	if state, opens := breakerMetric(t, s); (state != "open" && state != "half_open") || opens != 1 {
		t.Fatalf("/metrics breaker %q opens %v", state, opens)
	}

	up.start() // an empty dataset on the same port
	u := dialResp(t, up.cur.Addr)
	u.Do("SET", "k", "v2")
	l1Eventually(t, "data to flow after the upstream's return", func() bool {
		return string(c.Do("GET", "k")) == l1Bulk("v2")
	})
	if st := upInfoText(t, c, "upstream_breaker_state"); st != "closed" {
		t.Fatalf("breaker %s after the upstream answered", st)
	}
	if r := string(c.Do("SET", "k", "v3")); r != "+OK\r\n" {
		t.Fatalf("SET after the return = %q", r)
	}
	if r := string(u.Do("GET", "k")); r != l1Bulk("v3") {
		t.Fatalf("upstream GET after a write through the sidecar = %q", r)
	}
	if state, opens := breakerMetric(t, s); state != "closed" || opens != 1 {
		t.Fatalf("/metrics breaker %q opens %v after the return", state, opens)
	}
	status, body := httpGet(t, "http://"+s.admin+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	if m := parseProm(t, body); m["sidecache_upstream_request_duration_seconds_count"].value == 0 {
		t.Fatal("no upstream round trip in the latency histogram")
	}
}

// upstream-serve-stale on: while the upstream is away its keys are answered from the held
// L1, a key L1 does not hold answers an error; once the upstream is back, nothing from
// before the loss is served: a key changed meanwhile reads its new value.
func TestUpstreamServeStaleUntilReturn(t *testing.T) {
	up := newRestartableRedis(t)
	sc := startSidecache(t, "--upstream", "redis://"+up.cur.Addr, "--upstream-serve-stale", "600",
		"--upstream-breaker-failures", "3", "--upstream-breaker-cooldown", "1s")
	c := dialResp(t, sc.Addr)
	c.Do("SET", "k", "v1")
	c.Do("HSET", "h", "f", "1")
	if r := string(c.Do("GET", "k")); r != l1Bulk("v1") {
		t.Fatalf("GET = %q", r)
	}
	if r := string(c.Do("HGET", "h", "f")); r != l1Bulk("1") {
		t.Fatalf("HGET = %q", r)
	}

	up.cur.stop()
	l1Eventually(t, "L1 to be held after the lost connection", func() bool {
		return upInfoText(t, c, "l1_stale_held") == "yes"
	})
	if !strings.Contains(string(c.Do("INFO", "keyspace")), "db0:keys=2") {
		t.Fatalf("held L1 lost its entries:\n%s", c.Do("INFO", "keyspace"))
	}
	// Before the breaker opens each read tries the upstream and falls back on L1; after, L1
	// answers at once. Either way: the held values.
	for i := 0; i < 10; i++ {
		if r := string(c.Do("GET", "k")); r != l1Bulk("v1") {
			t.Fatalf("GET %d during the outage = %q", i, r)
		}
		if r := string(c.Do("HGET", "h", "f")); r != l1Bulk("1") {
			t.Fatalf("HGET %d during the outage = %q", i, r)
		}
	}
	if r := string(c.Do("GET", "notheld")); !strings.HasPrefix(r, "-ERR upstream: ") {
		t.Fatalf("GET of a key not held = %q", r)
	}
	if n := upInfo(t, c, "l1_stale_serves"); n < 20 {
		t.Fatalf("l1_stale_serves %d, want >= 20", n)
	}
	if n := upInfo(t, c, "l1_flushes"); n != 0 {
		t.Fatalf("l1_flushes %d during the hold", n)
	}

	up.start() // empty: k and h are gone, then k changes
	u := dialResp(t, up.cur.Addr)
	u.Do("SET", "k", "v2")
	l1Eventually(t, "the new value after the upstream's return", func() bool {
		r := string(c.Do("GET", "k"))
		if r != l1Bulk("v1") && r != l1Bulk("v2") {
			t.Fatalf("GET during the return = %q", r)
		}
		return r == l1Bulk("v2")
	})
	// From the first read of the new value on, nothing held is served.
	for i := 0; i < 5; i++ {
		if r := string(c.Do("GET", "k")); r != l1Bulk("v2") {
			t.Fatalf("GET after the return = %q", r)
		}
		if r := string(c.Do("HGET", "h", "f")); r != "$-1\r\n" {
			t.Fatalf("HGET of a hash gone upstream = %q", r)
		}
	}
	if held := upInfoText(t, c, "l1_stale_held"); held != "no" {
		t.Fatalf("l1_stale_held %s after the return", held)
	}
	if n := upInfo(t, c, "l1_flushes_stale_recovered"); n != 1 {
		t.Fatalf("l1_flushes_stale_recovered %d, want 1", n)
	}
	// Coherent again: a write upstream reaches the sidecar's L1.
	u.Do("SET", "k", "v3")
	l1Eventually(t, "the invalidation after the return", func() bool { return string(c.Do("GET", "k")) == l1Bulk("v3") })
}

// upstream-serve-stale passes with the upstream still away: the held entries are dropped and
// reads answer the upstream's absence.
func TestUpstreamServeStaleExpires(t *testing.T) {
	up := newRestartableRedis(t)
	sc := startSidecache(t, "--upstream", "redis://"+up.cur.Addr, "--upstream-serve-stale", "1",
		"--upstream-breaker-failures", "1", "--upstream-breaker-cooldown", "1s")
	c := dialResp(t, sc.Addr)
	c.Do("SET", "k", "v1")
	if r := string(c.Do("GET", "k")); r != l1Bulk("v1") {
		t.Fatalf("GET = %q", r)
	}
	up.cur.stop()
	// endHold counts the flush before it clears the held state: wait for both.
	l1Eventually(t, "the end of the hold", func() bool {
		return upInfo(t, c, "l1_flushes_stale_expired") == 1 && upInfoText(t, c, "l1_stale_held") == "no"
	})
	if held := upInfoText(t, c, "l1_stale_held"); held != "no" {
		t.Fatalf("l1_stale_held %s after upstream-serve-stale", held)
	}
	if ks := string(c.Do("INFO", "keyspace")); strings.Contains(ks, "db0:") {
		t.Fatalf("held entries not dropped:\n%s", ks)
	}
	for i := 0; i < 3; i++ {
		if r := string(c.Do("GET", "k")); !strings.HasPrefix(r, "-ERR upstream: ") {
			t.Fatalf("GET after upstream-serve-stale = %q", r)
		}
	}
	up.start()
	l1Eventually(t, "a read of the restarted upstream", func() bool { return string(c.Do("GET", "k")) == "$-1\r\n" })
}

// CONFIG SET changes the settings at run time; INFO shows them.
func TestUpstreamBreakerSettings(t *testing.T) {
	_, sc := startL1(t)
	c := dialResp(t, sc.Addr)
	for _, kv := range [][2]string{{"upstream-timeout", "250ms"}, {"upstream-breaker-failures", "7"},
		{"upstream-breaker-cooldown", "3s"}, {"upstream-serve-stale", "42"}} {
		if r := string(c.Do("CONFIG", "SET", kv[0], kv[1])); r != "+OK\r\n" {
			t.Fatalf("CONFIG SET %s %s = %q", kv[0], kv[1], r)
		}
	}
	for field, want := range map[string]int64{"upstream_timeout_ms": 250, "upstream_breaker_failures": 7,
		"upstream_breaker_cooldown_ms": 3000, "upstream_serve_stale_s": 42} {
		if got := upInfo(t, c, field); got != want {
			t.Errorf("%s = %d, want %d", field, got, want)
		}
	}
	if r := string(c.Do("CONFIG", "SET", "upstream-breaker-failures", "-1")); !strings.HasPrefix(r, "-ERR") {
		t.Fatalf("CONFIG SET upstream-breaker-failures -1 = %q", r)
	}
}

// An upstream that stops answering (SIGSTOP: the connection stays open): requests end at
// upstream-timeout with an error, the timeouts open the breaker, and once the upstream runs
// again the probe closes it.
func TestUpstreamTimeoutOpensBreaker(t *testing.T) {
	up := newRestartableRedis(t)
	sc := startSidecache(t, "--upstream", "redis://"+up.cur.Addr, "--upstream-timeout", "200ms",
		"--upstream-breaker-failures", "2", "--upstream-breaker-cooldown", "3s")
	c := dialResp(t, sc.Addr)
	c.Do("SET", "k", "v1")
	if err := up.cur.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = up.cur.cmd.Process.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	if r := string(c.Do("GET", "a")); r != "-ERR upstream: context deadline exceeded\r\n" {
		t.Fatalf("GET of a stopped upstream = %q", r)
	}
	if r := string(c.Do("SET", "b", "1")); r != "-ERR upstream: context deadline exceeded\r\n" {
		t.Fatalf("SET on a stopped upstream = %q", r)
	}
	if r := string(c.Do("GET", "a")); r != errCircuitOpen {
		t.Fatalf("GET after two timeouts = %q", r)
	}
	if n := upInfo(t, c, "upstream_timeouts"); n != 2 {
		t.Fatalf("upstream_timeouts %d, want 2", n)
	}
	resume()
	l1Eventually(t, "the breaker to close", func() bool { return string(c.Do("GET", "k")) == l1Bulk("v1") })
	if st := upInfoText(t, c, "upstream_breaker_state"); st != "closed" {
		t.Fatalf("breaker %s", st)
	}
}

// With upstream-serve-stale on, a FLUSHALL upstream (a null push, which rueidis reports as a
// lost connection) is not missed: the next read finds the upstream answering and flushes.
func TestUpstreamServeStaleFlushAll(t *testing.T) {
	up, sc := startL1(t, "--upstream-serve-stale", "600")
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	u.Do("SET", "a", "1")
	u.Do("SET", "b", "2")
	c.Do("MGET", "a", "b")
	u.Do("FLUSHALL")
	l1Eventually(t, "the flush", func() bool { return string(c.Do("GET", "a")) == "$-1\r\n" })
	if r := string(c.Do("GET", "b")); r != "$-1\r\n" {
		t.Fatalf("GET b after FLUSHALL upstream = %q", r)
	}
	if held := upInfoText(t, c, "l1_stale_held"); held != "no" {
		t.Fatalf("l1_stale_held %s", held)
	}
	if n := upInfo(t, c, "l1_stale_serves"); n != 0 {
		t.Fatalf("l1_stale_serves %d with the upstream answering", n)
	}
	if n := upInfo(t, c, "l1_flushes_stale_recovered"); n < 1 {
		t.Fatalf("l1_flushes_stale_recovered %d: the null push was not held and flushed", n)
	}
}
