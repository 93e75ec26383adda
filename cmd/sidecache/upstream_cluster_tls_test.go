package main

// Upstream cluster mode over TLS: a three-primary Redis Cluster whose nodes listen on TLS
// ports only (port 0), speak TLS to each other on the cluster bus and for MIGRATE
// (tls-cluster, tls-replication) and require client certificates (tls-auth-clients yes),
// with one sidecar in front given only the first node's address. The other two nodes are
// dialed at the addresses the slot map gives (the TLS ports: the map is read over TLS), with
// the same TLS configuration and client certificate, and so is every node the slot-map
// watcher asks. The test's own connections to the nodes are TLS with the client
// certificate as well.
//
// Checked through the sidecar: reads of a key on each primary miss then hit L1; a write
// made on the owning node invalidates the sidecar's entry (the push comes over that node's
// TLS connection); writes through the sidecar land on the owning node; a slot migrated from
// the first primary to the second (MIGRATE over TLS) drops the moved slot from L1 for the slot map change, the
// next write through the sidecar to that slot is redirected (MOVED) by the old owner and
// lands on the new one, and keys of the slot, including one cached as absent, read what was
// written on the new owner.
//
// Skipped only when redis-server is missing or was built without TLS.

import (
	"strconv"
	"strings"
	"testing"
)

// tlsCluster is three primaries over TLS; node i owns the i-th third of the slots.
type tlsCluster struct {
	nodes [3]*proc
	bus   [3]int           // cluster bus ports
	conns [3]*respConn     // the test's TLS connections, one per node
	ids   map[*proc]string // node ids
}

// clusterThirds are the slot ranges of the three primaries.
var clusterThirds = [3][2]int{{0, 5460}, {5461, 10922}, {10923, 16383}}

// startRedisClusterTLS starts one cluster node on a TLS port only, its cluster bus (TLS too)
// on a port of its own: the default, the TLS port + 10000, may be taken or beyond 65535.
// The test is skipped when the output says redis-server has no TLS; any other failure
// fails it.
func startRedisClusterTLS(t *testing.T, p *testPKI) (*proc, int) {
	t.Helper()
	bus := freePort(t)
	r := launchRedisTLS(t, p, "yes", true, []string{
		// A node's outgoing connections (bus, MIGRATE) need a certificate the other nodes
		// accept as a client's: the server certificate is for server authentication only.
		"--tls-client-cert-file", p.ClientCert,
		"--tls-client-key-file", p.ClientKey,
		"--tls-cluster", "yes",
		"--tls-replication", "yes",
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-port", strconv.Itoa(bus),
		"--cluster-node-timeout", "2000",
	})
	return r, bus
}

// redisLacksTLS reports whether redis-server's output says it has no TLS: up to 7.0 a build
// without it refuses the tls-* directives; later ones name the missing connection type.
func redisLacksTLS(out string) bool {
	return strings.Contains(out, ">>> 'tls-") || strings.Contains(out, "connection type tls") ||
		strings.Contains(out, "connection listener of tls")
}

func startClusterTLS(t *testing.T, p *testPKI) *tlsCluster {
	t.Helper()
	c := &tlsCluster{ids: map[*proc]string{}}
	for i := range c.nodes {
		c.nodes[i], c.bus[i] = startRedisClusterTLS(t, p)
		c.conns[i] = mustDialTLS(t, c.nodes[i].Addr, p.clientConfig())
		c.ids[c.nodes[i]] = string(parseBulk(c.conns[i].Do("CLUSTER", "MYID")))
		r := clusterThirds[i]
		mustOK(t, c.conns[i], "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(r[0]), strconv.Itoa(r[1]))
	}
	for i := 1; i < len(c.nodes); i++ {
		mustOK(t, c.conns[0], "CLUSTER", "MEET", "127.0.0.1", c.port(i), strconv.Itoa(c.bus[i]))
	}
	for i := range c.nodes {
		l1Eventually(t, c.nodes[i].Addr+" to know the others over TLS", func() bool {
			nodes := string(c.conns[i].Do("CLUSTER", "NODES"))
			return strings.Count(nodes, "connected") == 3 && !strings.Contains(nodes, "handshake")
		})
	}
	for i := range c.nodes {
		l1Eventually(t, c.nodes[i].Addr+" cluster_state:ok", func() bool {
			return strings.Contains(string(c.conns[i].Do("CLUSTER", "INFO")), "cluster_state:ok")
		})
	}
	return c
}

// port is node i's TLS port.
func (c *tlsCluster) port(i int) string { return strings.TrimPrefix(c.nodes[i].Addr, "127.0.0.1:") }

// keyOn returns a key of node i's slots, found by asking the cluster for key slots.
func (c *tlsCluster) keyOn(t *testing.T, i int) string {
	t.Helper()
	for n := 0; n < 1000; n++ {
		k := "k" + strconv.Itoa(n)
		s := keySlotOf(t, c.conns[0], k)
		if s >= clusterThirds[i][0] && s <= clusterThirds[i][1] {
			return k
		}
	}
	t.Fatalf("no key found on node %d", i)
	return ""
}

// migrate moves slot from node src to node dst, its keys with MIGRATE (over TLS, as
// tls-cluster asks), and tells every node, the new owner first.
func (c *tlsCluster) migrate(t *testing.T, slot, src, dst int) {
	t.Helper()
	s, from, to := strconv.Itoa(slot), c.conns[src], c.conns[dst]
	mustOK(t, to, "CLUSTER", "SETSLOT", s, "IMPORTING", c.ids[c.nodes[src]])
	mustOK(t, from, "CLUSTER", "SETSLOT", s, "MIGRATING", c.ids[c.nodes[dst]])
	for i := 0; ; i++ {
		v, err := parseValue(from.Do("CLUSTER", "GETKEYSINSLOT", s, "100"))
		if err != nil {
			t.Fatalf("GETKEYSINSLOT: %v", err)
		}
		if len(v.Elems) == 0 {
			break
		}
		args := []string{"MIGRATE", "127.0.0.1", c.port(dst), "", "0", "5000", "KEYS"}
		for _, e := range v.Elems {
			args = append(args, e.Str)
		}
		mustOK(t, from, args...)
		if i > 100 {
			t.Fatal("the slot never emptied")
		}
	}
	for _, i := range []int{dst, src, 3 - src - dst} {
		mustOK(t, c.conns[i], "CLUSTER", "SETSLOT", s, "NODE", c.ids[c.nodes[dst]])
	}
	for i := range c.nodes {
		l1Eventually(t, c.nodes[i].Addr+" to map slot "+s+" to its new owner", func() bool {
			return c.slotOwnerPort(t, i, slot) == c.port(dst)
		})
	}
}

// slotOwnerPort is the port node i's CLUSTER SLOTS gives for slot's primary ("" if none).
func (c *tlsCluster) slotOwnerPort(t *testing.T, i, slot int) string {
	t.Helper()
	v, err := parseValue(c.conns[i].Do("CLUSTER", "SLOTS"))
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	for _, r := range v.Elems {
		if len(r.Elems) < 3 || len(r.Elems[2].Elems) < 2 {
			t.Fatalf("CLUSTER SLOTS: malformed range %+v", r)
		}
		lo, _ := strconv.Atoi(r.Elems[0].Str)
		hi, _ := strconv.Atoi(r.Elems[1].Str)
		if slot >= lo && slot <= hi {
			return r.Elems[2].Elems[1].Str
		}
	}
	return ""
}

// errorStat is the count of an error prefix in a node's INFO errorstats (0 if absent).
func errorStat(t *testing.T, c *respConn, prefix string) int {
	t.Helper()
	raw := string(c.Do("INFO", "errorstats"))
	for _, line := range strings.Split(raw, "\r\n") {
		if v, ok := strings.CutPrefix(line, "errorstat_"+prefix+":count="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("INFO errorstats: %q", line)
			}
			return n
		}
	}
	return 0
}

// trackedBySidecar reports whether a node has a connection of the sidecar's (rueidis names
// it sidecache) with tracking on.
func trackedBySidecar(t *testing.T, c *respConn) bool {
	t.Helper()
	for _, line := range strings.Split(string(parseBulk(c.Do("CLIENT", "LIST"))), "\n") {
		f := strings.Fields(line)
		named, tracking := false, false
		for _, kv := range f {
			named = named || kv == "name=sidecache"
			if v, ok := strings.CutPrefix(kv, "flags="); ok {
				tracking = strings.Contains(v, "t")
			}
		}
		if named && tracking {
			return true
		}
	}
	return false
}

func TestUpstreamClusterTLS(t *testing.T) {
	p := newTestPKI(t, "test CA")
	cl := startClusterTLS(t, p)
	// Over TLS, with the plain port 0, the map must give the TLS ports: the sidecar dials
	// the addresses it finds there.
	for i := range cl.nodes {
		for j, r := range clusterThirds {
			if got := cl.slotOwnerPort(t, i, r[0]); got != cl.port(j) {
				t.Fatalf("CLUSTER SLOTS on %s: slot %d on port %q, want %s", cl.nodes[i].Addr, r[0], got, cl.port(j))
			}
		}
	}
	var keys [3]string
	for i := range keys {
		keys[i] = cl.keyOn(t, i)
		mustOK(t, cl.conns[i], "SET", keys[i], "v1-"+strconv.Itoa(i))
	}

	sc := startSidecache(t, "--upstream", "rediss://"+cl.nodes[0].Addr, "--upstream-cluster", "yes",
		"--upstream-tls-ca-cert-file", p.CA, "--upstream-tls-cert-file", p.ClientCert, "--upstream-tls-key-file", p.ClientKey,
		"--l1-nil-ttl", "10m", "--l1-max-ttl", "10m")
	c := dialResp(t, sc.Addr)
	for _, f := range []string{"upstream_tls", "upstream_cluster"} {
		if v := upInfoText(t, c, f); v != "yes" {
			t.Fatalf("%s:%s", f, v)
		}
	}

	// (1) A key on each primary: a miss, then a hit.
	for i, k := range keys {
		want := l1Bulk("v1-" + strconv.Itoa(i))
		for _, what := range []string{"miss", "hit"} {
			if r := string(c.Do("GET", k)); r != want {
				t.Fatalf("GET %s (node %d, %s) = %q", k, i, what, r)
			}
		}
	}
	if h, m := upInfo(t, c, "l1_hits"), upInfo(t, c, "l1_misses"); h != 3 || m != 3 {
		t.Fatalf("l1_hits %d l1_misses %d, want 3 3", h, m)
	}
	for i := range cl.nodes {
		if !trackedBySidecar(t, cl.conns[i]) {
			t.Fatalf("node %d (%s) has no tracking connection of the sidecar:\n%s", i, cl.nodes[i].Addr,
				parseBulk(cl.conns[i].Do("CLIENT", "LIST")))
		}
	}

	// (2) A write on the owning node reaches the sidecar as an invalidation over TLS.
	for i, k := range keys {
		v := "v2-" + strconv.Itoa(i)
		mustOK(t, cl.conns[i], "SET", k, v)
		l1Eventually(t, k+" written on node "+strconv.Itoa(i)+", through the sidecar", func() bool {
			return string(c.Do("GET", k)) == l1Bulk(v)
		})
	}
	if n := upInfo(t, c, "invalidations_received"); n < 3 {
		t.Fatalf("invalidations_received %d, want at least 3", n)
	}

	// (3) Writes through the sidecar land on the owning node.
	for i, k := range keys {
		w, v := "{"+k+"}w", "w-"+strconv.Itoa(i)
		if r := string(c.Do("SET", w, v)); r != "+OK\r\n" {
			t.Fatalf("SET %s through the sidecar = %q", w, r)
		}
		if r := string(cl.conns[i].Do("GET", w)); r != l1Bulk(v) {
			t.Fatalf("GET %s on node %d = %q", w, i, r)
		}
	}

	// (4) The slot of keys[0] moves from node 0 to node 1. absent is cached as absent
	// before: no node will invalidate it, only the slot map change can drop it.
	k0, absent, moved := keys[0], "{"+keys[0]+"}absent", "{"+keys[0]+"}moved"
	for range 2 {
		if r := string(c.Do("GET", absent)); r != "$-1\r\n" {
			t.Fatalf("GET %s = %q", absent, r)
		}
	}
	// A changed map drops the moved slot's entries (a whole flush only when the first map
	// could not be read); either counts as the watcher having seen the change.
	topology := func() int64 {
		return upInfo(t, c, "l1_flushes_topology") + upInfo(t, c, "l1_slot_drops_topology")
	}
	topo := topology()
	cl.migrate(t, keySlotOf(t, cl.conns[0], k0), 0, 1)
	l1Eventually(t, "the slot map change seen by the sidecar's watcher (moved slot dropped)", func() bool {
		return topology() > topo
	})
	// The sidecar's cluster client still has the old map (nothing it sent since was
	// redirected): node 0 answers MOVED and the write follows it, over TLS, to node 1.
	movedBefore := errorStat(t, cl.conns[0], "MOVED")
	if r := string(c.Do("SET", moved, "m")); r != "+OK\r\n" {
		t.Fatalf("SET %s through the sidecar after the migration = %q", moved, r)
	}
	if r := string(cl.conns[1].Do("GET", moved)); r != l1Bulk("m") {
		t.Fatalf("GET %s on the new owner = %q", moved, r)
	}
	movedAfter := errorStat(t, cl.conns[0], "MOVED")
	if movedAfter <= movedBefore {
		t.Errorf("the old owner answered no MOVED (errorstat_MOVED %d, before %d): the write was not redirected", movedAfter, movedBefore)
	}
	mustOK(t, cl.conns[1], "SET", k0, "v3")
	mustOK(t, cl.conns[1], "SET", absent, "here")
	for k, v := range map[string]string{k0: "v3", absent: "here"} {
		l1Eventually(t, k+" written on the new owner, through the sidecar", func() bool {
			return string(c.Do("GET", k)) == l1Bulk(v)
		})
	}
	// Cached again, now tracked by the new owner: its invalidation arrives over TLS too.
	hits := upInfo(t, c, "l1_hits")
	if r := string(c.Do("GET", k0)); r != l1Bulk("v3") {
		t.Fatalf("GET %s = %q", k0, r)
	}
	if h := upInfo(t, c, "l1_hits"); h != hits+1 {
		t.Fatalf("GET %s after the migration: l1_hits %d, want %d", k0, h, hits+1)
	}
	mustOK(t, cl.conns[1], "SET", k0, "v4")
	l1Eventually(t, k0+" written again on the new owner, through the sidecar", func() bool {
		return string(c.Do("GET", k0)) == l1Bulk("v4")
	})
	t.Logf("nodes %s %s %s; L1 hits %d misses %d, invalidations received %d, slot map changes acted on %d (before the migration %d); errorstat_MOVED on the old owner %d -> %d",
		cl.nodes[0].Addr, cl.nodes[1].Addr, cl.nodes[2].Addr, upInfo(t, c, "l1_hits"), upInfo(t, c, "l1_misses"),
		upInfo(t, c, "invalidations_received"), topology(), topo, movedBefore, movedAfter)
	if strings.Contains(sc.out.String(), "upstream unavailable") {
		t.Errorf("the sidecar lost the upstream:\n%s", tail(sc.out.String(), 4000))
	}
}
