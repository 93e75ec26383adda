package main

import "testing"

// SWAPDB through the sidecar flushes L1 once acknowledged. SWAPDB run directly on the
// upstream by another client is a known limit (upstream/doc.go): Redis 7.0 sends no
// invalidation for it, so L1 keeps what it read until l1-max-ttl. This test pins both; if
// the second half fails, the upstream now invalidates on SWAPDB and the limit can go.
func TestUpstreamSwapDB(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	u.Do("SET", "k", "db0")
	u.Do("SELECT", "1")
	u.Do("SET", "k", "db1")
	u.Do("SELECT", "0")
	if r := string(c.Do("GET", "k")); r != l1Bulk("db0") {
		t.Fatalf("GET = %q", r)
	}
	if r := string(c.Do("SWAPDB", "0", "1")); r != "+OK\r\n" {
		t.Fatalf("SWAPDB through the sidecar = %q", r)
	}
	if r := string(c.Do("GET", "k")); r != l1Bulk("db1") {
		t.Fatalf("GET after SWAPDB through the sidecar = %q, want db1's value", r)
	}

	// Directly on the upstream: k and a marker are cached; after SWAPDB the marker is
	// written, and once its invalidation has arrived any invalidation Redis sent for
	// SWAPDB (before it, on the same connection) would have arrived too.
	u.Do("SET", "marker", "m1")
	c.Do("GET", "marker")
	hits := upInfo(t, c, "l1_hits")
	if r := string(c.Do("GET", "k")); r != l1Bulk("db1") || upInfo(t, c, "l1_hits") != hits+1 {
		t.Fatalf("GET k = %q, not an L1 hit", r)
	}
	if r := string(u.Do("SWAPDB", "0", "1")); r != "+OK\r\n" {
		t.Fatalf("SWAPDB on the upstream = %q", r)
	}
	u.Do("SET", "marker", "m2")
	l1Eventually(t, "the marker's invalidation", func() bool { return string(c.Do("GET", "marker")) == l1Bulk("m2") })
	if r := string(u.Do("GET", "k")); r != l1Bulk("db0") {
		t.Fatalf("upstream GET k after its SWAPDB = %q", r)
	}
	if r := string(c.Do("GET", "k")); r != l1Bulk("db1") {
		t.Fatalf("sidecar GET k after SWAPDB on the upstream = %q: the known limit no longer holds", r)
	}
}
