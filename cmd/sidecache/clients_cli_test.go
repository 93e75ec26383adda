package main

// The client scenarios (clients_scenarios_test.go) through redis-cli: one interactive
// redis-cli process per transport and protocol, fed commands on stdin one line at a time
// (redis-cli answers each line before it reads the next, and flushes), so a write from
// another connection can land between WATCH and EXEC.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cliSession is a running redis-cli whose stdin and stdout the test holds.
type cliSession struct {
	t     *testing.T
	stdin io.WriteCloser
	lines chan string // stdout, one line at a time; closed at EOF
}

// startCLI starts redis-cli with args; it is killed by PID in t.Cleanup.
func startCLI(t *testing.T, args ...string) *cliSession {
	t.Helper()
	bin, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skipf("redis-cli not installed: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-cli %v: %v", args, err)
	}
	s := &cliSession{t: t, stdin: stdin, lines: make(chan string, 1024)}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
		cancel()
	})
	return s
}

// Do sends one command line and returns the n lines redis-cli prints for it.
func (s *cliSession) Do(line string, n int) []string {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, line+"\n"); err != nil {
		s.t.Fatalf("redis-cli: write %q: %v", line, err)
	}
	return s.read(line, n)
}

func (s *cliSession) read(what string, n int) []string {
	s.t.Helper()
	var out []string
	timeout := time.After(ioTimeout)
	for len(out) < n {
		select {
		case l, ok := <-s.lines:
			if !ok {
				s.t.Fatalf("redis-cli exited; %q printed %q, want %d lines", what, out, n)
			}
			out = append(out, l)
		case <-timeout:
			s.t.Fatalf("redis-cli: %q printed %q within %v, want %d lines", what, out, ioTimeout, n)
		}
	}
	return out
}

// Expect sends one command line and checks the lines printed.
func (s *cliSession) Expect(line string, want ...string) {
	s.t.Helper()
	if got := s.Do(line, len(want)); !slices.Equal(got, want) {
		s.t.Fatalf("redis-cli %q printed %q, want %q", line, got, want)
	}
}

// Int sends one command line whose reply is an integer.
func (s *cliSession) Int(line string) int64 {
	s.t.Helper()
	got := s.Do(line, 1)
	n, err := strconv.ParseInt(got[0], 10, 64)
	if err != nil {
		s.t.Fatalf("redis-cli %q printed %q, want an integer", line, got[0])
	}
	return n
}

func TestClientScenariosRedisCLI(t *testing.T) {
	p := startClientTarget(t)
	_, port, _ := net.SplitHostPort(p.Addr)
	for _, tr := range transports(p) {
		for _, proto := range []int{3, 2} {
			name := fmt.Sprintf("%s-resp%d", tr.name, proto)
			t.Run(name, func(t *testing.T) {
				args := []string{"-p", port}
				if tr.network == "unix" {
					args = []string{"-s", tr.addr}
				}
				args = append(args, "-"+strconv.Itoa(proto))
				k := "cli:" + name + ":"
				t.Run("handshake", func(t *testing.T) {
					cli := startCLI(t, args...)
					info := cli.Do("CLIENT INFO", 1)[0]
					if !strings.Contains(info, " resp="+strconv.Itoa(proto)) {
						t.Fatalf("CLIENT INFO = %q, want resp=%d", info, proto)
					}
				})
				t.Run("session", func(t *testing.T) { cliSessionScenario(t, startCLI(t, args...), proto, k) })
				t.Run("ratelimit", func(t *testing.T) { cliRateLimit(t, startCLI(t, args...), k) })
				t.Run("dedup", func(t *testing.T) { cliDedup(t, startCLI(t, args...), k) })
				t.Run("pipeline", func(t *testing.T) { cliPipeline(t, startCLI(t, args...), k) })
				t.Run("tx", func(t *testing.T) { cliTx(t, startCLI(t, args...), k) })
				t.Run("watch", func(t *testing.T) { cliWatch(t, startCLI(t, args...), tr, k) })
			})
		}
	}
}

// hashLines is how redis-cli prints a hash: a RESP2 array one element a line, a RESP3 map
// one "field value" pair a line.
func hashLines(proto int, kv ...string) []string {
	if proto == 2 {
		return kv
	}
	var out []string
	for i := 0; i < len(kv); i += 2 {
		out = append(out, kv[i]+" "+kv[i+1])
	}
	return out
}

func cliSessionScenario(t *testing.T, cli *cliSession, proto int, k string) {
	sess := k + "session:abc"
	cli.Expect("HSET "+sess+" user 42 name ada role admin hits 0", "4")
	cli.Expect("EXPIRE "+sess+" "+strconv.Itoa(int(sessionTTL/time.Second)), "1")
	cli.Expect("HGETALL "+sess, hashLines(proto, "user", "42", "name", "ada", "role", "admin", "hits", "0")...)
	cli.Expect("HGET "+sess+" name", "ada")
	cli.Expect("HGET "+sess+" nosuch", "")
	cli.Expect("HINCRBY "+sess+" hits 3", "3")
	cli.Expect("HINCRBY "+sess+" name 1", "ERR hash value is not an integer", "") // an error is followed by an empty line
	cli.Expect("HDEL "+sess+" role nosuch", "1")
	cli.Expect("HGETALL "+sess, hashLines(proto, "user", "42", "name", "ada", "hits", "3")...)
	cli.Expect("HGETALL "+k+"session:none", "")
	if ttl := cli.Int("TTL " + sess); ttl <= 0 || ttl > int64(sessionTTL/time.Second) {
		t.Fatalf("TTL = %d", ttl)
	}
}

func cliRateLimit(t *testing.T, cli *cliSession, k string) {
	key := k + "rl:user42"
	for i := int64(1); i <= rateLimit+1; i++ {
		n := cli.Int("INCR " + key)
		exp := cli.Int("EXPIRE " + key + " 60 NX")
		if n != i || (exp == 1) != (i == 1) {
			t.Fatalf("request %d: INCR = %d, EXPIRE NX = %d", i, n, exp)
		}
		if allowed := n <= rateLimit; allowed != (i <= rateLimit) {
			t.Fatalf("request %d: allowed = %v", i, allowed)
		}
	}
	if ttl := cli.Int("TTL " + key); ttl <= 0 || ttl > 60 {
		t.Fatalf("TTL of the window = %d", ttl)
	}
	key = k + "rl-px:user42"
	for i := int64(1); i <= rateLimit+1; i++ {
		n := cli.Int("INCR " + key)
		if n != i {
			t.Fatalf("request %d: INCR = %d", i, n)
		}
		if n == 1 {
			cli.Expect("PEXPIRE "+key+" 60000", "1")
		}
	}
	if pttl := cli.Int("PTTL " + key); pttl <= 0 || pttl > 60000 {
		t.Fatalf("PTTL of the window = %d", pttl)
	}
}

func cliDedup(t *testing.T, cli *cliSession, k string) {
	key := k + "dedup:msg-1"
	cli.Expect("SET "+key+" seen NX EX 60", "OK")
	cli.Expect("SET "+key+" seen NX EX 60", "") // a nil reply prints as an empty line
	key = k + "dedup:msg-2"
	px := strconv.Itoa(int(dedupShortTTL / time.Millisecond))
	cli.Expect("SET "+key+" seen NX PX "+px, "OK")
	cli.Expect("SET "+key+" seen NX PX "+px, "")
	waitExpired(t, func() (bool, error) { return cli.Int("EXISTS "+key) == 1, nil })
	cli.Expect("SET "+key+" seen NX PX "+px, "OK")
}

// cliPipeline writes all 100 command lines at once, then reads the 100 replies.
func cliPipeline(t *testing.T, cli *cliSession, k string) {
	cmds, want := pipelineScript(k + "pl:")
	var b strings.Builder
	for _, c := range cmds {
		b.WriteString(strings.Join(c, " ") + "\n")
	}
	if _, err := io.WriteString(cli.stdin, b.String()); err != nil {
		t.Fatal(err)
	}
	got := cli.read("the pipeline", len(cmds))
	for i := range want {
		w := want[i]
		if w == "(nil)" {
			w = ""
		}
		if got[i] != w {
			t.Fatalf("reply %d to %q = %q, want %q", i, cmds[i], got[i], w)
		}
	}
}

func cliTx(t *testing.T, cli *cliSession, k string) {
	a, h := k+"tx:a", k+"tx:h"
	cli.Expect("MULTI", "OK")
	for _, c := range []string{"SET " + a + " 1", "INCR " + a, "HSET " + h + " f v", "EXPIRE " + a + " 60", "GET " + a} {
		cli.Expect(c, "QUEUED")
	}
	cli.Expect("EXEC", "OK", "2", "1", "1", "2")
}

func cliWatch(t *testing.T, cli *cliSession, tr transport, k string) {
	bal := k + "tx:balance"
	cli.Expect("SET "+bal+" 100", "OK")
	other := dialResp(t, tr.addr)
	defer other.Close()
	cli.Expect("WATCH "+bal, "OK")
	cli.Expect("GET "+bal, "100")
	if rep := other.Do("SET", bal, "50"); string(rep) != "+OK\r\n" {
		t.Fatalf("SET from the other connection = %q", rep)
	}
	cli.Expect("MULTI", "OK")
	cli.Expect("SET "+bal+" 90", "QUEUED")
	cli.Expect("EXEC", "") // aborted: a null reply
	cli.Expect("GET "+bal, "50")
	cli.Expect("WATCH "+bal, "OK")
	cli.Expect("GET "+bal, "50")
	cli.Expect("MULTI", "OK")
	cli.Expect("SET "+bal+" 40", "QUEUED")
	cli.Expect("EXEC", "OK")
	cli.Expect("GET "+bal, "40")
}
