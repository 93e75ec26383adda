package command

import (
	"sort"
	"strconv"
	"testing"
)

func TestDelExistsTouchType(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("mset a 1 b 2", "+OK\r\n")
	f("exists a a b c", ":3\r\n") // repeats count
	f("touch a b c", ":2\r\n")
	f("type a", "+string\r\n")
	f("type c", "+none\r\n")
	f("del a a c", ":1\r\n")
	f("unlink b", ":1\r\n")
	f("exists a b", ":0\r\n")
	f("del", "-ERR wrong number of arguments for 'del' command\r\n")
	if h.makeNonString("h") {
		f("type h", "+hash\r\n")
		f("del h", ":1\r\n")
	}
}

func TestDBSizeSelectFlush(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("dbsize", ":0\r\n")
	f("mset a 1 b 2", "+OK\r\n")
	f("dbsize", ":2\r\n")
	f("select 1", "+OK\r\n")
	f("dbsize", ":0\r\n")
	f("get a", "$-1\r\n")
	f("set a x", "+OK\r\n")
	f("select 16", "-ERR DB index is out of range\r\n")
	f("select -1", "-ERR DB index is out of range\r\n")
	f("select x", "-ERR value is not an integer or out of range\r\n")
	f("select 2147483648", "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n")
	f("flushdb", "+OK\r\n")
	f("dbsize", ":0\r\n")
	f("select 0", "+OK\r\n")
	f("dbsize", ":2\r\n")
	f("flushdb foo", "-ERR syntax error\r\n")
	f("flushdb sync x", "-ERR syntax error\r\n")
	f("flushall foo", "-ERR syntax error\r\n")
	f("flushdb ASYNC", "+OK\r\n")
	f("dbsize", ":0\r\n")
	f("set a 1", "+OK\r\n")
	f("select 3", "+OK\r\n")
	f("set a 1", "+OK\r\n")
	f("flushall sync", "+OK\r\n")
	f("dbsize", ":0\r\n")
	f("select 0", "+OK\r\n")
	f("dbsize", ":0\r\n")
}

func TestKeys(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("keys *", "*0\r\n")
	f("mset foo 1 fob 2 bar 3", "+OK\r\n")
	got := parseReply(t, h.run("keys", "*"))
	if len(got.Elems) != 3 {
		t.Fatalf("keys *: %d keys", len(got.Elems))
	}
	f("keys b*", "*1\r\n$3\r\nbar\r\n")
	f("keys fo[b]", "*1\r\n$3\r\nfob\r\n")
	f("keys x*", "*0\r\n")
	f("keys", "-ERR wrong number of arguments for 'keys' command\r\n")
}

// scanAll runs a full SCAN iteration with extra arguments and returns the keys, sorted.
func (h *harness) scanAll(extra ...string) []string {
	h.t.Helper()
	var keys []string
	cursor := "0"
	for i := 0; ; i++ {
		if i > 10000 {
			h.t.Fatal("SCAN does not end")
		}
		v := parseReply(h.t, h.run(append([]string{"scan", cursor}, extra...)...))
		if len(v.Elems) != 2 {
			h.t.Fatalf("SCAN reply: %+v", v)
		}
		cursor = string(v.Elems[0].Str)
		for _, k := range v.Elems[1].Elems {
			keys = append(keys, string(k.Str))
		}
		if cursor == "0" {
			break
		}
	}
	sort.Strings(keys)
	return keys
}

func TestScan(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("scan 0", "*2\r\n$1\r\n0\r\n*0\r\n")
	f("scan x", "-ERR invalid cursor\r\n")
	h.fa("-ERR invalid cursor\r\n", "scan", " 1")
	f("scan 1x", "-ERR invalid cursor\r\n")
	f("scan -", "-ERR invalid cursor\r\n")
	f("scan 18446744073709551616", "-ERR invalid cursor\r\n")
	f("scan 0 count 0", "-ERR syntax error\r\n")
	f("scan 0 count -1", "-ERR syntax error\r\n")
	f("scan 0 count x", "-ERR value is not an integer or out of range\r\n")
	f("scan 0 count", "-ERR syntax error\r\n")
	f("scan 0 match", "-ERR syntax error\r\n")
	f("scan 0 foo bar", "-ERR syntax error\r\n")
	f("scan", "-ERR wrong number of arguments for 'scan' command\r\n")
	for i := 0; i < 100; i++ {
		h.run("set", "key:"+strconv.Itoa(i), "v")
	}
	h.run("set", "other", "v")
	if got := h.scanAll(); len(got) != 101 {
		t.Fatalf("full scan: %d keys", len(got))
	}
	if got := h.scanAll("count", "7"); len(got) != 101 {
		t.Fatalf("full scan count 7: %d keys", len(got))
	}
	if got := h.scanAll("match", "oth*"); len(got) != 1 || got[0] != "other" {
		t.Fatalf("scan match: %q", got)
	}
	if got := h.scanAll("match", "key:1?", "count", "1000"); len(got) != 10 {
		t.Fatalf("scan match key:1?: %q", got)
	}
	if got := h.scanAll("type", "STRING"); len(got) != 101 {
		t.Fatalf("scan type string: %d", len(got))
	}
	if got := h.scanAll("type", "hash"); len(got) != 0 {
		t.Fatalf("scan type hash: %q", got)
	}
	if got := h.scanAll("type", "nosuchtype"); len(got) != 0 {
		t.Fatalf("scan type nosuchtype: %q", got)
	}
	// Cursors parse as strtoul does: an empty one is 0, a sign is accepted.
	if v := parseReply(t, h.run("scan", "", "count", "1000")); string(v.Elems[0].Str) != "0" || len(v.Elems[1].Elems) != 101 {
		t.Fatalf("scan '': %+v", v)
	}
	if v := parseReply(t, h.run("scan", "+0", "count", "1000")); len(v.Elems[1].Elems) != 101 {
		t.Fatalf("scan +0: %+v", v)
	}
}

func TestRandomKeyRename(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("randomkey", "$-1\r\n")
	f("set a 1", "+OK\r\n")
	f("randomkey", "$1\r\na\r\n")
	f("rename nokey x", "-ERR no such key\r\n")
	f("renamenx nokey x", "-ERR no such key\r\n")
	f("rename nokey nokey", "-ERR no such key\r\n")
	f("rename a a", "+OK\r\n")
	f("renamenx a a", ":0\r\n")
	f("setex a 100 v", "+OK\r\n")
	f("rename a b", "+OK\r\n")
	f("exists a", ":0\r\n")
	f("get b", "$1\r\nv\r\n")
	f("ttl b", ":100\r\n") // the TTL moves with the key
	f("set c 1", "+OK\r\n")
	f("renamenx b c", ":0\r\n")
	f("renamenx b d", ":1\r\n")
	f("rename d c", "+OK\r\n")
	f("get c", "$1\r\nv\r\n")
	h.c.Proto = 3
	f("flushdb", "+OK\r\n")
	f("randomkey", "_\r\n")
}
