package command

import (
	"strings"
	"testing"
	"time"
)

// exec runs args on cl and then drains its pushes, as netpoll does after each command.
func (h *harness) execOn(cl *Client, args ...string) string {
	h.t.Helper()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	out := h.s.Exec(cl, bs, h.now, nil)
	return string(cl.DrainPush(out))
}

func TestPubSubReplies(t *testing.T) {
	h := newHarness(t)
	sub, pub := h.c, h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	f := func(cl *Client, cmd, want string) {
		t.Helper()
		if got := h.execOn(cl, strings.Split(cmd, " ")...); got != want {
			t.Errorf("%s\n got %q\nwant %q", cmd, got, want)
		}
	}
	f(sub, "UNSUBSCRIBE", "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n")
	f(sub, "SUBSCRIBE a b a", "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n")
	f(sub, "PSUBSCRIBE a*", "*3\r\n$10\r\npsubscribe\r\n$2\r\na*\r\n:3\r\n")
	f(sub, "SSUBSCRIBE s", "*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n")
	f(sub, "GET k", "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n")
	f(sub, "PING", "*2\r\n$4\r\npong\r\n$0\r\n\r\n")
	f(sub, "PING x", "*2\r\n$4\r\npong\r\n$1\r\nx\r\n")
	f(pub, "PUBLISH a m", ":2\r\n")
	f(pub, "SPUBLISH s m", ":1\r\n")
	f(pub, "PUBLISH s m", ":0\r\n")
	if got := string(sub.DrainPush(nil)); got != "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n"+
		"*4\r\n$8\r\npmessage\r\n$2\r\na*\r\n$1\r\na\r\n$1\r\nm\r\n*3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$1\r\nm\r\n" {
		t.Errorf("messages %q", got)
	}
	f(pub, "PUBSUB NUMSUB a b c", "*6\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:1\r\n$1\r\nc\r\n:0\r\n")
	f(pub, "PUBSUB NUMPAT", ":1\r\n")
	f(pub, "PUBSUB SHARDNUMSUB s", "*2\r\n$1\r\ns\r\n:1\r\n")
	f(pub, "PUBSUB CHANNELS b*", "*1\r\n$1\r\nb\r\n")
	f(pub, "PUBSUB SHARDCHANNELS", "*1\r\n$1\r\ns\r\n")
	f(pub, "PUBSUB CHANNELS a b", "-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.\r\n")
	f(sub, "PUNSUBSCRIBE", "*3\r\n$12\r\npunsubscribe\r\n$2\r\na*\r\n:2\r\n")
	f(sub, "SUNSUBSCRIBE", "*3\r\n$12\r\nsunsubscribe\r\n$1\r\ns\r\n:0\r\n")
	f(sub, "UNSUBSCRIBE b a", "*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n")
	f(sub, "PING", "+PONG\r\n")
	if sub.NoTimeout() || sub.IsPubSub() {
		t.Error("unsubscribed client still marked subscribed")
	}

	// RESP3: pushes, no restriction; a message to oneself follows the command's reply (7.2).
	f(sub, "HELLO 3", h.execOn(sub, "HELLO", "3"))
	f(sub, "SUBSCRIBE a", ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n")
	if !sub.NoTimeout() || !sub.IsPubSub() {
		t.Error("subscribed client not exempt from the timeout")
	}
	f(sub, "GET k", "_\r\n")
	f(sub, "PUBLISH a self", ":1\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$4\r\nself\r\n")
	f(sub, "UNSUBSCRIBE", ">3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n")
}

// Messages queued before an unsubscription go out ahead of its confirmation.
func TestUnsubscribeDrainsFirst(t *testing.T) {
	h := newHarness(t)
	sub, pub := h.c, h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	h.execOn(sub, "SUBSCRIBE", "a")
	h.execOn(pub, "PUBLISH", "a", "queued") // sits in sub's queue: no loop drained it
	got := string(h.s.Exec(sub, [][]byte{[]byte("UNSUBSCRIBE"), []byte("a")}, h.now, nil))
	want := "*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$6\r\nqueued\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// A closed client leaves every channel and pattern.
func TestReleaseUnsubscribes(t *testing.T) {
	h := newHarness(t)
	sub, pub := h.c, h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	h.execOn(sub, "SUBSCRIBE", "a", "b")
	h.execOn(sub, "PSUBSCRIBE", "*")
	h.execOn(sub, "SSUBSCRIBE", "s")
	h.s.ReleaseClient(sub)
	if got := h.execOn(pub, "PUBLISH", "a", "x"); got != ":0\r\n" {
		t.Errorf("PUBLISH after close: %q", got)
	}
	if h.s.channels.NumChannels() != 0 || h.s.channels.NumPatterns() != 0 || h.s.shardChs.NumChannels() != 0 {
		t.Error("subscriptions left behind")
	}
}

func TestClientListPubSubFields(t *testing.T) {
	h := newHarness(t)
	sub := h.c
	h.execOn(sub, "SUBSCRIBE", "a", "b")
	h.execOn(sub, "PSUBSCRIBE", "p*")
	h.execOn(sub, "SSUBSCRIBE", "s")
	line := string(h.s.appendClientLine(nil, sub, h.now))
	for _, want := range []string{" flags=P ", " sub=2 psub=1 ssub=1 "} {
		if !strings.Contains(line, want) {
			t.Errorf("CLIENT LIST line %q lacks %q", line, want)
		}
	}
	info := h.execOn(h.s.NewClient("x:1", "y:2", false), "INFO", "stats")
	for _, want := range []string{"pubsub_channels:2\r\n", "pubsub_patterns:1\r\n", "pubsubshard_channels:1\r\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q", want)
		}
	}
}

func TestMonitorLine(t *testing.T) {
	h := newHarness(t)
	tm := time.Unix(1339518083, 7412000)
	f := func(cl *Client, want string, args ...string) {
		t.Helper()
		bs := make([][]byte, len(args))
		for i, a := range args {
			bs[i] = []byte(a)
		}
		cmd := h.s.lookupFull([]byte(strings.ToLower(args[0])))
		if got := string(h.s.appendMonitorLine(nil, cl, cmd, bs, tm)); got != want {
			t.Errorf("%q\n got %q\nwant %q", args, got, want)
		}
	}
	tcp := h.c
	f(tcp, "+1339518083.007412 [0 127.0.0.1:40000] \"keys\" \"*\"\r\n", "keys", "*")
	f(tcp, "+1339518083.007412 [0 127.0.0.1:40000] \"GET\" \"a\\x00b\\\"\\\\\\n\\r\\t\\a\\b\\xff \"\r\n", "GET", "a\x00b\"\\\n\r\t\a\b\xff ")
	f(tcp, "+1339518083.007412 [0 127.0.0.1:40000] \"AUTH\" \"(redacted)\" \"(redacted)\"\r\n", "AUTH", "u", "p")
	f(tcp, "+1339518083.007412 [0 127.0.0.1:40000] \"AUTH\" \"u\" \"p\" \"q\"\r\n", "AUTH", "u", "p", "q")
	f(tcp, "+1339518083.007412 [0 127.0.0.1:40000] \"HELLO\" \"3\" \"AUTH\" \"(redacted)\" \"(redacted)\" \"SETNAME\" \"n\"\r\n",
		"HELLO", "3", "AUTH", "u", "p", "SETNAME", "n")
	f(tcp, "+1339518083.007412 [0 127.0.0.1:40000] \"HELLO\" \"3\" \"bad\" \"AUTH\" \"u\" \"p\"\r\n", "HELLO", "3", "bad", "AUTH", "u", "p")
	f(tcp, "+1339518083.007412 [0 127.0.0.1:40000] \"HELLO\" \"9\" \"AUTH\" \"u\" \"p\"\r\n", "HELLO", "9", "AUTH", "u", "p")
	unix := h.s.NewClient("/tmp/s.sock:0", "/tmp/s.sock:0", true)
	unix.DB = 3
	f(unix, "+1339518083.007412 [3 unix:/tmp/s.sock] \"PING\"\r\n", "PING")
}

// MONITOR shows the commands that ran, after them, and not the refused or administrative
// ones; a second MONITOR is ignored without a reply; a monitor may not touch keys.
func TestMonitorFeed(t *testing.T) {
	h := newHarness(t)
	mon, cl := h.c, h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	if got := h.execOn(mon, "MONITOR"); got != "+OK\r\n" {
		t.Fatalf("MONITOR: %q", got)
	}
	if got := h.execOn(mon, "MONITOR"); got != "" {
		t.Fatalf("second MONITOR: %q", got)
	}
	for _, args := range [][]string{{"SET", "k", "v"}, {"NOSUCH"}, {"GET"}, {"CONFIG", "GET", "x"}, {"CLIENT", "LIST"}, {"CLIENT", "ID"}} {
		h.execOn(cl, args...)
	}
	lines := strings.SplitAfter(string(mon.DrainPush(nil)), "\r\n")
	var got []string
	for _, l := range lines {
		if i := strings.Index(l, "] "); i >= 0 {
			got = append(got, l[i+2:])
		}
	}
	if want := []string{"\"SET\" \"k\" \"v\"\r\n", "\"CLIENT\" \"ID\"\r\n"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("monitor got %q, want %q", got, want)
	}
	if got := h.execOn(mon, "GET", "k"); got != "-ERR Replica can't interact with the keyspace\r\n" {
		t.Errorf("GET from a monitor: %q", got)
	}
	if got := h.execOn(mon, "PING"); !strings.HasPrefix(got, "+PONG\r\n+") || !strings.HasSuffix(got, "\"PING\"\r\n") {
		t.Errorf("PING from a monitor: %q (its own line must follow its reply)", got)
	}
	h.s.ReleaseClient(mon)
	if h.s.nmon.Load() != 0 {
		t.Error("released monitor still listed")
	}
}

// While nobody monitors or subscribes, the hot path still allocates nothing (exec's gate
// and afterRun are a branch and two loads).
func TestPubSubHotPathAllocs(t *testing.T) {
	h := newHarness(t)
	other := h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	h.execOn(other, "SUBSCRIBE", "a") // subscriptions elsewhere change nothing for h.c
	h.run("set", "k", "v")
	args := [][]byte{[]byte("GET"), []byte("k")}
	out := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { out = h.s.Exec(h.c, args, h.now, out[:0]) }); n != 0 {
		t.Errorf("GET allocates %v times", n)
	}
}
