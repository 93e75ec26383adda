package command

import (
	"strconv"
	"strings"
	"testing"
)

// TestClientKillFilters checks which clients each filter picks, through the closers the
// network layer would install (the real closes are tested in netpoll).
func TestClientKillFilters(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	killed := map[int64]int{}
	add := func(addr, laddr string, unix bool, ageSec int64) *Client {
		c := h.s.NewClient(addr, laddr, unix)
		c.Created = testNow - ageSec*1000
		c.SetCloser(func() { killed[c.ID]++ })
		return c
	}
	h.c.Created = testNow
	a := add("10.0.0.1:1000", "127.0.0.1:6379", false, 10)
	b := add("10.0.0.2:2000", "127.0.0.1:6379", false, 100)
	u := add("/s.sock:0", "/s.sock:0", true, 1000)
	id := func(c *Client) string { return strconv.FormatInt(c.ID, 10) }

	f("client kill id "+id(a), ":1\r\n")
	f("client kill 10.0.0.2:2000", "+OK\r\n")
	f("client kill laddr /s.sock:0 maxage 500", ":1\r\n")
	if killed[a.ID] != 1 || killed[b.ID] != 1 || killed[u.ID] != 1 {
		t.Fatalf("closers called: %v", killed)
	}
	// The registry forgets a client only when its connection closes (ReleaseClient).
	for _, c := range []*Client{a, b, u} {
		h.s.ReleaseClient(c)
	}
	f("client kill 10.0.0.2:2000", "-ERR No such client\r\n")

	// MAXAGE: at least that old (Redis 7.4 spares only a younger client); TYPE normal and
	// USER default match everyone; SKIPME yes spares the caller, older than all of them.
	h.c.Created = testNow - 5000*1000
	a = add("10.0.0.1:1000", "127.0.0.1:6379", false, 10)
	b = add("10.0.0.2:2000", "127.0.0.1:6379", false, 100)
	f("client kill maxage 101", ":0\r\n")
	f("client kill maxage 100 type normal user default", ":1\r\n")
	if killed[b.ID] != 1 || killed[a.ID] != 0 {
		t.Fatalf("MAXAGE 100 closed %v", killed)
	}
	f("client kill maxage x", "-ERR maxage is not an integer or out of range\r\n")
	f("client kill maxage 0", "-ERR maxage should be greater than 0\r\n")
	f("client kill user nobody", "-ERR No such user 'nobody'\r\n")
	f("client kill type pubsub", ":0\r\n")
	if h.c.CloseAfterReply {
		t.Fatal("the caller was killed with SKIPME yes")
	}
	// SKIPME no: the caller closes after its reply, like QUIT.
	f("client kill addr 127.0.0.1:40000 skipme no", ":1\r\n")
	if !h.c.CloseAfterReply {
		t.Fatal("the caller was not marked to close")
	}
}

func TestClientNoEvict(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	flags := func() string {
		for _, kv := range strings.Fields(h.run("client", "info")) {
			if v, ok := strings.CutPrefix(kv, "flags="); ok {
				return v
			}
		}
		return ""
	}
	if h.c.NoEvict() || flags() != "N" {
		t.Fatalf("no-evict by default (flags=%s)", flags())
	}
	f("client no-evict on", "+OK\r\n")
	if !h.c.NoEvict() || flags() != "e" {
		t.Fatalf("NO-EVICT on: flags=%s", flags())
	}
	f("client no-evict OFF", "+OK\r\n")
	f("client no-evict maybe", "-ERR syntax error\r\n")
	if h.c.NoEvict() {
		t.Fatal("NO-EVICT still on")
	}
	u := h.s.NewClient("/s.sock:0", "/s.sock:0", true)
	u.noEvict.Store(true)
	line := string(h.s.appendClientLine(nil, u, testNow))
	if !strings.Contains(line, " flags=Ue ") {
		t.Fatalf("unix no-evict client: %s", line)
	}
}

// CLIENT LIST shows the buffer sizes the network layer published.
func TestClientListMemory(t *testing.T) {
	h := newHarness(t)
	h.c.SetMemory(26, 4096, 70000)
	line := string(h.s.appendClientLine(nil, h.c, testNow))
	for _, want := range []string{" qbuf=26 ", " omem=4096 ", " tot-mem=70000 "} {
		if !strings.Contains(line, want) {
			t.Errorf("%s lacks %q", line, want)
		}
	}
	if h.c.Memory() != 70000 {
		t.Fatalf("Memory() = %d", h.c.Memory())
	}
}

// TestClientTypeFilters: CLIENT KILL TYPE and CLIENT LIST TYPE sort clients as Redis's
// getClientType: subscribed (channel, pattern or shard channel) is pubsub, MONITOR normal.
func TestClientTypeFilters(t *testing.T) {
	h := newHarness(t)
	killed := map[int64]int{}
	add := func(sub ...string) *Client {
		c := h.s.NewClient("10.0.0.1:1", "127.0.0.1:6379", false)
		c.SetCloser(func() { killed[c.ID]++ })
		if len(sub) > 0 {
			execOn(h, c, sub...)
		}
		return c
	}
	plain, mon := add(), add("MONITOR")
	subs := []*Client{add("SUBSCRIBE", "c"), add("PSUBSCRIBE", "p*"), add("SSUBSCRIBE", "s")}
	id := func(c *Client) string { return strconv.FormatInt(c.ID, 10) }
	count := func(typ string) int {
		return strings.Count(h.run("client", "list", "type", typ), " addr=")
	}
	if n, m := count("pubsub"), count("normal"); n != 3 || m != 3 {
		t.Fatalf("CLIENT LIST TYPE pubsub: %d clients, normal: %d; want 3 and 3 (caller, plain, monitor)", n, m)
	}
	if got := h.run("client", "list", "type", "replica"); got != "$0\r\n\r\n" {
		t.Fatalf("CLIENT LIST TYPE replica: %q", got)
	}
	f := h.f()
	f("client kill type replica id "+id(mon), ":0\r\n")
	f("client kill type pubsub id "+id(mon), ":0\r\n")
	f("client kill type normal id "+id(subs[0]), ":0\r\n")
	f("client kill type pubsub", ":3\r\n")
	for _, c := range subs {
		if killed[c.ID] != 1 {
			t.Fatalf("TYPE pubsub spared subscribed client %d: %v", c.ID, killed)
		}
	}
	f("client kill type normal", ":2\r\n") // SKIPME yes: the caller stays
	if killed[plain.ID] != 1 || killed[mon.ID] != 1 || h.c.CloseAfterReply {
		t.Fatalf("TYPE normal closed %v (caller closing: %v)", killed, h.c.CloseAfterReply)
	}
	f("client list type bogus", "-ERR Unknown client type 'bogus'\r\n")
	f("client list type", "-ERR syntax error\r\n")
}
