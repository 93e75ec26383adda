package main

// Upstream keys that expire, and upstream errors that must not be cached, against a real
// redis-server.

import (
	"strings"
	"testing"
	"time"
)

// A key expiring upstream is never served from L1 once the upstream has expired it: the L1
// entry's expiry is the upstream's PTTL counted from before the fetch left, so it ends no
// later than the upstream key. Checked read by read: the upstream is asked first, and when
// it says the key is gone, the sidecar's read that follows must say so too.
func TestUpstreamKeyExpires(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	for round := 0; round < 5; round++ {
		u.Do("SET", "exp", "v", "PX", "150")
		if r := string(c.Do("GET", "exp")); r != l1Bulk("v") && r != "$-1\r\n" {
			t.Fatalf("GET = %q", r)
		}
		deadline := time.Now().Add(10 * time.Second)
		after := 0 // sidecar reads after the upstream said the key was gone
		for after < 20 {
			gone := string(u.Do("EXISTS", "exp")) == ":0\r\n"
			r := string(c.Do("GET", "exp"))
			switch {
			case gone && r != "$-1\r\n":
				t.Fatalf("round %d: the upstream had expired the key, the sidecar answered %q", round, r)
			case gone:
				after++
			case r != l1Bulk("v") && r != "$-1\r\n":
				t.Fatalf("GET = %q", r)
			}
			if time.Now().After(deadline) {
				t.Fatal("the key never expired upstream")
			}
		}
	}
	if h := upInfo(t, c, "l1_hits"); h == 0 {
		t.Fatal("no read was an L1 hit: the check checked nothing")
	}
}

// -BUSY (a script running too long upstream) is passed through to the app as the upstream
// sent it, and nothing is cached: once the script is killed, the next read fetches.
func TestUpstreamBusyNotCached(t *testing.T) {
	up := startRedis(t, "--busy-reply-threshold", "50")
	sc := startSidecache(t, "--upstream", "redis://"+up.Addr)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	u.Do("SET", "k", "v")
	c.Do("PING") // the sidecar's upstream connection is up before the script starts
	l1Eventually(t, "the upstream connection", func() bool { return upInfo(t, c, "upstream_databases_connected") == 1 })
	blocker := dialResp(t, up.Addr)
	if err := blocker.Send(encodeCommand([]string{"EVAL", "while true do end", "0"})); err != nil {
		t.Fatal(err)
	}
	other := dialResp(t, up.Addr)
	l1Eventually(t, "the upstream to be busy", func() bool {
		return strings.HasPrefix(string(other.Do("GET", "k")), "-BUSY ")
	})
	busy := string(other.Do("GET", "k"))
	for _, cmd := range [][]string{{"GET", "k"}, {"HGET", "h", "f"}, {"LLEN", "l"}} {
		if r := string(c.Do(cmd...)); r != busy {
			t.Errorf("%v while the upstream is busy = %q, want %q", cmd, r, busy)
		}
	}
	if st := upInfo(t, c, "l1_stored"); st != 0 {
		t.Fatalf("l1_stored %d while busy", st)
	}
	if r := string(other.Do("SCRIPT", "KILL")); r != "+OK\r\n" {
		t.Fatalf("SCRIPT KILL = %q", r)
	}
	if _, err := blocker.Read(); err != nil {
		t.Fatal(err)
	}
	misses := upInfo(t, c, "l1_misses")
	if r := string(c.Do("GET", "k")); r != l1Bulk("v") {
		t.Fatalf("GET after the script = %q", r)
	}
	if m := upInfo(t, c, "l1_misses"); m != misses+1 {
		t.Fatalf("the read after -BUSY was not a miss: l1_misses %d -> %d", misses, m)
	}
}
