package main

// Per-node circuit breakers in front of a two-primary Redis Cluster on loopback: one
// primary killed by PID opens its own breaker only; keys on the other primary keep being
// answered while keys on the dead one are refused at once.

import (
	"strconv"
	"strings"
	"testing"
)

func TestUpstreamClusterNodeBreakers(t *testing.T) {
	// A node timeout beyond the test's length: the survivor, alone in a minority, would
	// otherwise declare the cluster down and answer CLUSTERDOWN for its own slots.
	args := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "600000"}
	n := []*proc{startRedis(t, args...), startRedis(t, args...)}
	mustOK(t, dialResp(t, n[0].Addr), "CLUSTER", "ADDSLOTSRANGE", "0", "8191")
	mustOK(t, dialResp(t, n[1].Addr), "CLUSTER", "ADDSLOTSRANGE", "8192", "16383")
	mustOK(t, dialResp(t, n[0].Addr), "CLUSTER", "MEET", "127.0.0.1", strings.TrimPrefix(n[1].Addr, "127.0.0.1:"))
	for _, p := range n {
		c := dialResp(t, p.Addr)
		l1Eventually(t, p.Addr+" cluster_state:ok", func() bool {
			return strings.Contains(string(c.Do("CLUSTER", "INFO")), "cluster_state:ok")
		})
	}
	// keyOn returns keys whose slots the primary i serves.
	r := dialResp(t, n[0].Addr)
	keyOn := func(i, count int) []string {
		var ks []string
		for j := 0; len(ks) < count; j++ {
			k := "k" + strconv.Itoa(j)
			if s := keySlotOf(t, r, k); (s < 8192) == (i == 0) {
				ks = append(ks, k)
			}
		}
		return ks
	}
	dead, alive := keyOn(0, 20), keyOn(1, 20)

	srv := startServerEnv(t, nil, "--upstream", "redis://"+n[0].Addr+","+n[1].Addr, "--upstream-cluster", "yes",
		"--upstream-timeout", "1s", "--upstream-breaker-failures", "2", "--upstream-breaker-cooldown", "1h")
	c := dialResp(t, srv.proc.Addr)
	for _, k := range append(append([]string{}, dead...), alive...) {
		if got := string(c.Do("SET", k, "v"+k)); got != "+OK\r\n" {
			t.Fatalf("SET %s = %q", k, got)
		}
	}
	l1Eventually(t, "a breaker per primary in INFO upstream", func() bool {
		info := string(c.Do("INFO", "upstream"))
		return strings.Contains(info, "addr="+n[0].Addr+",breaker=closed") &&
			strings.Contains(info, "addr="+n[1].Addr+",breaker=closed")
	})

	n[0].stop()
	i := 0
	l1Eventually(t, "the dead primary's breaker to open", func() bool {
		got := string(c.Do("GET", dead[i%len(dead)]))
		i++
		return got == errCircuitOpen
	})
	for _, k := range dead {
		if got := string(c.Do("GET", k)); got != errCircuitOpen {
			t.Fatalf("GET %s on the dead primary = %q, want %q", k, got, errCircuitOpen)
		}
	}
	for _, k := range alive {
		if got := string(c.Do("GET", k)); got != l1Bulk("v"+k) {
			t.Fatalf("GET %s on the live primary = %q", k, got)
		}
		if got := string(c.Do("SET", k, "w"+k)); got != "+OK\r\n" {
			t.Fatalf("SET %s on the live primary = %q", k, got)
		}
	}
	info := string(c.Do("INFO", "upstream"))
	for _, want := range []string{"addr=" + n[0].Addr + ",breaker=open", "addr=" + n[1].Addr + ",breaker=closed",
		"addr=cluster,breaker=closed"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO upstream lacks %q:\n%s", want, info)
		}
	}
	states := nodeBreakerMetrics(t, srv)
	want := map[string]string{n[0].Addr: "open", n[1].Addr: "closed", "cluster": "closed"}
	if len(states) != len(want) {
		t.Fatalf("/metrics breaker states %v, want %v", states, want)
	}
	for node, st := range want {
		if states[node] != st {
			t.Errorf("/metrics breaker of %s: %q, want %q", node, states[node], st)
		}
	}
}

// nodeBreakerMetrics returns each node's breaker state as /metrics shows it.
func nodeBreakerMetrics(t *testing.T, s *server) map[string]string {
	t.Helper()
	status, body := httpGet(t, "http://"+s.admin+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	states := map[string]string{}
	for _, smp := range parseProm(t, body) {
		if smp.name == "sidecache_upstream_breaker_state" && smp.value == 1 {
			states[smp.labels["node"]] = smp.labels["state"]
		}
	}
	return states
}
