package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestClientTypesAgainstRedis: CLIENT LIST TYPE and CLIENT KILL TYPE against sidecache and
// redis-server, which proves the scenario: a client subscribed to a channel, a pattern (in
// RESP3) or a shard channel is of type pubsub; a MONITOR client is normal, not a replica
// (Redis's getClientType).
func TestClientTypesAgainstRedis(t *testing.T) {
	for _, target := range []string{"sidecache", "redis"} {
		t.Run(target, func(t *testing.T) {
			var p *proc
			if target == "redis" {
				p = startRedis(t)
			} else {
				p = startSidecache(t)
			}
			clientTypes(t, p.Addr)
		})
	}
}

func clientTypes(t *testing.T, addr string) {
	admin := dialResp(t, addr)
	do := func(c *respConn, want string, args ...string) {
		t.Helper()
		if got := string(c.Do(args...)); got != want {
			t.Fatalf("%q:\n got %q\nwant %q", args, got, want)
		}
	}
	named := func(name string) (*respConn, string) {
		c := dialResp(t, addr)
		do(c, "+OK\r\n", "CLIENT", "SETNAME", name)
		id := strings.TrimSuffix(strings.TrimPrefix(string(c.Do("CLIENT", "ID")), ":"), "\r\n")
		return c, id
	}
	plain, _ := named("plain")
	sub, subID := named("sub")
	do(sub, "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n", "SUBSCRIBE", "ch")
	psub, _ := named("psub")
	if got := string(psub.Do("HELLO", "3")); !strings.HasPrefix(got, "%7\r\n") {
		t.Fatalf("HELLO 3: %q", got)
	}
	do(psub, ">3\r\n$10\r\npsubscribe\r\n$2\r\nx*\r\n:1\r\n", "PSUBSCRIBE", "x*")
	shard, _ := named("shard")
	do(shard, "*3\r\n$10\r\nssubscribe\r\n$2\r\nsc\r\n:1\r\n", "SSUBSCRIBE", "sc")
	mon, monID := named("mon")
	do(mon, "+OK\r\n", "MONITOR")

	names := func(args ...string) []string {
		t.Helper()
		v, err := parseValue(admin.Do(append([]string{"CLIENT", "LIST"}, args...)...))
		if err != nil || v.Kind != '$' {
			t.Fatalf("CLIENT LIST %q: %v %+v", args, err, v)
		}
		var out []string
		for line := range strings.SplitSeq(strings.TrimSpace(v.Str), "\n") {
			for kv := range strings.FieldsSeq(line) {
				if n, ok := strings.CutPrefix(kv, "name="); ok && n != "" {
					out = append(out, n)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	eq := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %q, want %q", what, got, want)
		}
	}
	eq("CLIENT LIST TYPE pubsub", names("TYPE", "pubsub"), []string{"psub", "shard", "sub"})
	eq("CLIENT LIST TYPE PUBSUB", names("TYPE", "PUBSUB"), []string{"psub", "shard", "sub"})
	eq("CLIENT LIST TYPE normal", names("TYPE", "normal"), []string{"mon", "plain"})
	eq("CLIENT LIST TYPE replica", names("TYPE", "replica"), nil)
	eq("CLIENT LIST TYPE slave", names("TYPE", "slave"), nil)
	eq("CLIENT LIST TYPE master", names("TYPE", "master"), nil)
	do(admin, "-ERR Unknown client type 'bogus'\r\n", "CLIENT", "LIST", "TYPE", "bogus")
	do(admin, "-ERR syntax error\r\n", "CLIENT", "LIST", "TYPE")
	do(admin, "-ERR syntax error\r\n", "CLIENT", "LIST", "TYPE", "normal", "ID", subID)
	do(admin, "-ERR syntax error\r\n", "CLIENT", "LIST", "ID")

	do(admin, ":0\r\n", "CLIENT", "KILL", "TYPE", "normal", "ID", subID)
	do(admin, ":0\r\n", "CLIENT", "KILL", "TYPE", "pubsub", "ID", monID)
	do(admin, ":0\r\n", "CLIENT", "KILL", "TYPE", "replica", "ID", monID)
	do(admin, ":0\r\n", "CLIENT", "KILL", "TYPE", "master", "ID", monID)
	do(admin, ":1\r\n", "CLIENT", "KILL", "TYPE", "normal", "ID", monID)
	do(admin, ":3\r\n", "CLIENT", "KILL", "TYPE", "pubsub")
	for name, c := range map[string]*respConn{"sub": sub, "psub": psub, "shard": shard} {
		if closed, b := c.Closed(ioTimeout); !closed {
			t.Errorf("%s survived CLIENT KILL TYPE pubsub (read %q)", name, b)
		}
	}
	do(plain, "+PONG\r\n", "PING")
	for deadline := time.Now().Add(ioTimeout); ; time.Sleep(5 * time.Millisecond) {
		got := names("TYPE", "normal")
		if slices.Equal(got, []string{"plain"}) && len(names("TYPE", "pubsub")) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the kills: normal %q, pubsub %q", got, names("TYPE", "pubsub"))
		}
	}
}
