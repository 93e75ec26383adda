package command

import (
	"fmt"
	"sync"
	"testing"
)

const wrongType = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"

// makeNonString stores a key of another type. Until lists or hashes exist the engine's
// test hook is used when there is one; tests needing it skip otherwise.
func (h *harness) makeNonString(key string) bool {
	h.t.Helper()
	type hsetter interface {
		HSet(key []byte, fv [][]byte, now int64) (int64, error)
	}
	if hs, ok := any(h.e.DB(h.c.DB)).(hsetter); ok {
		if _, err := hs.HSet([]byte(key), [][]byte{[]byte("f"), []byte("v")}, h.now); err == nil {
			return true
		}
	}
	return false
}

func TestGetSet(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("get k", "$-1\r\n")
	f("set k v", "+OK\r\n")
	f("get k", "$1\r\nv\r\n")
	f("SET k hello", "+OK\r\n")
	f("get k", "$5\r\nhello\r\n")
	h.fa("+OK\r\n", "set", "e", "")
	f("get e", "$0\r\n\r\n")
	f("set k v nx", "$-1\r\n")
	f("set k v2 xx", "+OK\r\n")
	f("set nk v xx", "$-1\r\n")
	f("set nk v NX", "+OK\r\n")
	f("set k v nx xx", "-ERR syntax error\r\n")
	f("set k v xx nx", "-ERR syntax error\r\n")
	f("set k v ex 10 px 10", "-ERR syntax error\r\n")
	f("set k v keepttl ex 1", "-ERR syntax error\r\n")
	f("set k v ex 1 keepttl", "-ERR syntax error\r\n")
	f("set k v persist", "-ERR syntax error\r\n")
	f("set k v ex", "-ERR syntax error\r\n")
	f("set k v foo", "-ERR syntax error\r\n")
	f("set k v ex abc", "-ERR value is not an integer or out of range\r\n")
	f("set k v ex 0", "-ERR invalid expire time in 'set' command\r\n")
	f("set k v ex -1", "-ERR invalid expire time in 'set' command\r\n")
	f("set k v px 0", "-ERR invalid expire time in 'set' command\r\n")
	f("set k v ex 9223372036854775", "-ERR invalid expire time in 'set' command\r\n") // overflows adding now
	f("set k v ex 9223372036854776", "-ERR invalid expire time in 'set' command\r\n") // overflows * 1000
	f("set k v px 9223372036854775807", "-ERR invalid expire time in 'set' command\r\n")
	f("set k v exat 9223372036854775", "+OK\r\n")
	f("set k v ex 10 ex 20", "+OK\r\n") // the same option twice: the last wins
	f("ttl k", ":20\r\n")
	f("set k v px 1500", "+OK\r\n")
	f("pttl k", ":1500\r\n")
	f("set k v keepttl", "+OK\r\n")
	f("pttl k", ":1500\r\n")
	f("set k v", "+OK\r\n")
	f("ttl k", ":-1\r\n")
	f("set k v exat 1700000100", "+OK\r\n")
	f("ttl k", ":100\r\n")
	f("set k v pxat 1700000000500", "+OK\r\n")
	f("pttl k", ":500\r\n")
	f("set k v exat 1", "+OK\r\n") // in the past: the key is gone
	f("exists k", ":0\r\n")
	f("set k v get", "$-1\r\n")
	f("set k v2 get", "$1\r\nv\r\n")
	f("set k v3 nx get", "$2\r\nv2\r\n")
	f("get k", "$2\r\nv2\r\n")
	f("set nk2 v xx get", "$-1\r\n")
	f("exists nk2", ":0\r\n")
	f("set k v ex 0 get", "-ERR invalid expire time in 'set' command\r\n")
	if h.makeNonString("h") {
		f("set h v get", wrongType)
		f("get h", wrongType)
		f("set h v", "+OK\r\n")
	}
	h.c.Proto = 3
	f("get missing", "_\r\n")
	f("set k v nx", "_\r\n")
	f("set nk3 v xx get", "_\r\n")
}

func TestSetNXEXPSetEX(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("setnx k v", ":1\r\n")
	f("setnx k v2", ":0\r\n")
	f("get k", "$1\r\nv\r\n")
	f("setex k 10 v2", "+OK\r\n")
	f("ttl k", ":10\r\n")
	f("setex k 0 v", "-ERR invalid expire time in 'setex' command\r\n")
	f("setex k x v", "-ERR value is not an integer or out of range\r\n")
	f("psetex k 0 v", "-ERR invalid expire time in 'psetex' command\r\n")
	f("psetex k 2500 v3", "+OK\r\n")
	f("pttl k", ":2500\r\n")
	f("ttl k", ":3\r\n") // rounded to the nearest second
	f("get k", "$2\r\nv3\r\n")
	h.now += 2501
	f("get k", "$-1\r\n")
	f("setex k", "-ERR wrong number of arguments for 'setex' command\r\n")
}

func TestMGetMSet(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("mset a 1 b 2", "+OK\r\n")
	f("mget a b c", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n")
	f("mset a", "-ERR wrong number of arguments for 'mset' command\r\n")
	f("mset a 1 b", "-ERR wrong number of arguments for 'mset' command\r\n")
	f("msetnx a 1 b", "-ERR wrong number of arguments for 'msetnx' command\r\n")
	f("msetnx a 1 c 2", ":0\r\n")
	f("exists c", ":0\r\n")
	f("msetnx c 3 d 4", ":1\r\n")
	f("mget c d", "*2\r\n$1\r\n3\r\n$1\r\n4\r\n")
	f("setex a 100 x", "+OK\r\n")
	f("mset a 1", "+OK\r\n")
	f("ttl a", ":-1\r\n") // MSET removes the TTL
	if h.makeNonString("h") {
		f("mget a h", "*2\r\n$1\r\n1\r\n$-1\r\n") // another type is a null, not an error
	}
	h.c.Proto = 3
	f("mget a zz", "*2\r\n$1\r\n1\r\n_\r\n")
}

func TestGetSetGetDelGetEx(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("getset k v", "$-1\r\n")
	f("setex k 100 a", "+OK\r\n")
	f("getset k b", "$1\r\na\r\n")
	f("ttl k", ":-1\r\n")
	f("getdel k", "$1\r\nb\r\n")
	f("getdel k", "$-1\r\n")
	f("set k v", "+OK\r\n")
	f("getex k", "$1\r\nv\r\n")
	f("getex k ex 100", "$1\r\nv\r\n")
	f("ttl k", ":100\r\n")
	f("getex k px 5000", "$1\r\nv\r\n")
	f("pttl k", ":5000\r\n")
	f("getex k exat 1700000200", "$1\r\nv\r\n")
	f("ttl k", ":200\r\n")
	f("getex k pxat 1700000300000", "$1\r\nv\r\n")
	f("ttl k", ":300\r\n")
	f("getex k persist", "$1\r\nv\r\n")
	f("ttl k", ":-1\r\n")
	f("getex k persist ex 1", "-ERR syntax error\r\n")
	f("getex k ex 1 persist", "-ERR syntax error\r\n")
	f("getex k keepttl", "-ERR syntax error\r\n")
	f("getex k nx", "-ERR syntax error\r\n")
	f("getex k get", "-ERR syntax error\r\n")
	f("getex k ex", "-ERR syntax error\r\n")
	f("getex nokey ex abc", "$-1\r\n") // the key is looked up before the time is parsed
	f("getex k ex abc", "-ERR value is not an integer or out of range\r\n")
	f("getex k ex -1", "-ERR invalid expire time in 'getex' command\r\n")
	f("getex k px 0", "-ERR invalid expire time in 'getex' command\r\n")
	f("getex nokey", "$-1\r\n")
	f("getex k exat 1", "$1\r\nv\r\n") // in the past: returned, then gone
	f("exists k", ":0\r\n")
	if h.makeNonString("h") {
		f("getset h v", wrongType)
		f("getdel h", wrongType)
		f("getex h", wrongType)
		f("getex h ex abc", wrongType)
	}
	h.c.Proto = 3
	f("getdel k", "_\r\n")
	f("getex k", "_\r\n")
	f("getset k v", "_\r\n")
}

func TestAppendStrlenRange(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("append k ab", ":2\r\n")
	f("append k cd", ":4\r\n")
	f("get k", "$4\r\nabcd\r\n")
	f("strlen k", ":4\r\n")
	f("strlen nokey", ":0\r\n")
	f("getrange k 0 -1", "$4\r\nabcd\r\n")
	f("getrange k 1 2", "$2\r\nbc\r\n")
	f("getrange k -2 -1", "$2\r\ncd\r\n")
	f("getrange k -1 -5", "$0\r\n\r\n")
	f("getrange k -100 1", "$2\r\nab\r\n")
	f("getrange k 2 100", "$2\r\ncd\r\n")
	f("getrange k 5 10", "$0\r\n\r\n")
	f("getrange k 3 1", "$0\r\n\r\n")
	f("getrange k -5 -10", "$0\r\n\r\n")
	f("getrange k 0 -100", "$1\r\na\r\n") // end clamps to 0
	f("getrange nokey 0 1", "$0\r\n\r\n")
	f("getrange k x 1", "-ERR value is not an integer or out of range\r\n")
	f("getrange k 0 x", "-ERR value is not an integer or out of range\r\n")
	f("getrange nokey x 1", "-ERR value is not an integer or out of range\r\n")
	f("substr k 1 2", "$2\r\nbc\r\n")
	f("setrange k -1 x", "-ERR offset is out of range\r\n")
	f("setrange k x x", "-ERR value is not an integer or out of range\r\n")
	f("setrange k 1 XY", ":4\r\n")
	f("get k", "$4\r\naXYd\r\n")
	f("setrange k 6 Z", ":7\r\n")
	h.fa("$7\r\naXYd\x00\x00Z\r\n", "get", "k")
	h.fa(":0\r\n", "setrange", "nokey", "5", "")
	f("exists nokey", ":0\r\n")
	h.fa(":7\r\n", "setrange", "k", "100", "")
	f("setrange new 2 ab", ":4\r\n")
	h.fa("$4\r\n\x00\x00ab\r\n", "get", "new")
	f("setrange k 9223372036854775807 x", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n")
	f("setrange k 9223372036854775806 xy", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n")
	f("setrange nokey 9223372036854775807 x", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n")
	f("exists nokey", ":0\r\n")
	h.fa(":7\r\n", "setrange", "k", "9223372036854775807", "")
	f("setrange k 536870912 x", "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n")
	if h.makeNonString("h") {
		f("append h x", wrongType)
		f("strlen h", wrongType)
		f("getrange h 0 1", wrongType)
		f("setrange h 0 x", wrongType)
		f("setrange h x x", "-ERR value is not an integer or out of range\r\n") // offset first
	}
}

func TestIncrDecr(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("incr n", ":1\r\n")
	f("incr n", ":2\r\n")
	f("decr n", ":1\r\n")
	f("decr m", ":-1\r\n")
	f("incrby n 10", ":11\r\n")
	f("incrby n -20", ":-9\r\n")
	f("decrby n 1", ":-10\r\n")
	f("decrby n -10", ":0\r\n")
	f("incrby n x", "-ERR value is not an integer or out of range\r\n")
	f("incrby n 01", "-ERR value is not an integer or out of range\r\n")
	f("incrby n +1", "-ERR value is not an integer or out of range\r\n")
	f("incrby n 9223372036854775808", "-ERR value is not an integer or out of range\r\n")
	f("decrby n -9223372036854775808", "-ERR decrement would overflow\r\n")
	f("set n 9223372036854775807", "+OK\r\n")
	f("incr n", "-ERR increment or decrement would overflow\r\n")
	f("set n -9223372036854775808", "+OK\r\n")
	f("decr n", "-ERR increment or decrement would overflow\r\n")
	f("set s abc", "+OK\r\n")
	f("incr s", "-ERR value is not an integer or out of range\r\n")
	h.fa("+OK\r\n", "set", "s", " 1")
	f("incr s", "-ERR value is not an integer or out of range\r\n")
	f("setex t 100 5", "+OK\r\n")
	f("incr t", ":6\r\n")
	f("ttl t", ":100\r\n") // INCR keeps the TTL
	f("incrbyfloat f 1.5", "$3\r\n1.5\r\n")
	f("incrbyfloat f 1.5", "$1\r\n3\r\n")
	f("incrbyfloat f -0.25", "$4\r\n2.75\r\n")
	f("incrbyfloat f 5.0e3", "$7\r\n5002.75\r\n")
	f("incrbyfloat f x", "-ERR value is not a valid float\r\n")
	h.fa("-ERR value is not a valid float\r\n", "incrbyfloat", "f", " 1")
	h.fa("-ERR value is not a valid float\r\n", "incrbyfloat", "f", "")
	f("incrbyfloat f nan", "-ERR value is not a valid float\r\n")
	f("incrbyfloat f inf", "-ERR increment would produce NaN or Infinity\r\n")
	f("incrbyfloat s 1", "-ERR value is not a valid float\r\n")
	f("incrbyfloat n 1", "$20\r\n-9223372036854775807\r\n") // 64-bit mantissa: exact
	f("set g 0.1", "+OK\r\n")
	f("incrbyfloat g 0.2", "$3\r\n0.3\r\n") // long double, not float64's 0.30000000000000004
	f("set g 5.6", "+OK\r\n")
	f("incrbyfloat g 2.0e2", "$21\r\n205.60000000000000001\r\n")
	f("incrbyfloat g 0x10", "$21\r\n221.60000000000000001\r\n")
	f("incrbyfloat g 1e5000", "-ERR value is not a valid float\r\n")
	f("set g 1e4932", "+OK\r\n")
	f("incrbyfloat g 1e4932", "-ERR increment would produce NaN or Infinity\r\n")
	f("setex t2 100 1.5", "+OK\r\n")
	f("incrbyfloat t2 1", "$3\r\n2.5\r\n")
	f("ttl t2", ":100\r\n") // INCRBYFLOAT keeps the TTL
	if h.makeNonString("h") {
		f("incr h", wrongType)
		f("incrby h x", "-ERR value is not an integer or out of range\r\n") // argument first
		f("incrbyfloat h x", wrongType)                                     // type first
	}
}

// TestIncrByFloatAtomic runs INCRBYFLOAT and INCRBY on one key from clients on several
// goroutines (as several event loops would): the engine does INCRBYFLOAT's read, addition and
// store under one segment lock, so no increment is lost.
func TestIncrByFloatAtomic(t *testing.T) {
	h := newHarness(t)
	const workers, n = 6, 300
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		c := h.s.NewClient(fmt.Sprintf("127.0.0.1:%d", 41000+w), "127.0.0.1:6379", false)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			cmd := [][]byte{[]byte("incrbyfloat"), []byte("k"), []byte("1")}
			if w%2 == 1 {
				cmd = [][]byte{[]byte("incrby"), []byte("k"), []byte("1")}
			}
			var out []byte
			for i := 0; i < n; i++ {
				out = h.s.Exec(c, cmd, h.now, out[:0])
				if len(out) == 0 || out[0] == '-' {
					t.Errorf("%s: %q", cmd[0], out)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	h.f()("get k", fmt.Sprintf("$4\r\n%d\r\n", workers*n))
}
