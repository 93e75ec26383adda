package command

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/sidecache/sidecache/protocol"
)

// Replies checked against redis-server 7.0.15 (the differential script
// cmd/sidecache/testdata/diff/hashes.txt covers them on the wire too).
func TestHashCommands(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("HSET h a 1 b 2 a 3", ":2\r\n")
	f("HSET h a", "-ERR wrong number of arguments for 'hset' command\r\n")
	f("HSET h a 1 b", "-ERR wrong number of arguments for 'hset' command\r\n")
	f("HMSET h a 1 b", "-ERR wrong number of arguments for 'hmset' command\r\n")
	f("HMSET h c 4", "+OK\r\n")
	f("HSETNX h c 5", ":0\r\n")
	f("HSETNX h d 5", ":1\r\n")
	f("HGET h a", "$1\r\n3\r\n")
	f("HGET h zz", "$-1\r\n")
	f("HMGET h a zz d", "*3\r\n$1\r\n3\r\n$-1\r\n$1\r\n5\r\n")
	f("HMGET nokey a b", "*2\r\n$-1\r\n$-1\r\n")
	f("HGETALL h", "*8\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n4\r\n$1\r\nd\r\n$1\r\n5\r\n")
	f("HKEYS h", "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n")
	f("HVALS h", "*4\r\n$1\r\n3\r\n$1\r\n2\r\n$1\r\n4\r\n$1\r\n5\r\n")
	f("HGETALL nokey", "*0\r\n")
	f("HLEN h", ":4\r\n")
	f("HEXISTS h a", ":1\r\n")
	f("HEXISTS h zz", ":0\r\n")
	f("HSTRLEN h a", ":1\r\n")
	f("HSTRLEN nokey a", ":0\r\n")
	f("HINCRBY h a 10", ":13\r\n")
	f("HINCRBY h a x", "-ERR value is not an integer or out of range\r\n")
	f("HINCRBY h a 9223372036854775807", "-ERR increment or decrement would overflow\r\n")
	f("HINCRBY h b 1.5", "-ERR value is not an integer or out of range\r\n")
	f("HSET h s abc", ":1\r\n")
	f("HINCRBY h s 1", "-ERR hash value is not an integer\r\n")
	f("HINCRBYFLOAT h s 1", "-ERR hash value is not a float\r\n")
	f("HINCRBYFLOAT h a 0.5", "$4\r\n13.5\r\n")
	f("HINCRBYFLOAT h a inf", "-ERR value is NaN or Infinity\r\n")
	f("HINCRBYFLOAT h a x", "-ERR value is not a valid float\r\n")
	f("HDEL h a zz a", ":1\r\n")
	f("TYPE h", "+hash\r\n")
	f("OBJECT ENCODING h", "$8\r\nlistpack\r\n")
	f("HDEL h b c d s", ":4\r\n")
	f("EXISTS h", ":0\r\n")
	f("HSCAN nokey 0", "*2\r\n$1\r\n0\r\n*0\r\n")
	f("HSCAN nokey 0 COUNT 0", "*2\r\n$1\r\n0\r\n*0\r\n")
	f("HSCAN nokey x", "-ERR invalid cursor\r\n")
	f("HSET h a 1 b 2", ":2\r\n")
	f("HSCAN h 99 COUNT 1", "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n")
	f("HSCAN h 0 MATCH b", "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n")
	f("HSCAN h 0 COUNT 0", "-ERR syntax error\r\n")
	f("HSCAN h 0 COUNT x", "-ERR value is not an integer or out of range\r\n")
	f("HSCAN h 0 NOVALUES", "-ERR syntax error\r\n")
	f("HRANDFIELD nokey", "$-1\r\n")
	f("HRANDFIELD nokey 3", "*0\r\n")
	f("HRANDFIELD h 0", "*0\r\n")
	f("HRANDFIELD h 5", "*2\r\n$1\r\na\r\n$1\r\nb\r\n")
	f("HRANDFIELD h 5 WITHVALUES", "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n")
	f("HRANDFIELD h 1 WITHVALUESX", "-ERR syntax error\r\n")
	f("HRANDFIELD h 1 WITHVALUES x", "-ERR syntax error\r\n")
	f("HRANDFIELD h -0", "-ERR value is not an integer or out of range\r\n")
	f("HRANDFIELD h -9223372036854775808", "-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n")
	f("HRANDFIELD h -4611686018427387904 WITHVALUES", "-ERR value is out of range\r\n")
	f("SET s v", "+OK\r\n")
	for _, cmd := range []string{"HSET s f v", "HGET s f", "HMGET s f", "HGETALL s", "HDEL s f", "HLEN s",
		"HEXISTS s f", "HSTRLEN s f", "HKEYS s", "HVALS s", "HINCRBY s f 1", "HINCRBYFLOAT s f 1",
		"HRANDFIELD s", "HRANDFIELD s 2", "HSCAN s 0", "HSCAN s 0 COUNT 0", "HSETNX s f v", "HMSET s f v"} {
		f(cmd, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
	}
	f("HINCRBY s f x", "-ERR value is not an integer or out of range\r\n") // before the type
	f("HINCRBYFLOAT s f x", "-ERR value is not a valid float\r\n")
	f("HRANDFIELD s x", "-ERR value is not an integer or out of range\r\n")

	h.c.Proto = protocol.RESP3
	f("HGETALL h", "%2\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n")
	f("HGETALL nokey", "%0\r\n")
	f("HKEYS nokey", "*0\r\n")
	f("HGET h zz", "_\r\n")
	f("HMGET h a zz", "*2\r\n$1\r\n1\r\n_\r\n")
	f("HRANDFIELD nokey", "_\r\n")
	f("HRANDFIELD nokey 1", "*0\r\n")
	f("HRANDFIELD h 5 WITHVALUES", "*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n")
	f("HSCAN h 0", "*2\r\n$1\r\n0\r\n*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n")
}

// TestHashEncodingConfig: CONFIG SET of the listpack limits (or their ziplist aliases)
// reaches the engine; OBJECT ENCODING and MEMORY USAGE follow the hash.
func TestHashEncodingConfig(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("CONFIG SET hash-max-ziplist-entries 3", "+OK\r\n")
	f("CONFIG GET hash-max-listpack-entries", "*2\r\n$25\r\nhash-max-listpack-entries\r\n$1\r\n3\r\n")
	f("HSET h a 1 b 2 c 3", ":3\r\n")
	f("OBJECT ENCODING h", "$8\r\nlistpack\r\n")
	small := h.run("MEMORY", "USAGE", "h")
	f("HSET h d 4", ":1\r\n")
	f("OBJECT ENCODING h", "$9\r\nhashtable\r\n")
	f("CONFIG SET hash-max-listpack-entries 512", "+OK\r\n")
	f("CONFIG SET hash-max-listpack-value 2", "+OK\r\n")
	f("HSET v a 12", ":1\r\n")
	f("HSET w a 123", ":1\r\n")
	f("OBJECT ENCODING v", "$8\r\nlistpack\r\n")
	f("OBJECT ENCODING w", "$9\r\nhashtable\r\n")
	f("CONFIG SET hash-max-listpack-value 64", "+OK\r\n")
	for i := 0; i < 2000; i++ {
		h.run("HSET", "big", "field:"+strconv.Itoa(i), strings.Repeat("v", 50))
	}
	big := h.run("MEMORY", "USAGE", "big")
	atoi := func(r string) int {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r, ":"), "\r\n"))
		if err != nil {
			t.Fatalf("MEMORY USAGE %q", r)
		}
		return n
	}
	if s, b := atoi(small), atoi(big); s <= 0 || b < 2000*50 {
		t.Fatalf("MEMORY USAGE small %d, big %d: the blob must count", s, b)
	}
}

// TestHRandFieldBounded: a negative count asking for more than the output buffer limit
// stops at the limit and closes the client instead of building the whole reply.
func TestHRandFieldBounded(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	h.fa("+OK\r\n", "CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 0 0")
	f("HSET h f v", ":1\r\n")
	out := h.run("HRANDFIELD", "h", "-9223372036854775807")
	if out != "" || !h.c.CloseAfterReply {
		t.Fatalf("reply of %d bytes, close %v", len(out), h.c.CloseAfterReply)
	}
	h.c.CloseAfterReply = false
	// Within the limit the picks are all there.
	out = h.run("HRANDFIELD", "h", "-1000", "WITHVALUES")
	if want := "*2000\r\n" + strings.Repeat("$1\r\nf\r\n$1\r\nv\r\n", 1000); out != want || h.c.CloseAfterReply {
		t.Fatalf("got %d bytes", len(out))
	}
}

// TestHashTableScan: HSCAN of a table iterates by steps to cursor 0, every field once or
// more, with MATCH applied to fields.
func TestHashTableScan(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 1000; i++ {
		h.run("HSET", "h", fmt.Sprint("f", i), "v")
	}
	seen := map[string]bool{}
	cursor := "0"
	for steps := 0; ; steps++ {
		out := h.run("HSCAN", "h", cursor, "COUNT", "20", "MATCH", "f1*")
		v, _, err := protocol.ReadValue([]byte(out))
		if err != nil || len(v.Elems) != 2 {
			t.Fatalf("%q: %v", out, err)
		}
		if steps > 1000 {
			t.Fatal("scan does not end")
		}
		for i := 0; i+1 < len(v.Elems[1].Elems); i += 2 {
			seen[string(v.Elems[1].Elems[i].Str)] = true
		}
		if cursor = string(v.Elems[0].Str); cursor == "0" {
			if steps < 5 {
				t.Fatalf("a 1000-field table scanned in %d steps", steps+1)
			}
			break
		}
	}
	if len(seen) != 111 { // f1, f10..f19, f100..f199
		t.Fatalf("%d fields matched f1*", len(seen))
	}
}
