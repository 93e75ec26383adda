package main

// The versioned writer/reader check of upstream_version_test.go against a three-node Redis
// Cluster on loopback (two primaries, one replica of the primary that holds the hot key),
// with two sidecars in front (--upstream-cluster yes), through one topology change per
// subtest:
//
//   - migration: the hot key's slot moves to the other primary (SETSLOT IMPORTING and
//     MIGRATING, MIGRATE of its keys, SETSLOT NODE on both primaries);
//   - failover: CLUSTER FAILOVER on the replica, the old primary alive;
//   - takeover: the primary killed by PID, CLUSTER FAILOVER TAKEOVER on the replica.
//
// A writer bumps the version directly on the cluster (go-redis's cluster client, which
// follows MOVED and ASK); readers read it through the sidecars. The push delay D is measured
// as in upstream_version_test.go, by probes whose keys share the hot key's slot, so D is
// the delay of that slot's invalidations through the transition as well. A read that
// started at s and returned a version older than one acknowledged before s - D is a
// violation; there must be none. A probe whose reads met error replies (the primary dead,
// not yet replaced) measured an outage, not a delay: it is left out of D. Errors answered
// to the readers and the writer are counted with the time span they covered, for the
// report; while every primary is up (migration, failover) there must be none. Each sidecar
// must have dropped the changed slots from L1 for the slot map change (INFO upstream,
// /metrics).
//
// The migration also checks an absent key: read (and cached as absent) through both
// sidecars before the migration, created on the new owner after it. No node invalidates it
// (the old owner never held it, the new one never saw it read), so only the slot map change
// can drop it; l1-nil-ttl is set far beyond the test's length.

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestUpstreamClusterCoherence(t *testing.T) {
	for _, change := range []string{"migration", "failover", "takeover"} {
		t.Run(change, func(t *testing.T) { clusterVersionCheck(t, change) })
	}
}

// testCluster is two primaries (hot holds the key "ver", cold the other half of the slots)
// and a replica of hot.
type testCluster struct {
	hot, cold, replica *proc
	ids                map[*proc]string
	slot               string // the slot of "ver"
}

func startCluster(t *testing.T) *testCluster {
	t.Helper()
	args := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
		"--repl-diskless-sync-delay", "0"}
	n := []*proc{startRedis(t, args...), startRedis(t, args...), startRedis(t, args...)}
	c := &testCluster{ids: map[*proc]string{}}
	for _, p := range n {
		c.ids[p] = strings.TrimSpace(string(parseBulk(dialResp(t, p.Addr).Do("CLUSTER", "MYID"))))
	}
	r := dialResp(t, n[0].Addr)
	s := keySlotOf(t, r, "ver")
	c.slot = strconv.Itoa(s)
	c.hot, c.cold, c.replica = n[0], n[1], n[2]
	if s >= 8192 {
		c.hot, c.cold = n[1], n[0]
	}
	mustOK(t, dialResp(t, n[0].Addr), "CLUSTER", "ADDSLOTSRANGE", "0", "8191")
	mustOK(t, dialResp(t, n[1].Addr), "CLUSTER", "ADDSLOTSRANGE", "8192", "16383")
	for _, p := range n[1:] {
		mustOK(t, r, "CLUSTER", "MEET", "127.0.0.1", strings.TrimPrefix(p.Addr, "127.0.0.1:"))
	}
	for _, p := range n {
		c2 := dialResp(t, p.Addr)
		l1Eventually(t, "every node to know the others", func() bool {
			nodes := string(c2.Do("CLUSTER", "NODES"))
			return strings.Count(nodes, "connected") == 3 && !strings.Contains(nodes, "handshake")
		})
	}
	rc := dialResp(t, c.replica.Addr)
	mustOK(t, rc, "CLUSTER", "REPLICATE", c.ids[c.hot])
	c.waitRole(t, c.replica, "slave")
	l1Eventually(t, "the replica in sync", func() bool {
		return strings.Contains(string(rc.Do("INFO", "replication")), "master_link_status:up")
	})
	for _, p := range n {
		c2 := dialResp(t, p.Addr)
		l1Eventually(t, "cluster_state:ok", func() bool {
			return strings.Contains(string(c2.Do("CLUSTER", "INFO")), "cluster_state:ok")
		})
	}
	return c
}

func mustOK(t *testing.T, c *respConn, args ...string) {
	t.Helper()
	if r := string(c.Do(args...)); r != "+OK\r\n" {
		t.Fatalf("%v = %q", args, r)
	}
}

// keySlotOf returns key's slot as the cluster node behind c computes it (CLUSTER KEYSLOT).
func keySlotOf(t *testing.T, c *respConn, key string) int {
	t.Helper()
	r := string(c.Do("CLUSTER", "KEYSLOT", key))
	s, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r, ":"), "\r\n"))
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT %s = %q", key, r)
	}
	return s
}

func (c *testCluster) waitRole(t *testing.T, p *proc, role string) {
	t.Helper()
	rc := dialResp(t, p.Addr)
	l1Eventually(t, p.Addr+" to be "+role, func() bool {
		return strings.Contains(string(rc.Do("INFO", "replication")), "role:"+role+"\r\n")
	})
}

// migrate moves the hot slot from hot to cold, its keys with MIGRATE, and tells every node.
func (c *testCluster) migrate(t *testing.T) {
	t.Helper()
	src, dst := dialResp(t, c.hot.Addr), dialResp(t, c.cold.Addr)
	mustOK(t, dst, "CLUSTER", "SETSLOT", c.slot, "IMPORTING", c.ids[c.hot])
	mustOK(t, src, "CLUSTER", "SETSLOT", c.slot, "MIGRATING", c.ids[c.cold])
	port := strings.TrimPrefix(c.cold.Addr, "127.0.0.1:")
	for i := 0; ; i++ {
		v, err := parseValue(src.Do("CLUSTER", "GETKEYSINSLOT", c.slot, "100"))
		if err != nil {
			t.Fatalf("GETKEYSINSLOT: %v", err)
		}
		if len(v.Elems) == 0 {
			break
		}
		args := []string{"MIGRATE", "127.0.0.1", port, "", "0", "5000", "KEYS"}
		for _, e := range v.Elems {
			args = append(args, e.Str)
		}
		mustOK(t, src, args...)
		if i > 100 {
			t.Fatal("the slot never emptied")
		}
	}
	for _, p := range []*proc{c.cold, c.hot} { // the replica learns it from its primary
		mustOK(t, dialResp(t, p.Addr), "CLUSTER", "SETSLOT", c.slot, "NODE", c.ids[c.cold])
	}
}

// errorSpan counts the error replies one kind of client saw.
type errorSpan struct {
	mu          sync.Mutex
	n           int
	first, last time.Duration
	texts       map[string]int
}

func (e *errorSpan) add(at time.Duration, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		e.first, e.texts = at, map[string]int{}
	}
	e.n++
	e.last = at
	if len(e.texts) < 4 {
		e.texts[text]++
	}
}

func (e *errorSpan) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		return "none"
	}
	return fmt.Sprintf("%d from %v to %v after the change began (%v) %v", e.n,
		e.first.Round(time.Millisecond), e.last.Round(time.Millisecond), (e.last - e.first).Round(time.Millisecond), e.texts)
}

type probeDelay struct {
	at, d  time.Duration // at: when the probe's write was acknowledged, since the base
	outage bool          // a read through the sidecar answered an error meanwhile
}

func clusterVersionCheck(t *testing.T, change string) {
	cl := startCluster(t)
	seeds := "redis://" + cl.hot.Addr + "," + cl.cold.Addr
	args := []string{"--upstream", seeds, "--upstream-cluster", "yes", "--l1-nil-ttl", "10m", "--l1-max-ttl", "10m"}
	srvA := startServerEnv(t, nil, args...) // A's admin address: /metrics
	a, b := srvA.proc, startSidecache(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: []string{cl.hot.Addr, cl.cold.Addr, cl.replica.Addr}, MaxRedirects: 16,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1,
		DialerRetries: 1,
	})
	defer rdb.Close()
	if err := rdb.Set(ctx, "ver", "0", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// set bounds one write: go-redis keeps dialing a dead node until its slot map is reloaded.
	set := func(ctx context.Context, k, v string) error {
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		err := rdb.Set(ctx, k, v, 0).Err()
		if err != nil {
			rdb.ReloadState(ctx)
		}
		return err
	}
	const absent = "{ver}absent"
	for _, s := range []*proc{a, b} {
		if r := string(dialResp(t, s.Addr).Do("GET", absent)); r != "$-1\r\n" {
			t.Fatalf("GET %s = %q", absent, r)
		}
	}

	base := time.Now()
	var changeAt atomic.Int64 // ns since base, when the topology change began
	changeAt.Store(int64(time.Hour))
	since := func() time.Duration { return time.Since(base) }
	sinceChange := func() time.Duration { return since() - time.Duration(changeAt.Load()) }
	const maxVersions = 1 << 20
	acks := make([]time.Duration, 1, maxVersions)
	var acksMu sync.Mutex
	var last atomic.Int64
	var writerErrs, readerErrs errorSpan
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); wg.Wait() }
	defer halt() // before the cleanups close the connections, also when the test fails
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}

	wg.Add(1)
	go func() { // the writer, on the cluster itself
		defer wg.Done()
		for i := 1; i < maxVersions && !stopped(); {
			if err := set(ctx, "ver", strconv.Itoa(i)); err != nil {
				writerErrs.add(sinceChange(), err.Error())
				time.Sleep(time.Millisecond) // the same version again: it may have been applied
				continue
			}
			at := since()
			acksMu.Lock()
			acks = append(acks, at)
			acksMu.Unlock()
			last.Store(int64(i))
			i++
		}
	}()

	var readsMu sync.Mutex
	var reads []versionRead
	for _, s := range []*proc{a, a, b, b} {
		c := dialResp(t, s.Addr)
		onA := s == a
		wg.Add(1)
		go func() { // a reader, through a sidecar
			defer wg.Done()
			var mine []versionRead
			for !stopped() {
				start := since()
				r := c.Do("GET", "ver")
				if len(r) > 0 && r[0] == '-' {
					readerErrs.add(sinceChange(), strings.TrimSpace(string(r)))
					continue
				}
				v, err := strconv.Atoi(string(parseBulk(r)))
				if err != nil {
					t.Errorf("GET ver = %q", r)
					return
				}
				mine = append(mine, versionRead{start: start, v: v, onA: onA})
			}
			readsMu.Lock()
			reads = append(reads, mine...)
			readsMu.Unlock()
		}()
	}

	var probeMu sync.Mutex
	var probes []probeDelay
	for i, s := range []*proc{a, b} {
		key := "{ver}probe" + strconv.Itoa(i)
		c := dialResp(t, s.Addr)
		wg.Add(1)
		go func() { // the push-delay probe of one sidecar, in the hot key's slot
			defer wg.Done()
			for n := 1; !stopped(); n++ {
				want := strconv.Itoa(n)
				if err := set(ctx, key, want); err != nil {
					writerErrs.add(sinceChange(), err.Error())
					time.Sleep(time.Millisecond)
					continue
				}
				acked := since()
				outage := false
				for {
					r := c.Do("GET", key)
					if len(r) > 0 && r[0] == '-' {
						readerErrs.add(sinceChange(), strings.TrimSpace(string(r)))
						outage = true
					} else if string(parseBulk(r)) == want {
						break
					}
					if since()-acked > 10*time.Second {
						t.Errorf("%s never seen through the sidecar", key)
						return
					}
				}
				probeMu.Lock()
				probes = append(probes, probeDelay{at: acked, d: since() - acked, outage: outage})
				probeMu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}()
	}

	time.Sleep(time.Second)
	changeAt.Store(int64(since()))
	var absentDelay []time.Duration
	// Takeover: the versions acknowledged by the killed primary that its replica never got
	// are lost (Redis replicates asynchronously); a read may return the survivor until the
	// writer's next version lands. Not the sidecar's doing.
	survivor, lastBeforeKill := -1, -1
	switch change {
	case "migration":
		cl.migrate(t)
		if err := rdb.Set(ctx, absent, "here", 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", absent, err)
		}
		set := time.Now()
		for _, s := range []*proc{a, b} {
			c := dialResp(t, s.Addr)
			l1Eventually(t, absent+" created on the new owner, through the sidecar", func() bool {
				return string(c.Do("GET", absent)) == l1Bulk("here")
			})
			absentDelay = append(absentDelay, time.Since(set).Round(time.Microsecond))
		}
	case "failover":
		mustOK(t, dialResp(t, cl.replica.Addr), "CLUSTER", "FAILOVER")
		cl.waitRole(t, cl.replica, "master")
		cl.waitRole(t, cl.hot, "slave")
	case "takeover":
		cl.hot.stop()
		lastBeforeKill = int(last.Load()) + 1 // the write in flight may have been acknowledged just before
		rc := dialResp(t, cl.replica.Addr)
		mustOK(t, rc, "READONLY")
		survivor, _ = strconv.Atoi(string(parseBulk(rc.Do("GET", "ver"))))
		mustOK(t, rc, "CLUSTER", "FAILOVER", "TAKEOVER")
		cl.waitRole(t, cl.replica, "master")
	}
	changeDone := sinceChange()
	doneAt := since()
	time.Sleep(2 * time.Second)
	halt()
	if t.Failed() {
		return
	}

	// D is the largest push delay measured, but for probes that met an outage (error
	// replies through the sidecar: the primary dead and not yet replaced), which measured
	// the outage rather than a delay of invalidations.
	cAt := time.Duration(changeAt.Load())
	var before, after []time.Duration
	d, dBefore, outages := time.Duration(0), time.Duration(0), 0
	for _, p := range probes {
		switch {
		case p.outage:
			outages++
			continue
		case p.at < cAt:
			before = append(before, p.d)
			dBefore = max(dBefore, p.d)
		default:
			after = append(after, p.d)
		}
		d = max(d, p.d)
	}
	if len(before) == 0 || len(after) == 0 {
		t.Fatalf("push delay not measured before and after the change: %d and %d probes", len(before), len(after))
	}
	sortDur := func(s []time.Duration) { sort.Slice(s, func(i, j int) bool { return s[i] < s[j] }) }
	sortDur(before)
	sortDur(after)
	pct := func(s []time.Duration, p int) time.Duration {
		return s[min(len(s)-1, len(s)*p/100)]
	}
	versionAt := func(t time.Duration) int { // the last version acknowledged before t
		v := sort.Search(len(acks), func(i int) bool { return acks[i] >= t }) - 1
		if v > survivor && v <= lastBeforeKill {
			return survivor
		}
		return v
	}
	violations, beyondBefore, stale, readsAfter := 0, 0, 0, 0
	for _, r := range reads {
		if r.v < versionAt(r.start-d) {
			violations++
		}
		if r.v < versionAt(r.start-dBefore) {
			beyondBefore++
		}
		if r.v < versionAt(r.start) {
			stale++
		}
		if r.start > doneAt {
			readsAfter++
		}
	}
	versionsAfter := int(last.Load()) - versionAt(doneAt)
	topology := map[*proc]int64{}
	flushes := func(s *proc) string {
		c := dialResp(t, s.Addr)
		topology[s] = upInfo(t, c, "l1_flushes_topology") + upInfo(t, c, "l1_slot_drops_topology")
		return fmt.Sprintf("upstream %d topology %d; slot drops: topology %d (%d slots), connection %d (%d slots)",
			upInfo(t, c, "l1_flushes_upstream"), upInfo(t, c, "l1_flushes_topology"),
			upInfo(t, c, "l1_slot_drops_topology"), upInfo(t, c, "l1_slots_dropped_topology"),
			upInfo(t, c, "l1_slot_drops_connection"), upInfo(t, c, "l1_slots_dropped_connection"))
	}
	t.Logf("%s (done %v after it began): %d versions (%d after), %d reads through A and B (%d after); push delay before p50 %v p99 %v max %v (%d probes), from the change on p50 %v p99 %v max %v (%d probes, %d more met an outage); D=%v; reads older than the last acknowledged version: %d; violations (older than acknowledged before start-D): %d; older than acknowledged before start-D(before the change): %d",
		change, changeDone.Round(time.Millisecond), last.Load(), versionsAfter, len(reads), readsAfter,
		pct(before, 50), pct(before, 99), dBefore, len(before), pct(after, 50), pct(after, 99), pct(after, 100), len(after), outages,
		d, stale, violations, beyondBefore)
	if lastBeforeKill >= 0 {
		t.Logf("%s: the replica had version %d when the primary was killed, the last acknowledged then was %d (lost: %d)",
			change, survivor, lastBeforeKill-1, max(0, lastBeforeKill-1-survivor))
	}
	t.Logf("%s: errors answered to readers through the sidecars: %s; to the writer and probes on the cluster: %s; L1 flushes on A: %s, on B: %s",
		change, &readerErrs, &writerErrs, flushes(a), flushes(b))
	if absentDelay != nil {
		t.Logf("%s: a key created on the new owner after the migration, cached as absent before it, seen through A and B after %v", change, absentDelay)
	}
	if violations != 0 {
		t.Errorf("%d reads returned a version older than the last acknowledged before start-%v", violations, d)
	}
	if topology[a] == 0 || topology[b] == 0 {
		t.Errorf("the slot map changed and L1 dropped nothing for it: A %d, B %d", topology[a], topology[b])
	}
	_, body := httpGet(t, "http://"+srvA.admin+"/metrics")
	m := parseProm(t, body)
	byCause := 0.0
	for k, v := range m {
		if strings.HasPrefix(k, "sidecache_l1_flushes_by_cause_total{") {
			byCause += v.value
		}
	}
	if got := m[`sidecache_l1_slot_drops_total{cause="topology"}`].value + m[`sidecache_l1_flushes_by_cause_total{cause="topology"}`].value; got < 1 || byCause != m["sidecache_l1_flushes_total"].value {
		t.Errorf("/metrics: drops and flushes for topology %v, flushes by cause %v, in all %v", got, byCause, m["sidecache_l1_flushes_total"].value)
	}
	if change != "takeover" && readerErrs.n != 0 {
		t.Errorf("readers through the sidecars got errors while every primary was up: %s", &readerErrs)
	}
	if versionsAfter < 10 || readsAfter < 100 {
		t.Fatalf("too little traffic after the change to check: %d versions, %d reads", versionsAfter, readsAfter)
	}
}
