package main

import (
	"strings"
	"testing"
)

// TestACLExecAgainstRedis: EXEC checks each queued command against the ACL rules in force
// when it runs (Redis's execCommand), against sidecache and redis-server: a user denied a
// command and a channel by ACL SETUSER from another connection, after MULTI queued them,
// gets NOPERM in their place while the rest of the transaction runs.
func TestACLExecAgainstRedis(t *testing.T) {
	for _, target := range []string{"sidecache", "redis"} {
		t.Run(target, func(t *testing.T) {
			var p *proc
			if target == "redis" {
				p = startRedis(t)
			} else {
				p = startSidecache(t)
			}
			aclExec(t, p.Addr)
		})
	}
}

func aclExec(t *testing.T, addr string) {
	admin, u := dialResp(t, addr), dialResp(t, addr)
	do := func(c *respConn, want string, args ...string) {
		t.Helper()
		if got := string(c.Do(args...)); got != want {
			t.Fatalf("%q:\n got %q\nwant %q", args, got, want)
		}
	}
	do(admin, "+OK\r\n", "ACL", "SETUSER", "u", "on", "nopass", "+@all", "~*", "&*")
	do(u, "+OK\r\n", "AUTH", "u", "x")
	do(u, "+OK\r\n", "MULTI")
	for _, args := range [][]string{{"GET", "k"}, {"SET", "k", "v"}, {"PUBLISH", "ch", "m"}, {"GET", "a1"}} {
		do(u, "+QUEUED\r\n", args...)
	}
	do(admin, "+OK\r\n", "ACL", "SETUSER", "u", "-get", "resetchannels", "&x")
	const refusal = "-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: "
	do(u, "*4\r\n"+refusal+"no permission to execute the command or subcommand\r\n"+"+OK\r\n"+
		refusal+"no permission to access one of the channels used as arguments\r\n"+
		refusal+"no permission to execute the command or subcommand\r\n", "EXEC")
	do(admin, "$1\r\nv\r\n", "GET", "k")
	v, err := parseValue(admin.Do("ACL", "LOG"))
	if err != nil || v.Kind != '*' || len(v.Elems) != 2 {
		t.Fatalf("ACL LOG: %v %+v", err, v)
	}
	// Newest first; the second GET refusal joined the first's entry (count 2) and moved it up.
	for i, want := range []string{"2 command multi get u", "1 channel multi ch u"} {
		var got []string
		e := v.Elems[i]
		for j := 0; j+1 < len(e.Elems); j += 2 {
			switch e.Elems[j].Str {
			case "count", "reason", "context", "object", "username":
				got = append(got, e.Elems[j+1].Str)
			}
		}
		if strings.Join(got, " ") != want {
			t.Errorf("ACL LOG entry %d: %q, want %q", i, got, want)
		}
	}
	if got := string(admin.Do("INFO", "errorstats")); !strings.Contains(got, "errorstat_NOPERM:count=3\r\n") {
		t.Errorf("INFO errorstats: %q", got)
	}
}
