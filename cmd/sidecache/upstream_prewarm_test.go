package main

// Prewarm at start-up in upstream mode, against a real redis-server.

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// upInfoText reads a text field of INFO upstream.
func upInfoText(t *testing.T, c *respConn, field string) string {
	t.Helper()
	for _, line := range strings.Split(string(c.Do("INFO", "upstream")), "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO upstream has no %s", field)
	return ""
}

// Keys on the upstream before the sidecar starts are L1 hits once the prewarm is done
// (/ready waits for it with prewarm-ready); keys outside the pattern are not warmed; a
// later upstream write invalidates a prewarmed key.
func TestUpstreamPrewarmMatch(t *testing.T) {
	up := startRedis(t)
	u := dialResp(t, up.Addr)
	const n = 300
	for i := 0; i < n; i++ {
		u.Do("SET", "p:"+strconv.Itoa(i), "v"+strconv.Itoa(i))
	}
	u.Do("HSET", "p:h", "f", "1", "g", "2")
	u.Do("LPUSH", "p:list", "x") // not a type L1 holds: skipped
	u.Do("SET", "other", "o")
	s := startServerEnv(t, nil, "--upstream", "redis://"+up.Addr, "--prewarm-keys", "10000",
		"--prewarm-match", "p:*", "--prewarm-rate", "0", "--prewarm-ready", "yes")
	c := dialResp(t, s.Addr)
	l1Eventually(t, "/ready after the prewarm", func() bool {
		return httpStatus(t, "http://"+s.admin+"/ready") == 200
	})
	if st := upInfoText(t, c, "prewarm_state"); st != "done" {
		t.Fatalf("prewarm_state %s", st)
	}
	if k := upInfo(t, c, "prewarm_keys"); k != n+1 {
		t.Fatalf("prewarm_keys %d, want %d", k, n+1)
	}
	if st := upInfo(t, c, "l1_stored"); st != n+1 {
		t.Fatalf("l1_stored %d, want %d", st, n+1)
	}
	for i := 0; i < n; i++ {
		if r := string(c.Do("GET", "p:"+strconv.Itoa(i))); r != l1Bulk("v"+strconv.Itoa(i)) {
			t.Fatalf("GET p:%d = %q", i, r)
		}
	}
	if r := string(c.Do("HGET", "p:h", "g")); r != l1Bulk("2") {
		t.Fatalf("HGET = %q", r)
	}
	if h, m := upInfo(t, c, "l1_hits"), upInfo(t, c, "l1_misses"); h != n+1 || m != 0 {
		t.Fatalf("after the prewarm: l1_hits %d l1_misses %d, want %d 0", h, m, n+1)
	}
	c.Do("GET", "other")
	if m := upInfo(t, c, "l1_misses"); m != 1 {
		t.Fatalf("a key outside prewarm-match: l1_misses %d, want 1", m)
	}
	// The prewarm's reads were tracked: an upstream write reaches the sidecar.
	u.Do("SET", "p:7", "changed")
	l1Eventually(t, "the invalidation of a prewarmed key", func() bool {
		return string(c.Do("GET", "p:7")) == l1Bulk("changed")
	})
	if inv := upInfo(t, c, "invalidations_received"); inv < 1 {
		t.Fatalf("invalidations_received %d", inv)
	}
}

// prewarm-file lists the keys; prewarm-keys bounds them; a missing key is remembered as
// missing (a nil hit).
func TestUpstreamPrewarmFile(t *testing.T) {
	up := startRedis(t)
	u := dialResp(t, up.Addr)
	var list []string
	for i := 0; i < 50; i++ {
		k := "f:" + strconv.Itoa(i)
		u.Do("SET", k, "v")
		list = append(list, k)
	}
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte(strings.Join(list, "\n")+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServerEnv(t, nil, "--upstream", "redis://"+up.Addr, "--prewarm-keys", "20",
		"--prewarm-file", file, "--prewarm-ready", "yes")
	c := dialResp(t, s.Addr)
	l1Eventually(t, "/ready after the prewarm", func() bool {
		return httpStatus(t, "http://"+s.admin+"/ready") == 200
	})
	if k := upInfo(t, c, "prewarm_keys"); k != 20 {
		t.Fatalf("prewarm_keys %d, want 20 (prewarm-keys)", k)
	}
	for i := 0; i < 20; i++ {
		c.Do("GET", list[i])
	}
	if h, m := upInfo(t, c, "l1_hits"), upInfo(t, c, "l1_misses"); h != 20 || m != 0 {
		t.Fatalf("l1_hits %d l1_misses %d, want 20 0", h, m)
	}
	c.Do("GET", list[20])
	if m := upInfo(t, c, "l1_misses"); m != 1 {
		t.Fatalf("past prewarm-keys: l1_misses %d, want 1", m)
	}
}

// Serving starts before the prewarm ends: a slow prewarm (rate-bounded) does not hold up
// commands, and /ready waits for it only with prewarm-ready.
func TestUpstreamPrewarmServesAtOnce(t *testing.T) {
	up := startRedis(t)
	u := dialResp(t, up.Addr)
	for i := 0; i < 200; i++ {
		u.Do("SET", "s:"+strconv.Itoa(i), "v")
	}
	// 200 keys at 20 a second: about 10 s of prewarm, far longer than what follows.
	s := startServerEnv(t, nil, "--upstream", "redis://"+up.Addr, "--prewarm-keys", "1000",
		"--prewarm-rate", "20", "--prewarm-ready", "yes")
	c := dialResp(t, s.Addr)
	if r := string(c.Do("GET", "s:199")); r != l1Bulk("v") {
		t.Fatalf("GET during the prewarm = %q", r)
	}
	if st := upInfoText(t, c, "prewarm_state"); st != "running" {
		t.Fatalf("prewarm_state %s, want running", st)
	}
	if code := httpStatus(t, "http://"+s.admin+"/ready"); code != 503 {
		t.Fatalf("/ready during the prewarm with prewarm-ready: %d", code)
	}
	s2 := startServerEnv(t, nil, "--upstream", "redis://"+up.Addr, "--prewarm-keys", "1000",
		"--prewarm-rate", "20")
	if code := httpStatus(t, "http://"+s2.admin+"/ready"); code != 200 {
		t.Fatalf("/ready during the prewarm without prewarm-ready: %d", code)
	}
}

// prewarm-db fills each listed database in turn through that database's client: a key
// of the same name in databases 0 and 2 is warmed in each with its own value, SELECT 2
// reads database 2's entries as hits, prewarm_keys counts across databases, and an
// upstream write in database 2 invalidates its warmed entry (the read was tracked).
func TestUpstreamPrewarmDBs(t *testing.T) {
	up := startRedis(t)
	u := dialResp(t, up.Addr)
	const n = 40
	for _, db := range []string{"0", "2"} {
		u.Do("SELECT", db)
		for i := 0; i < n; i++ {
			u.Do("SET", "d:"+strconv.Itoa(i), "db"+db+"-"+strconv.Itoa(i))
		}
	}
	u.Do("HSET", "d:h", "f", "two") // database 2
	u.Do("SELECT", "1")
	u.Do("SET", "d:one", "1") // database 1 is not listed
	s := startServerEnv(t, nil, "--upstream", "redis://"+up.Addr, "--prewarm-keys", "10000",
		"--prewarm-match", "d:*", "--prewarm-db", "0,2", "--prewarm-rate", "0", "--prewarm-ready", "yes")
	c := dialResp(t, s.Addr)
	l1Eventually(t, "/ready after the prewarm", func() bool {
		return httpStatus(t, "http://"+s.admin+"/ready") == 200
	})
	if st := upInfoText(t, c, "prewarm_state"); st != "done" {
		t.Fatalf("prewarm_state %s", st)
	}
	if k := upInfo(t, c, "prewarm_keys"); k != 2*n+1 {
		t.Fatalf("prewarm_keys %d, want %d (both databases)", k, 2*n+1)
	}
	if r := string(c.Do("SELECT", "2")); r != "+OK\r\n" {
		t.Fatalf("SELECT 2 = %q", r)
	}
	for i := 0; i < n; i++ {
		if r := string(c.Do("GET", "d:"+strconv.Itoa(i))); r != l1Bulk("db2-"+strconv.Itoa(i)) {
			t.Fatalf("db 2: GET d:%d = %q", i, r)
		}
	}
	if r := string(c.Do("HGET", "d:h", "f")); r != l1Bulk("two") {
		t.Fatalf("db 2: HGET = %q", r)
	}
	if h, m := upInfo(t, c, "l1_hits"), upInfo(t, c, "l1_misses"); h != n+1 || m != 0 {
		t.Fatalf("db 2 after the prewarm: l1_hits %d l1_misses %d, want %d 0", h, m, n+1)
	}
	c.Do("SELECT", "0")
	if r := string(c.Do("GET", "d:3")); r != l1Bulk("db0-3") {
		t.Fatalf("db 0: GET d:3 = %q", r)
	}
	c.Do("SELECT", "1")
	c.Do("GET", "d:one")
	if h, m := upInfo(t, c, "l1_hits"), upInfo(t, c, "l1_misses"); h != n+2 || m != 1 {
		t.Fatalf("db 0 hit, db 1 (not listed) miss: l1_hits %d l1_misses %d, want %d 1", h, m, n+2)
	}
	u.Do("SELECT", "2")
	u.Do("SET", "d:7", "changed")
	c.Do("SELECT", "2")
	l1Eventually(t, "the invalidation of a key prewarmed in database 2", func() bool {
		return string(c.Do("GET", "d:7")) == l1Bulk("changed")
	})
	if inv := upInfo(t, c, "invalidations_received"); inv < 1 {
		t.Fatalf("invalidations_received %d", inv)
	}
	// prewarm-keys bounds the databases together: database 0's keys leave 10 for database 2.
	s2 := startServerEnv(t, nil, "--upstream", "redis://"+up.Addr, "--prewarm-keys", strconv.Itoa(n+10),
		"--prewarm-match", "d:*", "--prewarm-db", "0 2", "--prewarm-rate", "0", "--prewarm-ready", "yes")
	c2 := dialResp(t, s2.Addr)
	l1Eventually(t, "/ready after the bounded prewarm", func() bool {
		return httpStatus(t, "http://"+s2.admin+"/ready") == 200
	})
	if st, k := upInfoText(t, c2, "prewarm_state"), upInfo(t, c2, "prewarm_keys"); st != "done" || k != n+10 {
		t.Fatalf("prewarm_state %s prewarm_keys %d, want done %d (prewarm-keys)", st, k, n+10)
	}
}

// prewarm-db outside databases, or other than 0 with a cluster upstream, stops the start
// with the setting named, before the upstream is dialed.
func TestUpstreamPrewarmDBStartupErrors(t *testing.T) {
	bin := sidecacheBinary(t)
	f := func(want string, args ...string) {
		t.Helper()
		all := append([]string{"--port", strconv.Itoa(freePort(t)), "--bind", "127.0.0.1", "--admin-addr", "",
			"--upstream", "redis://127.0.0.1:1", "--prewarm-keys", "10"}, args...)
		out, err := runBounded(exec.Command(bin, all...), 10*time.Second)
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(out, want) {
			t.Errorf("sidecache %q: err=%v out=%q, want a failure with %q", args, err, out, want)
		}
	}
	f("prewarm-db: database 2 with upstream-cluster yes: a Redis Cluster has database 0 only",
		"--upstream-cluster", "yes", "--prewarm-db", "0,2")
	f("prewarm-db: database 4 is out of range (databases is 4)", "--databases", "4", "--prewarm-db", "4")
	f("prewarm-db", "--prewarm-db", "x")
}
