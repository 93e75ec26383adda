package command

import (
	"strings"
	"testing"

	"github.com/sidecache/sidecache/protocol"
)

// execAll parses every command in req and executes it, appending the replies to out, as
// netpoll does for one read.
func execAll(tb testing.TB, s *Server, c *Client, p *protocol.Parser, req []byte, now int64, out []byte) []byte {
	for len(req) > 0 {
		args, n, err := p.Parse(req)
		if err != nil || n == 0 {
			tb.Fatalf("parse: n=%d err=%v", n, err)
		}
		out = s.Exec(c, args, now, out)
		req = req[n:]
	}
	return out
}

// TestHotPathAllocs: DESIGN invariant 4. Parsing the raw request, executing it and encoding
// the reply into a reused buffer allocates nothing for GET, SET, INCR and MGET.
func TestHotPathAllocs(t *testing.T) {
	h := newHarness(t)
	h.run("set", "k", "value")
	h.run("set", "k2", "value2")
	p := protocol.NewParser(protocol.DefaultLimits())
	out := make([]byte, 0, 4096)
	raw := func(name, want string, req []byte) {
		t.Helper()
		if got := string(execAll(t, h.s, h.c, p, req, h.now, out[:0])); got != want {
			t.Fatalf("%s: got %q want %q", name, got, want)
		}
		if n := testing.AllocsPerRun(200, func() {
			out = execAll(t, h.s, h.c, p, req, h.now, out[:0])
		}); n != 0 {
			t.Errorf("%s: %v allocations per run", name, n)
		}
	}
	f := func(name string, want string, args ...string) {
		t.Helper()
		bs := make([][]byte, len(args))
		for i, a := range args {
			bs[i] = []byte(a)
		}
		raw(name, want, protocol.AppendCommand(nil, bs...))
	}
	f("GET", "$5\r\nvalue\r\n", "GET", "k")
	f("GET missing", "$-1\r\n", "GET", "missing")
	f("SET", "+OK\r\n", "SET", "k", "value")
	f("SET EX", "+OK\r\n", "SET", "k3", "value", "EX", "100")
	f("MGET", "*3\r\n$5\r\nvalue\r\n$6\r\nvalue2\r\n$-1\r\n", "MGET", "k", "k2", "nokey")
	f("INCR", ":1\r\n", "INCR", "n") // the reply check runs once, before the measured runs
	f("PING", "+PONG\r\n", "PING")
	raw("inline GET", "$5\r\nvalue\r\n", []byte("GET k\r\n"))
	raw("pipelined SET GET", "+OK\r\n$1\r\nv\r\n", []byte("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\n"))
	h.run("hset", "h", "f", "value")
	f("HGET", "$5\r\nvalue\r\n", "HGET", "h", "f")
	f("HGET missing field", "$-1\r\n", "HGET", "h", "nofield")
	f("HSET overwrite", ":0\r\n", "HSET", "h", "f", "value")
	h.c.Proto = protocol.RESP3
	f("GET RESP3 missing", "_\r\n", "GET", "missing")
}

// TestCommandsAllocNothing: beyond the hot path, the fixed-size string, key and expiry
// commands allocate nothing either (through Exec; a reused reply buffer).
func TestCommandsAllocNothing(t *testing.T) {
	h := newHarness(t)
	h.run("set", "k", "value")
	out := make([]byte, 0, 4096)
	f := func(cmd string) {
		t.Helper()
		parts := strings.Split(cmd, " ")
		args := make([][]byte, len(parts))
		for i, p := range parts {
			args[i] = []byte(p)
		}
		if n := testing.AllocsPerRun(100, func() { out = h.s.Exec(h.c, args, h.now, out[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations per run", cmd, n)
		}
	}
	f("strlen k")
	f("getrange k 0 2")
	f("exists k k nokey")
	f("touch k")
	f("type k")
	f("ttl k")
	f("expire k 100")
	f("persist k")
	f("del nokey")
	f("incrby n 5")
	f("decrby n 5")
	f("setrange k 0 v")
	f("getdel nokey")
	f("getex k")
	f("setex k 100 value")
	f("set k value get")
	f("mset a 1 b 2")
	f("ping")
	f("echo x")
	f("select 0")
	f("dbsize")
	// bitmaps: reads work on the arena bytes under the lock, SETBIT and BITFIELD in place
	f("getbit k 3")
	f("getbit nokey 3")
	f("bitcount k")
	f("bitcount k 1 -1 bit")
	f("bitcount nokey 0")
	f("bitpos k 1 0 -1")
	f("setbit k 3 1")
	f("bitfield k get u8 0 incrby i5 3 1")
	// hashes: reads copy from the blob under the lock, same-size writes go in place
	h.run("hset", "h", "f", "value", "n", "1")
	f("hget h f")
	f("hget nokey f")
	f("hexists h f")
	f("hstrlen h f")
	f("hlen h")
	f("hmget h f nofield n")
	f("hset h f value")
	f("hincrby h n 1")
	f("hdel h nofield")
}
