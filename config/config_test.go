package config

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c := New()
	f := func(name, want string, mutable bool) {
		t.Helper()
		got, ok := c.Get(name)
		if !ok || got != want {
			t.Fatalf("Get(%q) = %q, %v; want %q", name, got, ok, want)
		}
		if m := c.Lookup(name).Mutable(); m != mutable {
			t.Fatalf("%s mutable = %v, want %v", name, m, mutable)
		}
	}
	f("port", "6379", false)
	f("bind", "127.0.0.1", false)
	f("unixsocket", "", false)
	f("unixsocketperm", "700", false)
	f("background-nice", "auto", false)
	f("maxmemory-policy", "allkeys-lfu", true)
	f("maxmemory-samples", "5", true)
	f("maxmemory-eviction-tenacity", "10", true)
	f("lfu-log-factor", "10", true)
	f("lfu-decay-time", "1", true)
	f("databases", "16", false)
	f("requirepass", "", true)
	f("maxclients", "10000", true)
	f("timeout", "0", true)
	f("tcp-keepalive", "300", true)
	f("proto-max-bulk-len", "536870912", true)
	f("client-query-buffer-limit", "1073741824", true)
	f("maxmemory-clients", "0", true)
	f("client-output-buffer-limit", "normal 67108864 16777216 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60", true)
	f("hz", "10", true)
	f("slowlog-log-slower-than", "10000", true)
	f("slowlog-max-len", "128", true)
	f("latency-tracking", "yes", true)
	f("appendonly", "no", true)
	f("save", "", true)
	f("loglevel", "notice", true)
	f("logformat", "auto", false)
	f("admin-addr", "127.0.0.1:9121", false)
	f("pprof-addr", "", false)
	f("shutdown-delay", "0s", true)
	f("shutdown-timeout", "10s", true)
	f("active-expire-effort", "1", true)
	f("io-threads", "1", false)
	f("protected-mode", "yes", true)
	f("enable-debug-command", "no", false)
	if _, ok := c.Get("maxmemory"); !ok {
		t.Fatal("maxmemory missing")
	}
	if c.Int("maxmemory-policy") != 5 || MaxMemoryPolicies[5] != "allkeys-lfu" {
		t.Fatal("policy index")
	}
	if c.Duration("shutdown-timeout") != 10*time.Second || c.Int("shutdown-timeout") != 10000 {
		t.Fatal("shutdown-timeout")
	}
	if !c.Bool("protected-mode") || c.Int("unixsocketperm") != 0o700 {
		t.Fatal("typed getters")
	}
	if l := c.OutputBufferLimit(ClassNormal); l != (BufferLimit{64 << 20, 16 << 20, 10}) {
		t.Fatalf("normal limit %+v: a client that does not read must be bounded by default", l)
	}
	if l := c.OutputBufferLimit(ClassReplica); l != (BufferLimit{256 << 20, 64 << 20, 60}) {
		t.Fatalf("replica limit %+v", l)
	}
}

func TestParseSize(t *testing.T) {
	f := func(in string, want int64, ok bool) {
		t.Helper()
		got, err := ParseSize(in)
		if (err == nil) != ok || got != want {
			t.Fatalf("ParseSize(%q) = %d, %v; want %d, ok=%v", in, got, err, want, ok)
		}
	}
	f("0", 0, true)
	f("123", 123, true)
	f("123b", 123, true)
	f("1k", 1000, true)
	f("1K", 1000, true)
	f("1kb", 1024, true)
	f("1KB", 1024, true)
	f("1Kb", 1024, true)
	f("2m", 2000000, true)
	f("2mb", 2<<20, true)
	f("2MB", 2<<20, true)
	f("3g", 3000000000, true)
	f("3gb", 3<<30, true)
	f("3GB", 3<<30, true)
	f("05mb", 5<<20, true) // strtoull takes leading zeros
	f("", 0, true)         // memtoull: no digits is 0
	f("mb", 0, true)
	f("-1", 0, false)
	f("-0", 0, false)
	f("1.5gb", 0, false)
	f("1x", 0, false)
	f("1 mb", 0, false)
	f("1kib", 0, false)
	f("+1", 0, false)
	f("9223372036854775807", 1<<63-1, true)
	f("9223372036854775808", 0, false)
	f("9999999999999999999999", 0, false)
	f("9000000000gb", 0, false)
}

func TestSetErrors(t *testing.T) {
	c := New()
	f := func(name, value, want string) {
		t.Helper()
		err := c.Set(name, value)
		if err == nil || err.Error() != want {
			t.Fatalf("Set(%q, %q) = %v; want %q", name, value, err, want)
		}
	}
	const failed = "ERR CONFIG SET failed (possibly related to argument '"
	f("foo", "bar", "ERR Unknown option or number of arguments for CONFIG SET - 'foo'")
	f("databases", "3", failed+"databases') - can't set immutable config")
	f("port", "1", failed+"port') - can't set immutable config")
	f("unixsocket", "/x", failed+"unixsocket') - can't set immutable config")
	f("background-nice", "0", failed+"background-nice') - can't set immutable config")
	f("maxmemory-policy", "x", failed+"maxmemory-policy') - argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction")
	f("loglevel", "x", failed+"loglevel') - argument(s) must be one of the following: debug, verbose, notice, warning")
	f("maxmemory-samples", "x", failed+"maxmemory-samples') - argument couldn't be parsed into an integer")
	f("maxmemory-samples", " 5", failed+"maxmemory-samples') - argument couldn't be parsed into an integer")
	f("maxmemory-samples", "+5", failed+"maxmemory-samples') - argument couldn't be parsed into an integer")
	f("maxmemory-samples", "05", failed+"maxmemory-samples') - argument couldn't be parsed into an integer")
	f("maxmemory-samples", "0", failed+"maxmemory-samples') - argument must be between 1 and 2147483647 inclusive")
	f("maxmemory-samples", "99999999999", failed+"maxmemory-samples') - argument must be between 1 and 2147483647 inclusive")
	f("maxclients", "0", failed+"maxclients') - argument must be between 1 and 4294967295 inclusive")
	f("hz", "-1", failed+"hz') - argument must be between 0 and 2147483647 inclusive")
	f("timeout", "-1", failed+"timeout') - argument must be between 0 and 2147483647 inclusive")
	f("lfu-log-factor", "-1", failed+"lfu-log-factor') - argument must be between 0 and 2147483647 inclusive")
	f("maxmemory", "1x", failed+"maxmemory') - argument must be a memory value")
	f("maxmemory", "-1", failed+"maxmemory') - argument must be a memory value")
	f("maxmemory", "1.5gb", failed+"maxmemory') - argument must be a memory value")
	f("proto-max-bulk-len", "1", failed+"proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive")
	f("latency-tracking", "maybe", failed+"latency-tracking') - argument must be 'yes' or 'no'")
	f("maxmemory-clients", "x", failed+"maxmemory-clients') - argument must be a memory or percent value")
	f("maxmemory-clients", "200%", failed+"maxmemory-clients') - percentage argument must be less or equal to 100")
	f("client-output-buffer-limit", "normal 1 2", failed+"client-output-buffer-limit') - Wrong number of arguments in buffer limit configuration.")
	f("client-output-buffer-limit", "foo 1 2 3", failed+"client-output-buffer-limit') - Invalid client class specified in buffer limit configuration.")
	f("client-output-buffer-limit", "master 1 2 3", failed+"client-output-buffer-limit') - Invalid client class specified in buffer limit configuration.")
	f("client-output-buffer-limit", "normal 1x 2 3", failed+"client-output-buffer-limit') - Error in hard, soft or soft_seconds setting in buffer limit configuration.")
	f("client-output-buffer-limit", "normal 1 2 -3", failed+"client-output-buffer-limit') - Error in hard, soft or soft_seconds setting in buffer limit configuration.")
	f("save", "1 2 3", failed+"save') - Invalid save parameters")
	f("save", "x 1", failed+"save') - Invalid save parameters")
	f("save", "0 1", failed+"save') - Invalid save parameters")
	f("shutdown-delay", "-1s", failed+"shutdown-delay') - argument must be a duration such as 10s or 500ms, or a number of seconds")
	f("shutdown-timeout", "soon", failed+"shutdown-timeout') - argument must be a duration such as 10s or 500ms, or a number of seconds")
	var se *SetError
	if err := c.Set("foo", "1"); !errors.As(err, &se) {
		t.Fatal("Set errors are *SetError")
	}
}

func TestSetRoundTrip(t *testing.T) {
	c := New()
	f := func(name, value, shown string, num int64) {
		t.Helper()
		if err := c.Set(name, value); err != nil {
			t.Fatalf("Set(%q, %q): %v", name, value, err)
		}
		if got, _ := c.Get(name); got != shown {
			t.Fatalf("after Set(%q, %q) Get = %q, want %q", name, value, got, shown)
		}
		if got := c.Lookup(name).Int(); got != num {
			t.Fatalf("after Set(%q, %q) Int = %d, want %d", name, value, got, num)
		}
	}
	f("maxmemory", "10K", "10000", 10000)
	f("maxmemory", "100mb", "104857600", 100<<20)
	f("maxmemory", "0", "0", 0)
	f("maxmemory", "05mb", "5242880", 5<<20)
	f("MAXMEMORY-POLICY", "ALLKEYS-LRU", "allkeys-lru", 4)
	f("maxmemory-policy", "noeviction", "noeviction", 7)
	f("latency-tracking", "NO", "no", 0)
	f("latency-tracking", "yes", "yes", 1)
	f("hz", "100000", "500", 500) // Redis clamps hz silently
	f("hz", "0", "1", 1)
	f("slowlog-log-slower-than", "-1", "-1", -1)
	f("maxmemory-clients", "10%", "10%", -10)
	f("maxmemory-clients", "1mb", "1048576", 1<<20)
	f("maxmemory-clients", "0%", "0%", 0)
	f("proto-max-bulk-len", "1gb", "1073741824", 1<<30)
	f("shutdown-delay", "5", "5s", 5000)
	f("shutdown-delay", "0.5", "500ms", 500)
	f("shutdown-delay", "1m30s", "1m30s", 90000)
	f("shutdown-timeout", "250ms", "250ms", 250)
	f("save", " 3600 1  300 100 ", "3600 1 300 100", 0)
	f("save", "", "", 0)
	f("client-output-buffer-limit", "replica 1mb 2 3", "normal 67108864 16777216 10 slave 1048576 2 3 pubsub 33554432 8388608 60", 0)
	f("client-output-buffer-limit", "NORMAL 1k 2k 3 pubsub 0 0 0", "normal 1000 2000 3 slave 1048576 2 3 pubsub 0 0 0", 0)
	f("requirepass", "secret", "(redacted)", 0)
	if c.String("requirepass") != "secret" {
		t.Fatal("String gives the real password to the server")
	}
	f("requirepass", "", "", 0)
	if l := c.OutputBufferLimit(ClassNormal); l != (BufferLimit{1000, 2000, 3}) {
		t.Fatalf("normal limit %+v", l)
	}
}

func TestOnChange(t *testing.T) {
	c := New()
	var calls []int64
	c.OnChange("maxmemory-samples", func(c *Config) { calls = append(calls, c.Int("maxmemory-samples")) })
	_ = c.Set("maxmemory-samples", "7")
	_ = c.Set("maxmemory-samples", "0") // refused: no call
	_ = c.Set("maxmemory-policy", "noeviction")
	if len(calls) != 1 || calls[0] != 7 {
		t.Fatalf("calls %v", calls)
	}
}

func TestEach(t *testing.T) {
	c := New()
	f := func(pattern string, want ...string) {
		t.Helper()
		var got []string
		c.Each(pattern, func(name, _ string) { got = append(got, name) })
		if !sort.StringsAreSorted(got) || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("Each(%q) = %v, want %v", pattern, got, want)
		}
	}
	f("maxmemory*", "maxmemory", "maxmemory-clients", "maxmemory-eviction-tenacity", "maxmemory-policy", "maxmemory-samples")
	f("MAXMEMORY-P*", "maxmemory-policy")
	f("*max*memory*", "maxmemory", "maxmemory-clients", "maxmemory-eviction-tenacity", "maxmemory-policy", "maxmemory-samples")
	f("port", "port")
	f("lfu-*-??????", "lfu-log-factor")
	f("[bp]*", "background-nice", "bind", "port", "pprof-addr", "prewarm-db", "prewarm-file", "prewarm-keys", "prewarm-match", "prewarm-rate", "prewarm-ready", "prewarm-timeout", "protected-mode", "proto-max-bulk-len")
	f("nosuch")
	f("hash-max-*", "hash-max-listpack-entries", "hash-max-listpack-value", "hash-max-ziplist-entries", "hash-max-ziplist-value")
	n, want := 0, len(registry())
	for _, s := range registry() {
		if s.alias != "" {
			want++
		}
	}
	c.Each("*", func(string, string) { n++ })
	if n != want {
		t.Fatalf("Each(*) saw %d of %d", n, want)
	}
}

func TestSplitArgs(t *testing.T) {
	f := func(line string, want ...string) {
		t.Helper()
		got, ok := SplitArgs(line)
		if !ok || strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Fatalf("SplitArgs(%q) = %q, %v; want %q", line, got, ok, want)
		}
	}
	bad := func(line string) {
		t.Helper()
		if got, ok := SplitArgs(line); ok {
			t.Fatalf("SplitArgs(%q) = %q, want unbalanced", line, got)
		}
	}
	f("")
	f("   ")
	f("a b  c", "a", "b", "c")
	f(`requirepass "a b"`, "requirepass", "a b")
	f(`x "\x41\n\t\"\\"`, "x", "A\n\t\"\\")
	f(`x 'it\'s'`, "x", "it's")
	f(`x 'a\nb'`, "x", `a\nb`)
	f(`x ""`, "x", "")
	f(`foo"bar baz"`, "foobar baz")
	f(`x "\q"`, "x", "q")
	bad(`x "abc`)
	bad(`x 'abc`)
	bad(`x "a"b`)
	bad(`x 'a'b`)
}

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "s.conf", "# comment\n\nmaxmemory-samples 6\nlfu-log-factor 6\nhz 6\nport 7000\n")
	env := []string{"SIDECACHE_LFU_LOG_FACTOR=7", "SIDECACHE_HZ=7", "PATH=/x", "SIDECACHE_SERVICE_HOST=10.0.0.1"}
	c, rest, err := Load([]string{"--config", file, "--hz", "8", "--maxmemory-policy=noeviction", "ping", "--port", "1"}, env)
	if err != nil {
		t.Fatal(err)
	}
	f := func(name, want string) {
		t.Helper()
		if got, _ := c.Get(name); got != want {
			t.Fatalf("%s = %q, want %q", name, got, want)
		}
	}
	f("maxmemory-samples", "6") // file over default
	f("lfu-log-factor", "7")    // env over file
	f("hz", "8")                // flag over env
	f("port", "7000")           // immutable settings load from files
	f("maxmemory-policy", "noeviction")
	f("databases", "16")
	if strings.Join(rest, " ") != "ping --port 1" {
		t.Fatalf("rest %q", rest)
	}
	// A first argument naming a file is the config file, as redis-server takes it.
	c, _, err = Load([]string{file, "--port", "7001"}, nil)
	if err != nil || c.Int("port") != 7001 || c.Int("hz") != 6 {
		t.Fatalf("positional file: %v port=%d hz=%d", err, c.Int("port"), c.Int("hz"))
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	f := func(args, env []string, want string) {
		t.Helper()
		_, _, err := Load(args, env)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Load(%q, %q) = %v; want %q", args, env, err, want)
		}
	}
	bad := write(t, dir, "bad.conf", "port 1\nfoo bar\n")
	f([]string{"--config", bad}, nil, "bad.conf, line 2: >>> 'foo bar': Bad directive or wrong number of arguments")
	args2 := write(t, dir, "args.conf", "port 1 2\n")
	f([]string{"--config", args2}, nil, "line 1: >>> 'port 1 2': wrong number of arguments")
	quotes := write(t, dir, "q.conf", "\nrequirepass \"abc\n")
	f([]string{"--config", quotes}, nil, "line 2: >>> 'requirepass \"abc': Unbalanced quotes in configuration line")
	val := write(t, dir, "v.conf", "maxmemory 1x\n")
	f([]string{"--config", val}, nil, "line 1: >>> 'maxmemory 1x': argument must be a memory value")
	loop := write(t, dir, "loop.conf", "include loop.conf\n")
	f([]string{"--config", loop}, nil, "include nesting")
	f([]string{"--config", filepath.Join(dir, "missing.conf")}, nil, "config file")
	f(nil, []string{"SIDECACHE_MAXMEMORY=lots"}, "environment SIDECACHE_MAXMEMORY: argument must be a memory value")
	f([]string{"--maxmemory", "lots"}, nil, "flag --maxmemory: argument must be a memory value")
	f([]string{"--nosuch=1"}, nil, "flag --nosuch: unknown setting")
	f([]string{"--background-nice", "20"}, nil, "flag --background-nice: argument must be between 0 and 19 inclusive")
	f([]string{"--background-nice", "x"}, nil, "flag --background-nice: argument couldn't be parsed into an integer")
	f([]string{"--port"}, nil, "flag --port: missing value")
	if _, _, err := Load([]string{"--help"}, nil); err != ErrHelp {
		t.Fatalf("--help: %v", err)
	}
	if _, _, err := Load([]string{"--version"}, nil); err != ErrVersion {
		t.Fatalf("--version: %v", err)
	}
}

func TestLoadFileSyntax(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "inc.conf", "lfu-decay-time 9\nsave 60 10\n")
	main := write(t, dir, "main.conf", "  PORT 7002  \r\nsave 3600 1\ninclude inc.conf\nbind 127.0.0.1 ::1\nrequirepass \"a b\\x21\"\n"+
		"client-output-buffer-limit pubsub 1mb 1mb 0\nclient-output-buffer-limit replica 0 0 0\n")
	c := New()
	if err := c.LoadFile(main); err != nil {
		t.Fatal(err)
	}
	f := func(name, want string) {
		t.Helper()
		if got := c.String(name); got != want {
			t.Fatalf("%s = %q, want %q", name, got, want)
		}
	}
	f("port", "7002")
	f("lfu-decay-time", "9")
	f("save", "3600 1 60 10") // save lines accumulate
	f("bind", "127.0.0.1 ::1")
	f("requirepass", "a b!")
	f("client-output-buffer-limit", "normal 67108864 16777216 10 slave 0 0 0 pubsub 1048576 1048576 0")
}

// Readers never block and always see a whole value while CONFIG SET runs (go test -race).
func TestConcurrentGetSet(t *testing.T) {
	c := New()
	samples := c.Lookup("maxmemory-samples")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if n := samples.Int(); n < 1 || n > 1000 {
					t.Errorf("samples %d", n)
					return
				}
				if v, _ := c.Get("client-output-buffer-limit"); !strings.HasPrefix(v, "normal ") {
					t.Errorf("cobl %q", v)
					return
				}
				c.Each("maxmemory-*", func(string, string) {})
				_ = c.OutputBufferLimit(ClassPubSub)
			}
		}()
	}
	for i := range 500 {
		_ = c.Set("maxmemory-samples", []string{"3", "1000"}[i%2])
		_ = c.Set("client-output-buffer-limit", []string{"pubsub 1 1 1", "normal 2 2 2"}[i%2])
	}
	close(stop)
	wg.Wait()
}

func TestLookupAllocs(t *testing.T) {
	c := New()
	s := c.Lookup("maxmemory")
	if n := testing.AllocsPerRun(100, func() { _ = s.Int(); _ = c.Int("hz"); _ = c.Bool("protected-mode") }); n != 0 {
		t.Fatalf("typed getters allocate %v", n)
	}
}

func TestUsage(t *testing.T) {
	var b strings.Builder
	Usage(&b)
	for _, want := range []string{"--maxmemory auto", "--port 6379", "[fixed at start]", "--shutdown-timeout 10s"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("usage lacks %q:\n%s", want, b.String())
		}
	}
}

// TestAliases: Redis's old names (hash-max-ziplist-*) read and change the same setting, and
// a refused value names the alias the client used, as Redis 7.0.15 does.
func TestAliases(t *testing.T) {
	c := New()
	if err := c.Set("hash-max-ziplist-entries", "7"); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("hash-max-listpack-entries"); v != "7" || c.Int("hash-max-ziplist-entries") != 7 {
		t.Fatalf("alias did not change the setting: %q", v)
	}
	f := func(name, value, want string) {
		t.Helper()
		err := c.Set(name, value)
		if err == nil || err.Error() != want {
			t.Fatalf("Set(%q, %q) = %v, want %q", name, value, err, want)
		}
	}
	f("hash-max-ziplist-entries", "-1", "ERR CONFIG SET failed (possibly related to argument 'hash-max-ziplist-entries') - argument must be between 0 and 9223372036854775807 inclusive")
	f("hash-max-listpack-entries", "1k", "ERR CONFIG SET failed (possibly related to argument 'hash-max-listpack-entries') - argument couldn't be parsed into an integer")
	f("hash-max-listpack-value", "-1", "ERR CONFIG SET failed (possibly related to argument 'hash-max-listpack-value') - argument must be a memory value")
	if err := c.Set("hash-max-ziplist-value", "1kb"); err != nil || c.Int("hash-max-listpack-value") != 1024 {
		t.Fatal("value accepts memory units", err)
	}
}
