package command

import (
	"bytes"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// FuzzCommands runs argument vectors built from the fuzz input through Server.Exec, on two
// clients of one in-process server, in RESP2 and RESP3. The command names are the table's,
// every command and every subcommand as COMMAND lists them, plus random bytes; the arguments
// come from a small vocabulary (keys, edge numbers, option words, config names) or are
// random bytes. Every reply must be exactly one well-formed RESP value (none when the reply
// is switched off, the command was held back by a pause, or it is a second MONITOR; one per
// channel for the (un)subscribe family, also inside EXEC), in RESP2 without RESP3 types,
// errors with an upper-case code and on one line; every push queued for a client must be
// whole values; the engine must pass its full recount (Engine.Verify); nothing may panic.
//
// Neutralised, so that one input cannot stall or exhaust the fuzzer: a client pause is lifted
// once it has held a command back (and at the end); the output buffer limit of normal
// clients is 1 MiB and cannot be changed (HRANDFIELD with a huge negative count stops there);
// values are at most 1 MiB (proto-max-bulk-len). A client that must close (QUIT, CLIENT
// KILL, over its output limit) is replaced by a new one, as a reconnect.
//
// Input: the first byte picks the clients' initial protocols; then each command is a
// sequence of choices, one byte each, or two for a range above 256 (see cmdFuzz.next and
// encodeCmdScript, which writes the committed seeds from readable scripts).
func FuzzCommands(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 { // bounds one execution's time
			data = data[:4096]
		}
		// A hang would stall the fuzzer silently: crash instead, with every goroutine's
		// stack, so that the input is saved as a crasher.
		watchdog := time.AfterFunc(time.Minute, func() {
			debug.SetTraceback("all")
			panic("FuzzCommands: one input ran for a minute")
		})
		defer watchdog.Stop()
		z := newCmdFuzz(t, data)
		defer z.finish()
		for !z.done() {
			z.step()
		}
	})
}

// Vocabulary of arguments: keys, numbers and words are drawn by category (cmdFuzz.word).
var (
	fuzzKeys = []string{"k1", "k2", "{k}3", "h", "b", "", "n", "ch1", "ch*", strings.Repeat("v", 300)}
	fuzzNums = []string{"0", "1", "-1", "2", "3", "7", "10", "100", "-100", "1000", "65536", "1000000",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551615",
		"4294967296", "-4294967297", "1.5", "-0.0", "1e308", "inf", "-inf", "nan", "0x10", " 1", "+1", "007"}
	fuzzWords = []string{"EX", "PX", "EXAT", "PXAT", "NX", "XX", "GT", "LT", "GET", "KEEPTTL", "PERSIST",
		"WITHSCORES", "WITHVALUES", "MATCH", "COUNT", "TYPE", "BYTE", "BIT", "AND", "OR", "XOR", "NOT",
		"LEN", "IDX", "MINMATCHLEN", "WITHMATCHLEN", "REPLACE", "DB", "ALL", "WRITE", "ON", "OFF", "SKIP",
		"YES", "NO", "BCAST", "PREFIX", "OPTIN", "OPTOUT", "NOLOOP", "REDIRECT", "ID", "USER", "ADDR",
		"LADDR", "SKIPME", "MAXAGE", "NOSAVE", "NOW", "ABORT", "SETNAME", "AUTH", "default", "*", "k*",
		"h?llo", "[a-", "string", "hash", "OVERFLOW", "WRAP", "SAT", "FAIL", "u8", "i16", "i64", "#1",
		"INCRBY", "SET", "FILTERBY", "MODULE", "ACLCAT", "PATTERN", "SAMPLES", "everything", "memory",
		"keyspace", "server", "stats", "commandstats", "maxmemory", "maxmemory-policy", "allkeys-lru",
		"volatile-ttl", "noeviction", "hash-max-listpack-entries", "hash-max-listpack-value",
		"maxmemory-samples", "lfu-log-factor", "slowlog-log-slower-than", "requirepass", "secret",
		"1mb", "100kb", "on", "off", ">secret", "nopass", "+@all", "-@all", "+get", "~*", "&*",
		"resetkeys", "allkeys", "USAGE", "ENCODING", "FREQ", "IDLETIME", "3", "2", "HELP"}
)

// cmdFuzz is one execution: a server, its engine, two clients and the input's choices.
type cmdFuzz struct {
	t       testing.TB
	e       *engine.Engine
	s       *Server
	clients [2]*Client
	closed  map[*Client]bool // closed by CLIENT KILL (their closer ran)
	names   []fuzzName       // every command and "container sub" pair, sorted
	data    []byte
	pos     int
	now     int64
	log     []string
	last    []byte   // the last reply
	steps   []string // what step decided, one line each ("c0 SET k1 v", "clock 50"), for TestCommandSeeds
}

// fuzzName is a command or a "container sub" pair, and its arity (name included).
type fuzzName struct {
	parts []string
	arity int
}

// cmdFuzzNames lists every command and subcommand of a server's table in COMMAND's order.
func cmdFuzzNames(s *Server) []fuzzName {
	var out []fuzzName
	for _, n := range sortedNames(s.table) {
		cmd := s.table[n]
		out = append(out, fuzzName{[]string{n}, cmd.arity})
		for _, sub := range sortedNames(cmd.subs) {
			out = append(out, fuzzName{[]string{n, sub}, cmd.subs[sub].arity})
		}
	}
	return out
}

// argCount turns the choice n in [0, maxFuzzArgs) into a number of arguments after the name,
// mostly one the arity accepts: n < 12 is exactly what a fixed arity asks, or a variadic
// one's minimum plus n; n >= 12 is n-12, whatever the arity; after a random name (arity 0),
// n.
func argCount(name fuzzName, n int) int {
	need := max(max(name.arity, -name.arity)-len(name.parts), 0)
	switch {
	case name.arity > 0 && n < 12:
		return need
	case name.arity > 0:
		return n - 12
	case name.arity < 0 && n < 12:
		return need + n
	case name.arity < 0:
		return n - 12
	}
	return n
}

func newCmdFuzz(t testing.TB, data []byte) *cmdFuzz {
	e, err := engine.Open(engine.Config{Databases: 16, Segments: 4, MaxValueSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.New()
	if err := cfg.Set("client-output-buffer-limit", "normal 1mb 0 0"); err != nil {
		t.Fatal(err)
	}
	z := &cmdFuzz{t: t, e: e, s: NewServer(Options{Engine: e, Config: cfg, Version: "0.0.0-fuzz"}),
		closed: map[*Client]bool{}, now: testNow}
	z.names = cmdFuzzNames(z.s)
	var head byte
	if len(data) > 0 {
		head, data = data[0], data[1:]
	}
	z.data = data
	for i := range z.clients {
		z.connect(i)
	}
	for i := range z.clients {
		if head>>i&1 != 0 {
			z.exec(i, [][]byte{[]byte("HELLO"), []byte("3")})
		}
	}
	return z
}

// connect puts a new client in slot i, as a reconnect.
func (z *cmdFuzz) connect(i int) {
	if c := z.clients[i]; c != nil {
		z.s.ReleaseClient(c)
		delete(z.closed, c)
	}
	c := z.s.NewClient(fmt.Sprintf("127.0.0.1:%d", 40000+i), "127.0.0.1:6379", false)
	c.SetCloser(func() { z.closed[c] = true })
	z.clients[i] = c
}

func (z *cmdFuzz) done() bool { return z.pos >= len(z.data) }

// next returns a choice in [0, n): one byte for n <= 256, two above; 0 past the end.
func (z *cmdFuzz) next(n int) int {
	v := 0
	for k := 0; k < 1+bits.Len(uint(n-1))/9; k++ {
		if z.pos < len(z.data) {
			v = v<<8 | int(z.data[z.pos])
		}
		z.pos++
	}
	return v % n
}

// raw returns up to 31 bytes of the input as one argument.
func (z *cmdFuzz) raw() []byte {
	n := z.next(32)
	b := z.data[min(z.pos, len(z.data)):min(z.pos+n, len(z.data))]
	z.pos += n
	return bytes.Clone(b)
}

func (z *cmdFuzz) word() []byte {
	switch z.next(8) {
	case 0:
		return z.raw()
	case 1, 2, 3:
		return []byte(fuzzKeys[z.next(len(fuzzKeys))])
	case 4, 5:
		return []byte(fuzzNums[z.next(len(fuzzNums))])
	default:
		return []byte(fuzzWords[z.next(len(fuzzWords))])
	}
}

// Kinds of step (cmdFuzz.step).
const (
	stepRaw   = iota // a random name
	stepClock        // the clock moves on
	stepNamed        // a name of the table (every other value too)
	stepKinds = 16

	maxFuzzArgs = 16 // arguments after the name: fewer than this
)

func (z *cmdFuzz) step() {
	ci := z.next(2)
	var args [][]byte
	var name fuzzName
	switch z.next(stepKinds) {
	case stepRaw:
		args = append(args, z.raw())
	case stepClock:
		ms := z.next(1<<16) * 50
		z.now += int64(ms)
		z.steps = append(z.steps, fmt.Sprint("clock ", ms))
		return
	default:
		name = z.names[z.next(len(z.names))]
		for _, p := range name.parts {
			args = append(args, []byte(p))
		}
	}
	for n := argCount(name, z.next(maxFuzzArgs)); n > 0; n-- {
		args = append(args, z.word())
	}
	z.steps = append(z.steps, fmt.Sprintf("c%d %s", ci, bytes.Join(args, []byte(" "))))
	z.exec(ci, args)
}

// isSubscribe reports whether name is one of the (un)subscribe commands, which answer once
// per channel.
func isSubscribe(name string) bool {
	switch name {
	case "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe":
		return true
	}
	return false
}

// neutralised reports whether args must not run (see FuzzCommands).
func neutralised(args [][]byte) bool {
	for _, a := range args {
		if eqFold(a, "client-output-buffer-limit") {
			return true
		}
	}
	return false
}

func (z *cmdFuzz) fail(format string, args ...any) {
	z.t.Helper()
	tail := z.log
	if len(tail) > 20 {
		tail = tail[len(tail)-20:]
	}
	z.t.Fatalf("%s\nlast commands:\n%s", fmt.Sprintf(format, args...), strings.Join(tail, "\n"))
}

// exec runs args on client i and checks the reply, the pushes and the engine.
func (z *cmdFuzz) exec(i int, args [][]byte) {
	z.t.Helper()
	if len(args) == 0 || neutralised(args) {
		return
	}
	c := z.clients[i]
	z.log = append(z.log, fmt.Sprintf("c%d (id %d, RESP%d): %.200q", i, c.ID, c.Proto, args))
	if len(z.log) > 1000 {
		z.log = z.log[len(z.log)-100:]
	}
	protoBefore, quietBefore := c.Proto, c.replyFlags != 0
	// A (un)subscription queued in MULTI answers once per channel inside EXEC's array, which
	// then holds more values than it announced: Redis 7.0.15 does the same.
	subInExec := false
	for _, q := range c.tx.cmds {
		subInExec = subInExec || isSubscribe(q.cmd.name)
	}
	out := z.s.Exec(c, args, z.now, nil)
	z.last = out
	vals := z.values(out, "reply", c.Proto == protocol.RESP2 && protoBefore == protocol.RESP2)
	quiet := quietBefore || c.replyFlags != 0
	switch name := strings.ToLower(string(args[0])); {
	case c.Postponed:
		if len(vals) != 0 {
			z.fail("a postponed command replied %q", out)
		}
	case isSubscribe(name) || (subInExec && name == "exec"):
		if len(vals) == 0 && !quiet {
			z.fail("%s: no reply", name)
		}
	case len(vals) == 0 && (quiet || c.CloseAfterReply || name == "monitor"):
		// MONITOR in MONITOR mode is ignored without a reply, as in Redis.
	case len(vals) != 1:
		z.fail("%d replies %q, want 1", len(vals), out)
	}
	for k, o := range z.clients {
		if o.PushPending() {
			z.values(o.DrainPush(nil), fmt.Sprintf("pushes to c%d", k), o.Proto == protocol.RESP2 && (k != i || protoBefore == protocol.RESP2))
		}
	}
	if err := z.e.Verify(); err != nil {
		z.fail("engine: %v", err)
	}
	if c.Postponed {
		z.s.unpause()
	}
	for k, o := range z.clients {
		if z.closed[o] || (k == i && c.CloseAfterReply) {
			z.connect(k)
		}
	}
}

// values splits b into whole RESP values and checks each (checkValue).
func (z *cmdFuzz) values(b []byte, what string, resp2 bool) []protocol.Value {
	z.t.Helper()
	var vals []protocol.Value
	for rest := b; len(rest) > 0; {
		v, n, err := protocol.ReadValue(rest)
		if err != nil || n == 0 {
			z.fail("%s: not whole RESP values at byte %d (err %v): %.300q", what, len(b)-len(rest), err, b)
		}
		if msg := checkValue(v, resp2); msg != "" {
			z.fail("%s: %s in %.300q", what, msg, b)
		}
		vals = append(vals, v)
		rest = rest[n:]
	}
	return vals
}

// checkValue returns what is wrong with v ("" if nothing): a RESP3 type or an attribute in
// RESP2, a line break inside a simple string or an error, an error without an upper-case
// code.
func checkValue(v protocol.Value, resp2 bool) string {
	if len(v.Attrs) > 0 {
		return "an attribute"
	}
	switch v.Kind {
	case '+', ':', '$', '*':
	case '-':
		code, _, _ := bytes.Cut(v.Str, []byte(" "))
		if len(code) == 0 || bytes.IndexFunc(code, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			return fmt.Sprintf("error %.80q without an upper-case code", v.Str)
		}
	default:
		if resp2 {
			return fmt.Sprintf("RESP3 type %q in RESP2", v.Kind)
		}
	}
	if (v.Kind == '+' || v.Kind == '-') && bytes.ContainsAny(v.Str, "\r\n") {
		return fmt.Sprintf("line break in %q%.80q", v.Kind, v.Str)
	}
	for _, e := range v.Elems {
		if msg := checkValue(e, resp2); msg != "" {
			return msg
		}
	}
	return ""
}

// finish ends a pause (its timer is real) and releases the clients and the engine.
func (z *cmdFuzz) finish() {
	z.s.unpause()
	for _, c := range z.clients {
		z.s.ReleaseClient(c)
	}
	z.e.Close()
}

// encodeCmdScript turns a readable script into FuzzCommands input: the header byte (bit i:
// client i starts in RESP3), then one line per command, "c0 SET k1 v" or "c1 ...", or
// "clock N" (N a multiple of 50 ms). Arguments outside the vocabulary are random bytes
// (at most 31). It is the inverse of cmdFuzz.step, for the seed corpus.
func encodeCmdScript(t testing.TB, names []fuzzName, head byte, script string) []byte {
	out := []byte{head}
	choice := func(v, n int) {
		if v >= n {
			t.Fatalf("choice %d of %d in %q", v, n, script)
		}
		if 1+bits.Len(uint(n-1))/9 == 2 {
			out = append(out, byte(v>>8))
		}
		out = append(out, byte(v))
	}
	index := func(list []string, w string) int {
		for i, x := range list {
			if x == w {
				return i
			}
		}
		return -1
	}
	for _, line := range strings.Split(strings.TrimSpace(script), "\n") {
		f := strings.Fields(line)
		if f[0] == "clock" {
			ms, _ := strconv.Atoi(f[1])
			choice(0, 2)
			choice(stepClock, stepKinds)
			choice(ms/50, 1<<16)
			continue
		}
		choice(int(f[0][1]-'0'), 2)
		args := f[1:]
		named := -1
		for i, n := range names {
			if k := len(n.parts); k <= len(args) && strings.EqualFold(strings.Join(n.parts, " "), strings.Join(args[:k], " ")) &&
				(named < 0 || k > len(names[named].parts)) {
				named = i
			}
		}
		var name fuzzName
		if named < 0 {
			choice(stepRaw, stepKinds)
			choice(len(args[0]), 32)
			out = append(out, args[0]...)
			args = args[1:]
		} else {
			name = names[named]
			choice(stepNamed, stepKinds)
			choice(named, len(names))
			args = args[len(name.parts):]
		}
		n := 0
		for n < maxFuzzArgs && argCount(name, n) != len(args) {
			n++
		}
		choice(n, maxFuzzArgs)
		for _, a := range args {
			switch {
			case index(fuzzKeys, a) >= 0:
				choice(1, 8)
				choice(index(fuzzKeys, a), len(fuzzKeys))
			case index(fuzzNums, a) >= 0:
				choice(4, 8)
				choice(index(fuzzNums, a), len(fuzzNums))
			case index(fuzzWords, a) >= 0:
				choice(6, 8)
				choice(index(fuzzWords, a), len(fuzzWords))
			default:
				choice(0, 8)
				choice(len(a), 32)
				out = append(out, a...)
			}
		}
	}
	return out
}

// cmdSeeds are the scripts of the committed corpus of FuzzCommands.
var cmdSeeds = []struct {
	name   string
	head   byte
	script string
}{
	{"strings", 0, `
c0 SET k1 abc EX 100
c0 GET k1
c0 SET k1 x NX GET
c0 SET k2 1 PXAT 1
c0 APPEND k1 def
c0 SETRANGE k1 10 zz
c0 GETRANGE k1 0 -1
c0 INCR n
c0 INCRBY n 9223372036854775807
c0 INCRBYFLOAT n 1e308
c0 DECRBY n -9223372036854775808
c0 GETEX k1 PERSIST
c0 GETSET k1 v
c0 MSET k1 a {k}3 b
c0 MSETNX k1 a k2 b
c0 MGET k1 k2 {k}3
c0 STRLEN k1
c0 LCS k1 {k}3 IDX MINMATCHLEN 1 WITHMATCHLEN
c0 GETDEL k1
c0 SETEX k1 0 v
c0 PSETEX k1 -1 v`},
	{"strings_resp3", 3, `
c0 SET k1 1.5
c0 INCRBYFLOAT k1 inf
c0 GET k2
c0 SUBSTR k1 0 1
c0 SET k1 v KEEPTTL XX
c0 SET k1 v EX 9223372036854775807
c0 SET k1 v EXAT 1 GET
c0 LCS k1 k1 LEN`},
	{"bitmaps", 0, `
c0 SETBIT b 7 1
c0 SETBIT b 1000000 1
c0 GETBIT b 7
c0 BITCOUNT b 0 -1 BIT
c0 BITPOS b 1 2 -1 BYTE
c0 BITOP AND k1 b b
c0 BITOP NOT k2 b k1
c0 BITFIELD b SET u8 0 255 GET u8 #1 INCRBY i16 100 7
c0 BITFIELD b OVERFLOW SAT INCRBY u8 0 1000
c0 BITFIELD b OVERFLOW FAIL INCRBY i64 0 -1 INCRBY i64 0 1
c0 BITFIELD_RO b GET u8 0
c0 SETBIT b 9223372036854775807 1`},
	{"hashes", 2, `
c1 HSET h f v g 1
c1 HSETNX h f x
c1 HMSET h a b c d
c1 HGET h f
c1 HMGET h f nope
c1 HINCRBY h g 9223372036854775807
c1 HINCRBYFLOAT h g 1.5
c1 HGETALL h
c1 HKEYS h
c1 HVALS h
c1 HSTRLEN h f
c1 HEXISTS h f
c1 HRANDFIELD h -5 WITHVALUES
c1 HRANDFIELD h -9223372036854775807
c1 HSCAN h 0 MATCH * COUNT 100
c1 HDEL h f g a c
c1 HLEN h
c1 GET h`},
	{"keyspace", 0, `
c0 MSET k1 a k2 b h c
c0 EXPIRE k1 100 NX
c0 PEXPIRE k1 100 GT
c0 TTL k1
c0 PTTL k1
c0 EXPIRETIME k1
c0 PERSIST k1
c0 RENAME k1 k2
c0 RENAMENX k2 h
c0 COPY k2 k1 DB 3 REPLACE
c0 MOVE k2 2
c0 SWAPDB 0 2
c0 SELECT 2
c0 SCAN 0 MATCH k* COUNT 100 TYPE string
c0 KEYS *
c0 RANDOMKEY
c0 TYPE k2
c0 OBJECT ENCODING k2
c0 OBJECT FREQ k2
c0 MEMORY USAGE k2 SAMPLES 0
c0 TOUCH k2 k1
c0 EXISTS k2 k2
c0 DBSIZE
clock 200000
c0 UNLINK k2
c0 FLUSHDB ASYNC
c0 FLUSHALL`},
	{"transactions", 0, `
c0 WATCH k1
c1 SET k1 x
c0 MULTI
c0 SET k1 y
c0 GET k1
c0 EXEC
c0 MULTI
c0 NOSUCH a
c0 SET k1
c0 EXEC
c0 MULTI
c0 INCR k1
c0 HSET k1 f v
c0 EXEC
c0 MULTI
c0 WATCH k2
c0 DISCARD
c0 UNWATCH
c0 EXEC`},
	{"pubsub_resp2", 0, `
c0 SUBSCRIBE ch1 k1
c0 PSUBSCRIBE ch*
c1 PUBLISH ch1 hello
c0 GET k1
c0 PING
c1 PUBSUB CHANNELS *
c1 PUBSUB NUMSUB ch1
c1 PUBSUB NUMPAT
c0 UNSUBSCRIBE
c0 PUNSUBSCRIBE
c0 SSUBSCRIBE k1
c1 SPUBLISH k1 x
c0 SUNSUBSCRIBE
c0 RESET
c0 MULTI
c0 UNSUBSCRIBE ch1 k1 k2
c0 PING
c0 EXEC`},
	{"pubsub_tracking_resp3", 1, `
c0 SUBSCRIBE ch1
c1 PUBLISH ch1 hello
c0 CLIENT TRACKING ON
c0 GET k1
c1 SET k1 v
c0 CLIENT TRACKING OFF
c0 CLIENT TRACKING ON BCAST PREFIX k NOLOOP
c0 SET k2 v
c1 DEL k2
c1 CLIENT TRACKING ON REDIRECT 1
c1 GET k1
c0 SET k1 w
c0 CLIENT TRACKINGINFO
c1 CLIENT GETREDIR
c0 CLIENT TRACKING ON OPTIN
c0 CLIENT CACHING YES
c0 FLUSHALL`},
	{"clients", 0, `
c0 CLIENT SETNAME fuzz
c0 CLIENT GETNAME
c0 CLIENT SETINFO LIB-NAME x
c0 CLIENT ID
c0 CLIENT INFO
c1 CLIENT LIST TYPE normal
c0 CLIENT REPLY OFF
c0 PING
c0 CLIENT REPLY ON
c0 CLIENT REPLY SKIP
c0 PING
c0 PING
c0 CLIENT NO-EVICT on
c0 CLIENT NO-TOUCH on
c0 GET k1
c0 CLIENT PAUSE 100000 WRITE
c1 SET k1 v
c1 GET k1
c0 CLIENT UNPAUSE
c0 CLIENT UNBLOCK 2
c0 CLIENT KILL ID 2
c1 PING
c0 CLIENT KILL ADDR 127.0.0.1:40000 SKIPME no
c0 QUIT`},
	{"server", 2, `
c0 INFO
c1 INFO everything
c1 INFO keyspace commandstats
c0 COMMAND COUNT
c0 COMMAND INFO get client|list
c0 COMMAND DOCS get
c0 COMMAND LIST FILTERBY ACLCAT string
c0 COMMAND GETKEYS SET k1 v
c0 CONFIG GET *
c0 CONFIG SET maxmemory 1mb maxmemory-policy allkeys-lru
c0 CONFIG RESETSTAT
c0 SLOWLOG GET -1
c0 SLOWLOG LEN
c1 LATENCY HISTOGRAM
c1 LATENCY DOCTOR
c1 MEMORY STATS
c1 MEMORY DOCTOR
c0 TIME
c0 LASTSAVE
c0 ROLE
c0 WAIT 0 0
c0 SHUTDOWN NOSAVE
c0 DEBUG SLEEP 0
c0 CLUSTER INFO
c0 ECHO x
c0 HELLO 2 SETNAME x
c0 HELLO 4
c0 SELECT 100`},
	{"acl", 0, `
c0 ACL SETUSER u on >secret ~* &* +@all
c0 ACL SETUSER r on nopass resetkeys -@all +get
c1 AUTH u secret
c1 ACL WHOAMI
c1 AUTH r x
c0 ACL LIST
c0 ACL GETUSER u
c0 ACL DRYRUN r get k1
c0 ACL DRYRUN r set k1 v
c0 ACL CAT string
c0 ACL LOG
c0 ACL GENPASS 7
c0 ACL DELUSER u r
c0 ACL USERS`},
	{"oom_monitor", 0, `
c0 MONITOR
c1 SET k1 v
c1 CONFIG SET maxmemory 1 maxmemory-policy noeviction
c1 SET k2 v
c1 GET k1
c1 CONFIG SET maxmemory 0
c0 GET k1
c0 RESET
c1 CONFIG SET requirepass secret
c1 GET k1
c1 AUTH secret
c1 CONFIG SET requirepass x`},
	{"errors", 1, `
c0 x\r\ny
c0 GET
c0 GET k1 k2
c0 CLIENT NOSUCH
c0 CONFIG
c0 SET k1 v PX 0
c0 SET k1 v EX 1 PX 1
c0 EXPIRE k1 9223372036854775807
c0 INCR k1
c0 SETRANGE k1 -1 x
c0 SETRANGE k1 1000000 xy
c0 HGET k1 f
c0 SCAN -1
c0 SCAN 18446744073709551615 COUNT 0
c0 BITCOUNT k1 0
c0 OBJECT HELP
c0 MEMORY USAGE
c0 LCS k1`},
}

// TestCommandSeeds keeps the committed corpus of FuzzCommands in step with cmdSeeds and
// the table: SIDECACHE_WRITE_SEEDS=1 rewrites testdata/fuzz/FuzzCommands from the scripts.
func TestCommandSeeds(t *testing.T) {
	s := NewServer(Options{Config: config.New()})
	names := cmdFuzzNames(s)
	dir := filepath.Join("testdata", "fuzz", "FuzzCommands")
	write := os.Getenv("SIDECACHE_WRITE_SEEDS") != ""
	for _, sd := range cmdSeeds {
		data := encodeCmdScript(t, names, sd.head, sd.script)
		file := []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n")
		path := filepath.Join(dir, sd.name)
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, file, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, file) {
			t.Errorf("%s is not the encoding of its script (SIDECACHE_WRITE_SEEDS=1 go test ./command -run TestCommandSeeds rewrites it): %v", path, err)
		}
		z := newCmdFuzz(t, data)
		for !z.done() {
			z.step()
		}
		z.finish()
		var want []string
		for _, l := range strings.Split(strings.TrimSpace(sd.script), "\n") {
			want = append(want, strings.Join(strings.Fields(l), " "))
		}
		if got := strings.Join(z.steps, "\n"); !strings.EqualFold(got, strings.Join(want, "\n")) {
			t.Errorf("%s decodes to\n%s\nwant\n%s", sd.name, got, strings.Join(want, "\n"))
		}
	}
}
