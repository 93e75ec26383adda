package command

import (
	"strings"
	"testing"
)

// TestACLExecRecheck: EXEC checks each queued command against the rules in force when it
// runs, as Redis's execCommand: a command revoked by ACL SETUSER from another connection
// after it was queued answers NOPERM in its place, the others run, and the refusal is
// logged (context "multi") and counted as an error reply.
func TestACLExecRecheck(t *testing.T) {
	h := newHarness(t)
	h.fa("+OK\r\n", "acl", "setuser", "u", "on", "nopass", "+@all", "~*", "&*")
	c := login(h, "u", "x")
	for _, args := range [][]string{{"multi"}, {"get", "k"}, {"set", "k", "v"}, {"publish", "ch", "m"}, {"get", "a1"}} {
		want := "+QUEUED\r\n"
		if args[0] == "multi" {
			want = "+OK\r\n"
		}
		if got := runAs(h, c, args...); got != want {
			t.Fatalf("%q: %q", args, got)
		}
	}
	h.fa("+OK\r\n", "acl", "setuser", "u", "-get", "resetchannels", "&x")
	const refusal = "-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: "
	want := "*4\r\n" + refusal + "no permission to execute the command or subcommand\r\n" + "+OK\r\n" +
		refusal + "no permission to access one of the channels used as arguments\r\n" +
		refusal + "no permission to execute the command or subcommand\r\n"
	if got := runAs(h, c, "exec"); got != want {
		t.Fatalf("EXEC:\n got %q\nwant %q", got, want)
	}
	if got := runAs(h, c, "get", "k"); !strings.HasPrefix(got, "-NOPERM ") {
		t.Fatalf("GET after EXEC: %q", got)
	}
	h.fa("$1\r\nv\r\n", "get", "k") // the SET in between ran
	log := h.run("acl", "log")
	for _, s := range []string{"$7\r\ncontext\r\n$5\r\nmulti\r\n$6\r\nobject\r\n$3\r\nget\r\n", "$7\r\nchannel\r\n$7\r\ncontext\r\n$5\r\nmulti\r\n$6\r\nobject\r\n$2\r\nch\r\n"} {
		if !strings.Contains(log, s) {
			t.Errorf("ACL LOG lacks %q:\n%s", s, log)
		}
	}
	if got := h.run("info", "errorstats"); !strings.Contains(got, "errorstat_NOPERM:count=4\r\n") {
		t.Errorf("INFO errorstats: %q", got)
	}
	// Key permissions too, and a transaction that is still allowed runs unchanged.
	h.fa("+OK\r\n", "acl", "setuser", "u", "+get")
	runAs(h, c, "multi")
	runAs(h, c, "get", "k")
	runAs(h, c, "get", "a1")
	h.fa("+OK\r\n", "acl", "setuser", "u", "resetkeys", "~a*")
	if got := runAs(h, c, "exec"); got != "*2\r\n"+refusal+"no permission to touch the specified keys\r\n$-1\r\n" {
		t.Fatalf("EXEC after the keys changed: %q", got)
	}
}
