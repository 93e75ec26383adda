package command

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sidecache/sidecache/protocol"
)

// txUpstream is a recUpstream whose connections run transactions: it records Watch, Exec
// (each command as name, args, and local reply when run here) and EndTx.
type txUpstream struct{ recUpstream }

func (u *txUpstream) Open(deliver func([]byte)) UpstreamConn {
	u.deliver = deliver
	return u
}

func (u *txUpstream) Watch(db int, proto protocol.Version, args [][]byte) {
	u.calls = append(u.calls, fmt.Sprintf("watch db=%d %q", db, args[1:]))
}

func (u *txUpstream) Exec(db int, proto protocol.Version, cmds []UpstreamTxCmd) {
	var parts []string
	for _, x := range cmds {
		if x.IsLocal {
			parts = append(parts, "local="+strings.TrimSpace(string(x.Local)))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s%q keys=%q w=%v", x.Name, x.Args, x.Keys, x.Write))
	}
	u.calls = append(u.calls, fmt.Sprintf("exec db=%d [%s]", db, strings.Join(parts, "; ")))
}

func (u *txUpstream) EndTx() { u.calls = append(u.calls, "end") }

func TestUpstreamTxRouting(t *testing.T) {
	h := newHarness(t)
	up := &txUpstream{}
	h.s.SetUpstream(up)
	f := func(cmd, want, call string) {
		t.Helper()
		up.calls = nil
		got := h.run(strings.Fields(cmd)...)
		if got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
		h.c.Deferred = false
		if got := strings.Join(up.calls, ";"); got != call {
			t.Errorf("%s reached the upstream as %q, want %q", cmd, got, call)
		}
	}
	f("WATCH a b", "", `watch db=0 ["a" "b"]`) // deferred
	f("MULTI", "+OK\r\n", "")
	f("SET a 1", "+QUEUED\r\n", "")
	f("PING", "+QUEUED\r\n", "")
	f("LPUSH l x", "+QUEUED\r\n", "")
	f("WATCH c", "-ERR WATCH inside MULTI is not allowed\r\n", "")
	f("EXEC", "", `exec db=0 [set["SET" "a" "1"] keys=["a"] w=true; local=+PONG; ["LPUSH" "l" "x"] keys=[] w=true]`+";end")
	f("MULTI", "+OK\r\n", "")
	f("DISCARD", "+OK\r\n", "end")
	f("WATCH a", "", `watch db=0 ["a"]`)
	f("UNWATCH", "+OK\r\n", "end")
	// Nothing for the upstream: EXEC runs here.
	f("MULTI", "+OK\r\n", "")
	f("PING", "+QUEUED\r\n", "")
	f("EXEC", "*1\r\n+PONG\r\n", "end")
	// A refused command aborts the transaction here.
	f("MULTI", "+OK\r\n", "")
	f("GET", "-ERR wrong number of arguments for 'get' command\r\n", "")
	f("EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n", "end")
	f("MULTI", "+OK\r\n", "")
	f("SELECT 2", "+QUEUED\r\n", "")
	f("EXEC", "-"+errUpstreamSelectInMulti+"\r\n", "end")
	f("WATCH a", "", `watch db=0 ["a"]`)
	up.calls = nil
	h.s.ReleaseClient(h.c)
	if got := strings.Join(up.calls, ";"); got != "end" {
		t.Fatalf("a closing client: %q", got)
	}
}
