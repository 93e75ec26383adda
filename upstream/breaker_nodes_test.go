package upstream

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// newClusterBreakers returns an Upstream with only its breakers, routing slots 0-8191 to
// node a and 8192-16383 to node b.
func newClusterBreakers(t *testing.T, failures int64, cooldown time.Duration) *Upstream {
	t.Helper()
	u := &Upstream{log: slog.New(slog.NewTextHandler(io.Discard, nil)), opt: Options{Cluster: true}}
	u.brk.node, u.brk.log = "cluster", u.log
	u.SetBreaker(failures, cooldown)
	u.updateRoute([]slotRange{
		{start: 0, end: 8191, primary: "ida", addr: "127.0.0.1:7001"},
		{start: 8192, end: 16383, primary: "idb", addr: "127.0.0.1:7002"},
	})
	return u
}

// keyIn returns a key whose slot is in [lo, hi].
func keyIn(t *testing.T, lo, hi uint16) []byte {
	t.Helper()
	return []byte(slotKey(t, "k", lo, hi))
}

func breakerStates(u *Upstream) string {
	var b strings.Builder
	for _, s := range u.Breakers() {
		b.WriteString(s.Node + "=" + s.State + " ")
	}
	return strings.TrimSpace(b.String())
}

// A failure of a request for key k counts against the breaker of the primary owning
// slot(k); its open breaker refuses only that primary's keys.
func TestNodeBreakerRouting(t *testing.T) {
	const cd = int64(time.Second)
	u := newClusterBreakers(t, 2, time.Second)
	ka, kb := keyIn(t, 0, 8191), keyIn(t, 8192, 16383)
	fail := func(key []byte, now int64) { u.breakerFor(key).failure(now, context.DeadlineExceeded) }
	f := func(step string, now int64, wantA, wantB, wantKeyless bool, wantStates string) {
		t.Helper()
		a, b, kl := u.breakerFor(ka).allow(now), u.breakerFor(kb).allow(now), u.brk.allow(now)
		if a != wantA || b != wantB || kl != wantKeyless || breakerStates(u) != wantStates {
			t.Fatalf("%s: allow a %v b %v keyless %v, states %q; want %v %v %v, %q",
				step, a, b, kl, breakerStates(u), wantA, wantB, wantKeyless, wantStates)
		}
	}
	if u.breakerFor(ka) == u.breakerFor(kb) || u.breakerFor(ka) == &u.brk {
		t.Fatal("the two primaries' keys share a breaker")
	}
	if u.breakerFor([]byte("{"+string(ka)+"}.other")) != u.breakerFor(ka) {
		t.Fatal("a hash tag routes by the tag")
	}
	f("start", 1, true, true, true, "127.0.0.1:7001=closed 127.0.0.1:7002=closed cluster=closed")
	fail(ka, 2)
	fail(kb, 3)
	fail(ka, 4)
	f("two failures on a's keys", 5, false, true, true, "127.0.0.1:7001=open 127.0.0.1:7002=closed cluster=closed")
	fail(kb, 6)
	f("b's second failure: also open", 7, false, false, true, "127.0.0.1:7001=open 127.0.0.1:7002=open cluster=closed")
	u.breakerFor(kb).success() // not possible while open without a probe; stands for b's probe answering
	f("b answered", 8, false, true, true, "127.0.0.1:7001=open 127.0.0.1:7002=closed cluster=closed")
	f("a's probe after its cool-down", 4+cd, true, true, true, "127.0.0.1:7001=half_open 127.0.0.1:7002=closed cluster=closed")

	// admit refuses a's keys at once with the circuit-open error, before any dial.
	fail(ka, time.Now().UnixNano()) // the probe failed: open for a new cool-down
	if _, _, err := u.admit(0, false, u.breakerFor(ka)); err != errCircuitOpen {
		t.Fatalf("admit a's key with a open: %v, want %v", err, errCircuitOpen)
	}
	if u.stats.BreakerRejected.Load() != 1 {
		t.Fatalf("rejected %d, want 1", u.stats.BreakerRejected.Load())
	}
	if !u.staleHit(time.Now().UnixMilli(), time.Now().UnixMilli()+1000, ka) ||
		u.staleHit(time.Now().UnixMilli(), time.Now().UnixMilli()+1000, kb) {
		t.Fatal("a held L1 answers a's keys only: a's node is the unreachable one")
	}
}

// A breaker belongs to its primary's address: a slot map change routes slots to the
// breaker of their new owner and keeps an open breaker open; settings reach every node.
func TestNodeBreakerMapChange(t *testing.T) {
	u := newClusterBreakers(t, 1, time.Hour)
	ka := keyIn(t, 0, 8191)
	a := u.breakerFor(ka)
	a.failure(1, context.DeadlineExceeded)
	u.updateRoute([]slotRange{{start: 0, end: 16383, primary: "idb", addr: "127.0.0.1:7002"}})
	if got := breakerStates(u); got != "127.0.0.1:7002=closed cluster=closed" || !u.breakerFor(ka).allow(2) {
		t.Fatalf("a's slots moved to b: states %q, allow %v", got, u.breakerFor(ka).allow(2))
	}
	u.updateRoute([]slotRange{
		{start: 0, end: 8191, primary: "ida", addr: "127.0.0.1:7001"},
		{start: 8192, end: 16383, primary: "idb", addr: "127.0.0.1:7002"},
	})
	if u.breakerFor(ka) != a || u.breakerFor(ka).allow(3) {
		t.Fatal("a's slots back on a: its open breaker is a's, still open")
	}
	u.SetBreaker(0, time.Second)
	if !u.breakerFor(ka).allow(4) {
		t.Fatal("upstream-breaker-failures 0 reaches the node breakers")
	}
	u.nodes.route.Store(nil)
	if u.breakerFor(ka) != &u.brk {
		t.Fatal("no map: the cluster-wide breaker")
	}
}

// The per-node lines of INFO upstream.
func TestNodeBreakerInfo(t *testing.T) {
	u := newClusterBreakers(t, 1, time.Hour)
	u.breakerFor(keyIn(t, 8192, 16383)).failure(1, context.DeadlineExceeded)
	info := string(u.appendResilienceInfo(nil))
	for _, want := range []string{
		"upstream_breaker_state:open\r\n",
		"upstream_node0:addr=127.0.0.1:7001,breaker=closed,consecutive_failures=0,opens=0\r\n",
		"upstream_node1:addr=127.0.0.1:7002,breaker=open,consecutive_failures=1,opens=1\r\n",
		"upstream_node2:addr=cluster,breaker=closed,consecutive_failures=0,opens=0\r\n",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO upstream lacks %q:\n%s", want, info)
		}
	}
}

// Routing a key to its node's breaker is on the hit path (staleHit): no allocation.
func TestNodeBreakerAllocs(t *testing.T) {
	u := newClusterBreakers(t, 1, time.Hour)
	k := []byte("{user}.profile")
	if n := testing.AllocsPerRun(100, func() { _ = u.breakerFor(k).rejecting(1) }); n != 0 {
		t.Fatalf("breakerFor: %.1f allocations", n)
	}
}
