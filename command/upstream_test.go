package command

import (
	"strings"
	"testing"

	"github.com/sidecache/sidecache/protocol"
)

// recUpstream records what reaches the upstream side and answers at once, except GET of
// "slow", which it defers.
type recUpstream struct {
	calls   []string
	cluster bool
	deliver func([]byte)
	started int
}

func (u *recUpstream) Open(deliver func([]byte)) UpstreamConn {
	u.deliver = deliver
	return u
}
func (u *recUpstream) Cluster() bool { return u.cluster }
func (u *recUpstream) AppendInfo(dst []byte) []byte {
	return append(dst, "l1_mode:test\r\n"...)
}

func (u *recUpstream) Do(db int, proto protocol.Version, name string, args, keys [][]byte, write bool, now int64, out []byte) ([]byte, bool) {
	if name == "get" && string(args[1]) == "slow" {
		return out, true
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteString(" keys=")
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(k)
	}
	if write {
		b.WriteString(" write")
	}
	u.calls = append(u.calls, b.String())
	return protocol.AppendSimple(out, "UP"), false
}

func (u *recUpstream) Start() { u.started++ }

func TestUpstreamRouting(t *testing.T) {
	h := newHarness(t)
	up := &recUpstream{}
	h.s.SetUpstream(up)
	f := func(cmd, want, call string) {
		t.Helper()
		up.calls = nil
		if got := h.run(strings.Fields(cmd)...); got != want {
			t.Errorf("%s: %q, want %q", cmd, got, want)
		}
		got := strings.Join(up.calls, ";")
		if got != call {
			t.Errorf("%s reached the upstream as %q, want %q", cmd, got, call)
		}
	}
	f("GET k", "+UP\r\n", "get keys=k")
	f("MSET a 1 b 2", "+UP\r\n", "mset keys=a,b write")
	f("DEL a b", "+UP\r\n", "del keys=a,b write")
	f("OBJECT ENCODING k", "+UP\r\n", "object|encoding keys=k")
	f("DBSIZE", "+UP\r\n", "dbsize keys=")
	f("FLUSHALL", "+UP\r\n", "flushall keys= write")
	f("LPUSH l x", "+UP\r\n", " keys= write") // unknown to the table: passed through as is
	f("PING", "+PONG\r\n", "")
	f("ECHO x", "$1\r\nx\r\n", "")
	f("PUBLISH ch m", ":0\r\n", "")
	// recUpstream's connections run no transactions (no UpstreamTx).
	f("WATCH k", "-"+errUpstreamNoTx+"\r\n", "")
	f("MULTI", "+OK\r\n", "")
	f("LPUSH l x", "+QUEUED\r\n", "")
	f("EXEC", "-"+errUpstreamNoTx+"\r\n", "")
	f("GET", "-ERR wrong number of arguments for 'get' command\r\n", "")
	f("SELECT 3", "+OK\r\n", "")
	if h.c.DB != 3 {
		t.Fatalf("SELECT 3: db %d", h.c.DB)
	}
	if info := h.run("INFO", "upstream"); !strings.Contains(info, "# Upstream\r\nl1_mode:test\r\n") {
		t.Fatalf("INFO upstream: %q", info)
	}
}

func TestUpstreamDeferred(t *testing.T) {
	h := newHarness(t)
	up := &recUpstream{}
	h.s.SetUpstream(up)
	if got := h.run("GET", "slow"); got != "" || !h.c.Deferred || !h.c.Waiting() || up.started != 1 {
		t.Fatalf("deferred GET: %q deferred %v waiting %v started %d", got, h.c.Deferred, h.c.Waiting(), up.started)
	}
	resumed := 0
	h.c.SetResume(func() { resumed++ })
	up.deliver([]byte("$1\r\nv\r\n"))
	if h.c.Waiting() || resumed != 1 || string(h.c.DrainPush(nil)) != "$1\r\nv\r\n" {
		t.Fatalf("after delivery: waiting %v resumed %d", h.c.Waiting(), resumed)
	}
	// The next command resets the flag.
	if h.run("PING"); h.c.Deferred {
		t.Fatal("Deferred stayed set")
	}
	// CLIENT REPLY OFF applies to a deferred reply too.
	h.run("CLIENT", "REPLY", "OFF")
	h.run("GET", "slow")
	up.deliver([]byte("$1\r\nv\r\n"))
	if h.c.PushPending() {
		t.Fatal("a reply was queued under CLIENT REPLY OFF")
	}
}

func TestUpstreamUnknownNeedsAuth(t *testing.T) {
	h := newHarness(t)
	if err := h.cfg.Set("requirepass", "pw"); err != nil {
		t.Fatal(err)
	}
	c := h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	h.s.SetUpstream(&recUpstream{})
	if got := string(h.s.Exec(c, [][]byte{[]byte("LPUSH"), []byte("l"), []byte("x")}, h.now, nil)); got != "-NOAUTH Authentication required.\r\n" {
		t.Fatalf("unknown command before AUTH: %q", got)
	}
}

func TestUpstreamClusterSelect(t *testing.T) {
	h := newHarness(t)
	h.s.SetUpstream(&recUpstream{cluster: true})
	f := h.f()
	f("SELECT 0", "+OK\r\n")
	f("SELECT 1", "-ERR SELECT is not allowed in cluster mode\r\n")
}

// The upstream handler allocates nothing around an immediate answer (an L1 hit).
func TestUpstreamHandlerAllocs(t *testing.T) {
	h := newHarness(t)
	h.s.SetUpstream(&hitUpstream{})
	args := [][]byte{[]byte("GET"), []byte("k")}
	margs := [][]byte{[]byte("MGET"), []byte("a"), []byte("b")}
	out := make([]byte, 0, 64)
	out = h.s.Exec(h.c, args, h.now, out[:0])
	out = h.s.Exec(h.c, margs, h.now, out[:0])
	if n := testing.AllocsPerRun(200, func() {
		out = h.s.Exec(h.c, args, h.now, out[:0])
		out = h.s.Exec(h.c, margs, h.now, out[:0])
	}); n != 0 {
		t.Fatalf("%v allocations per GET+MGET", n)
	}
}

type hitUpstream struct{}

func (hitUpstream) Open(func([]byte)) UpstreamConn { return hitUpstream{} }
func (hitUpstream) Cluster() bool                  { return false }
func (hitUpstream) AppendInfo(dst []byte) []byte   { return dst }
func (hitUpstream) Do(db int, proto protocol.Version, name string, args, keys [][]byte, write bool, now int64, out []byte) ([]byte, bool) {
	return protocol.AppendSimple(out, "OK"), false
}
func (hitUpstream) Start() {}
