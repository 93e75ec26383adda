package main

// Integration with real clients against the real binary (or redis-server with
// SIDECACHE_DIFF_TARGET=redis): go-redis v9 in RESP3 and RESP2 over TCP and the Unix socket,
// redis-cli, raw inline commands, a 10,000-command pipeline in one write, and commands that
// arrive a byte at a time.

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startClientTarget starts the server under test with a Unix socket.
func startClientTarget(t *testing.T) *proc {
	t.Helper()
	return startSubject(t)
}

func TestGoRedis(t *testing.T) {
	p := startClientTarget(t)
	for _, tc := range []struct {
		name     string
		network  string
		addr     string
		protocol int
	}{
		{"tcp-resp3", "tcp", p.Addr, 3},
		{"tcp-resp2", "tcp", p.Addr, 2},
		{"unix-resp3", "unix", p.Socket, 3},
		{"unix-resp2", "unix", p.Socket, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rdb := redis.NewClient(&redis.Options{
				Network:      tc.network,
				Addr:         tc.addr,
				Protocol:     tc.protocol,
				DialTimeout:  5 * time.Second,
				ReadTimeout:  5 * time.Second,
				WriteTimeout: 5 * time.Second,
				MaxRetries:   -1,
			})
			defer rdb.Close()
			prefix := tc.name + ":"
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			if got, err := rdb.Ping(ctx).Result(); err != nil || got != "PONG" {
				t.Fatalf("PING = %q, %v", got, err)
			}
			must(rdb.Set(ctx, prefix+"k", "v", 0).Err())
			if got, err := rdb.Get(ctx, prefix+"k").Result(); err != nil || got != "v" {
				t.Fatalf("GET = %q, %v", got, err)
			}
			if _, err := rdb.Get(ctx, prefix+"missing").Result(); err != redis.Nil {
				t.Fatalf("GET missing: err = %v, want redis.Nil", err)
			}
			if n, err := rdb.Incr(ctx, prefix+"n").Result(); err != nil || n != 1 {
				t.Fatalf("INCR = %d, %v", n, err)
			}
			if n, err := rdb.IncrBy(ctx, prefix+"n", 41).Result(); err != nil || n != 42 {
				t.Fatalf("INCRBY = %d, %v", n, err)
			}
			if f, err := rdb.IncrByFloat(ctx, prefix+"f", 1.5).Result(); err != nil || f != 1.5 {
				t.Fatalf("INCRBYFLOAT = %v, %v", f, err)
			}
			if ok, err := rdb.Expire(ctx, prefix+"k", time.Hour).Result(); err != nil || !ok {
				t.Fatalf("EXPIRE = %v, %v", ok, err)
			}
			if d, err := rdb.TTL(ctx, prefix+"k").Result(); err != nil || d != time.Hour {
				t.Fatalf("TTL = %v, %v", d, err)
			}
			if d, err := rdb.TTL(ctx, prefix+"missing").Result(); err != nil || d != -2 {
				t.Fatalf("TTL missing = %v, %v", d, err)
			}
			must(rdb.Set(ctx, prefix+"ex", "v", 90*time.Second).Err())
			if d, err := rdb.PTTL(ctx, prefix+"ex").Result(); err != nil || d <= 80*time.Second || d > 90*time.Second {
				t.Fatalf("PTTL after SET EX 90 = %v, %v", d, err)
			}
			if ok, err := rdb.SetNX(ctx, prefix+"k", "other", 0).Result(); err != nil || ok {
				t.Fatalf("SETNX existing = %v, %v", ok, err)
			}
			must(rdb.MSet(ctx, prefix+"a", "1", prefix+"b", "2").Err())
			vals, err := rdb.MGet(ctx, prefix+"a", prefix+"missing", prefix+"b").Result()
			if err != nil || len(vals) != 3 || vals[0] != "1" || vals[1] != nil || vals[2] != "2" {
				t.Fatalf("MGET = %#v, %v", vals, err)
			}
			if n, err := rdb.Del(ctx, prefix+"a", prefix+"b", prefix+"missing").Result(); err != nil || n != 2 {
				t.Fatalf("DEL = %d, %v", n, err)
			}
			if typ, err := rdb.Type(ctx, prefix+"k").Result(); err != nil || typ != "string" {
				t.Fatalf("TYPE = %q, %v", typ, err)
			}
			if _, err := rdb.Incr(ctx, prefix+"k").Result(); err == nil || err.Error() != "ERR value is not an integer or out of range" {
				t.Fatalf("INCR on a non-integer: err = %v", err)
			}
			if _, err := rdb.Do(ctx, "nosuchcommand").Result(); err == nil || !strings.HasPrefix(err.Error(), "ERR unknown command 'nosuchcommand'") {
				t.Fatalf("unknown command: err = %v", err)
			}

			// pipelining: many commands, one round trip
			pipe := rdb.Pipeline()
			var incrs []*redis.IntCmd
			for i := 0; i < 100; i++ {
				pipe.Set(ctx, prefix+"p"+strconv.Itoa(i), i, 0)
				incrs = append(incrs, pipe.Incr(ctx, prefix+"p"+strconv.Itoa(i)))
			}
			get := pipe.Get(ctx, prefix+"p99")
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatalf("pipeline: %v", err)
			}
			for i, c := range incrs {
				if c.Val() != int64(i+1) {
					t.Fatalf("pipeline INCR %d = %d", i, c.Val())
				}
			}
			if get.Val() != "100" {
				t.Fatalf("pipeline GET = %q", get.Val())
			}

			// keys and scan through the client helpers
			keys, err := rdb.Keys(ctx, prefix+"p1*").Result()
			if err != nil || len(keys) != 11 {
				t.Fatalf("KEYS = %d keys, %v", len(keys), err)
			}
			var scanned int
			iter := rdb.Scan(ctx, 0, prefix+"p*", 7).Iterator()
			seen := map[string]bool{}
			for iter.Next(ctx) {
				if !seen[iter.Val()] {
					seen[iter.Val()] = true
					scanned++
				}
			}
			if err := iter.Err(); err != nil || scanned != 100 {
				t.Fatalf("SCAN = %d keys, %v", scanned, err)
			}
		})
	}
}

// redisCLI runs redis-cli with a deadline and returns its trimmed output.
func redisCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skipf("redis-cli not installed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestRedisCLI(t *testing.T) {
	p := startClientTarget(t)
	_, port, _ := net.SplitHostPort(p.Addr)
	if got := redisCLI(t, "", "-p", port, "ping"); got != "PONG" {
		t.Fatalf("redis-cli -p ping = %q", got)
	}
	if got := redisCLI(t, "", "-s", p.Socket, "ping"); got != "PONG" {
		t.Fatalf("redis-cli -s ping = %q", got)
	}
	if got := redisCLI(t, "", "-p", port, "set", "cli:k", "hello world"); got != "OK" {
		t.Fatalf("redis-cli set = %q", got)
	}
	if got := redisCLI(t, "", "-s", p.Socket, "get", "cli:k"); got != "hello world" {
		t.Fatalf("redis-cli get = %q", got)
	}
	// RESP3 through redis-cli (not a terminal: a nil prints as an empty line)
	if got := redisCLI(t, "", "-p", port, "-3", "get", "cli:k"); got != "hello world" {
		t.Fatalf("redis-cli -3 get = %q", got)
	}
	if got := redisCLI(t, "", "-p", port, "-3", "get", "cli:missing"); got != "" {
		t.Fatalf("redis-cli -3 get missing = %q", got)
	}
	// commands on stdin, one per line
	if got := redisCLI(t, "incr cli:n\nincr cli:n\nget cli:n\n", "-p", port); got != "1\n2\n2" {
		t.Fatalf("redis-cli stdin = %q", got)
	}
	// --pipe: a raw RESP stream of 1000 SETs; redis-cli appends an ECHO to find the end
	var b bytes.Buffer
	for i := 0; i < 1000; i++ {
		b.Write(encodeCommand([]string{"SET", "pipe:" + strconv.Itoa(i), strconv.Itoa(i)}))
	}
	got := redisCLI(t, b.String(), "-p", port, "--pipe")
	if !strings.Contains(got, "errors: 0, replies: 1000") {
		t.Fatalf("redis-cli --pipe:\n%s", got)
	}
	if got := redisCLI(t, "", "-p", port, "get", "pipe:999"); got != "999" {
		t.Fatalf("after --pipe, get pipe:999 = %q", got)
	}
}

// TestInlinePing is `echo PING | nc`: an inline command over a raw socket.
func TestInlinePing(t *testing.T) {
	p := startClientTarget(t)
	for _, addr := range []string{p.Addr, p.Socket} {
		c := dialResp(t, addr)
		if err := c.Send([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		if rep, err := c.Read(); err != nil || string(rep) != "+PONG\r\n" {
			t.Fatalf("%s: inline PING = %q, %v", addr, rep, err)
		}
		c.Close()
	}
}

// TestPipeline10k writes 10,000 commands in one write and checks that all 10,000 replies
// come back, in order.
func TestPipeline10k(t *testing.T) {
	p := startClientTarget(t)
	const n = 10000
	for _, addr := range []string{p.Addr, p.Socket} {
		c := dialResp(t, addr)
		var b []byte
		for i := 0; i < n; i++ {
			switch i % 3 {
			case 0:
				b = append(b, encodeCommand([]string{"INCR", "pl:counter"})...)
			case 1:
				b = append(b, encodeCommand([]string{"SET", "pl:" + strconv.Itoa(i), strconv.Itoa(i)})...)
			default:
				b = append(b, encodeCommand([]string{"GET", "pl:" + strconv.Itoa(i-1)})...)
			}
		}
		c.Do("DEL", "pl:counter")
		// write from another goroutine: the server may stop reading while its replies are
		// not consumed, and this goroutine must be reading them
		werr := make(chan error, 1)
		go func() { werr <- c.Send(b) }()
		for i := 0; i < n; i++ {
			rep, err := c.Read()
			if err != nil {
				t.Fatalf("%s: reply %d: %v", addr, i, err)
			}
			var want string
			switch i % 3 {
			case 0:
				want = ":" + strconv.Itoa(i/3+1) + "\r\n"
			case 1:
				want = "+OK\r\n"
			default:
				v := strconv.Itoa(i - 1)
				want = "$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n"
			}
			if string(rep) != want {
				t.Fatalf("%s: reply %d = %q, want %q", addr, i, rep, want)
			}
		}
		if err := <-werr; err != nil {
			t.Fatalf("%s: write: %v", addr, err)
		}
		if rep := c.Do("PING"); string(rep) != "+PONG\r\n" {
			t.Fatalf("%s: PING after the pipeline = %q", addr, rep)
		}
		c.Close()
	}
}

// TestPartialWrites sends commands a byte (or a small chunk) at a time with small pauses;
// the server must assemble them and answer once each command is complete.
func TestPartialWrites(t *testing.T) {
	p := startClientTarget(t)
	big := strings.Repeat("0123456789abcdef", 64<<10/16*4) // 256 KiB value
	cases := []struct {
		name  string
		cmd   []byte
		chunk int
		want  string
	}{
		{"multibulk", encodeCommand([]string{"SET", "pw:k", "hello"}), 1, "+OK\r\n"},
		{"get", encodeCommand([]string{"GET", "pw:k"}), 1, "$5\r\nhello\r\n"},
		{"inline", []byte("ECHO \"a b\"\r\n"), 1, "$3\r\na b\r\n"},
		{"two-in-pieces", append(encodeCommand([]string{"INCR", "pw:n"}), encodeCommand([]string{"INCR", "pw:n"})...), 3, ":1\r\n:2\r\n"},
		{"big-value", encodeCommand([]string{"SET", "pw:big", big}), 7 << 10, "+OK\r\n"},
	}
	for _, addr := range []string{p.Addr, p.Socket} {
		c := dialResp(t, addr)
		c.Do("DEL", "pw:n")
		for _, tc := range cases {
			for off := 0; off < len(tc.cmd); off += tc.chunk {
				end := min(off+tc.chunk, len(tc.cmd))
				if err := c.Send(tc.cmd[off:end]); err != nil {
					t.Fatalf("%s %s: send: %v", addr, tc.name, err)
				}
				if end < len(tc.cmd) && (tc.chunk > 1 || off%8 == 0) {
					time.Sleep(time.Millisecond)
				}
			}
			var got []byte
			for len(got) < len(tc.want) {
				rep, err := c.Read()
				if err != nil {
					t.Fatalf("%s %s: reply: %v (so far %q)", addr, tc.name, err, got)
				}
				got = append(got, rep...)
			}
			if string(got) != tc.want {
				t.Fatalf("%s %s: reply %q, want %q", addr, tc.name, got, tc.want)
			}
		}
		if rep := c.Do("STRLEN", "pw:big"); string(rep) != ":"+strconv.Itoa(len(big))+"\r\n" {
			t.Fatalf("%s: STRLEN of the big value = %q", addr, rep)
		}
		c.Close()
	}
}

// TestNoReplyBeforeComplete checks that half a command gets no reply and does not block
// other connections.
func TestNoReplyBeforeComplete(t *testing.T) {
	p := startClientTarget(t)
	a := dialResp(t, p.Addr)
	if err := a.Send([]byte("*2\r\n$4\r\nECHO\r\n$5\r\nhel")); err != nil {
		t.Fatal(err)
	}
	b := dialResp(t, p.Addr)
	if rep := b.Do("PING"); string(rep) != "+PONG\r\n" {
		t.Fatalf("other connection: PING = %q", rep)
	}
	a.c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if buf, err := a.br.Peek(1); err == nil {
		t.Fatalf("reply to an incomplete command: %q", buf)
	}
	if err := a.Send([]byte("lo\r\n")); err != nil {
		t.Fatal(err)
	}
	if rep, err := a.Read(); err != nil || string(rep) != "$5\r\nhello\r\n" {
		t.Fatalf("completed ECHO = %q, %v", rep, err)
	}
}
