package main

// Tests of the binary's process behaviour: shutdown order, restart after SIGKILL, the ping
// subcommand, configuration from the environment, the admin endpoints.

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is a sidecache process with a known admin address.
type server struct {
	*proc
	admin string
}

func startServerEnv(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	bin := sidecacheBinary(t)
	port, adminPort := freePort(t), freePort(t)
	sock := filepath.Join(shortTempDir(t), "s.sock")
	admin := net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort))
	all := append([]string{"--port", strconv.Itoa(port), "--unixsocket", sock, "--admin-addr", admin}, args...)
	p := &proc{
		Name:   "sidecache",
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Socket: sock,
		out:    &syncBuffer{},
		done:   make(chan struct{}),
	}
	p.cmd = exec.Command(bin, all...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.PID = p.cmd.Process.Pid
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("sidecache output:\n%s", tail(p.out.String(), 4000))
		}
	})
	if err := p.waitReady(); err != nil {
		t.Fatalf("not ready: %v\n%s", err, tail(p.out.String(), 4000))
	}
	return &server{proc: p, admin: admin}
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// DESIGN.md's order: /ready fails at once, RESP keeps serving for shutdown-delay, then the
// process drains, removes its socket and exits 0.
func TestShutdownOrder(t *testing.T) {
	s := startServerEnv(t, nil, "--shutdown-delay", "1500ms", "--shutdown-timeout", "2s")
	if code := httpStatus(t, "http://"+s.admin+"/ready"); code != 200 {
		t.Fatalf("/ready before SIGTERM: %d", code)
	}
	held := dialResp(t, s.Addr)
	if got := string(held.Do("SET", "k", "v")); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	if err := syscall.Kill(s.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for httpStatus(t, "http://"+s.admin+"/ready") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/ready did not turn 503 after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Still serving during shutdown-delay: the open connection and a new one.
	if got := string(held.Do("GET", "k")); got != "$1\r\nv\r\n" {
		t.Fatalf("GET during shutdown-delay: %q", got)
	}
	fresh := dialResp(t, s.Addr)
	if got := string(fresh.Do("PING")); got != "+PONG\r\n" {
		t.Fatalf("new connection during shutdown-delay: %q", got)
	}
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("process did not exit")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if _, err := os.Stat(s.Socket); !os.IsNotExist(err) {
		t.Fatalf("socket file left behind: %v", err)
	}
}

// A second SIGTERM cuts shutdown-delay short.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	s := startServerEnv(t, nil, "--shutdown-delay", "60s")
	_ = syscall.Kill(s.PID, syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	_ = syscall.Kill(s.PID, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("second SIGTERM did not end the process")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// After SIGKILL the socket file stays; a restart on the same path replaces it.
func TestRestartAfterKillReplacesSocket(t *testing.T) {
	s := startServerEnv(t, nil)
	_ = syscall.Kill(s.PID, syscall.SIGKILL)
	<-s.done
	if _, err := os.Stat(s.Socket); err != nil {
		t.Fatalf("expected a stale socket file after SIGKILL: %v", err)
	}
	// The later flag wins: the restart listens on the stale socket's path.
	startServerEnv(t, nil, "--unixsocket", s.Socket)
	r := dialResp(t, s.Socket)
	if got := string(r.Do("PING")); got != "+PONG\r\n" {
		t.Fatalf("PING over the replaced socket: %q", got)
	}
}

// A path that exists and is not a socket is never removed to make room.
func TestUnixSocketPathNotASocket(t *testing.T) {
	dir := shortTempDir(t)
	path := filepath.Join(dir, "data")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sidecacheBinary(t), "--port", strconv.Itoa(freePort(t)), "--unixsocket", path, "--admin-addr", "")
	out, err := runBounded(cmd, 10*time.Second)
	if err == nil {
		t.Fatalf("started on a regular file: %s", out)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Fatal("regular file was replaced")
	}
}

func TestUnixSocketPerm(t *testing.T) {
	s := startServerEnv(t, nil, "--unixsocketperm", "770")
	fi, err := os.Stat(s.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o770 {
		t.Fatalf("perm %o, want 770", perm)
	}
}

func runBounded(cmd *exec.Cmd, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Env = cmd.Env
	out, err := c.CombinedOutput()
	return string(out), err
}

func TestPingSubcommand(t *testing.T) {
	s := startServerEnv(t, nil)
	bin := sidecacheBinary(t)
	_, port, _ := net.SplitHostPort(s.Addr)
	f := func(wantOK bool, args ...string) {
		t.Helper()
		out, err := runBounded(exec.Command(bin, args...), 10*time.Second)
		if (err == nil) != wantOK {
			t.Fatalf("sidecache %v: err=%v out=%q", args, err, out)
		}
		if wantOK && !strings.Contains(out, "PONG") {
			t.Fatalf("sidecache %v: %q", args, out)
		}
	}
	f(true, "ping", "--port", port)
	f(true, "ping", "--unixsocket", s.Socket)
	f(true, "--unixsocket", s.Socket, "ping")
	f(false, "ping", "--port", strconv.Itoa(freePort(t)))
	env := exec.Command(bin, "ping")
	env.Env = append(os.Environ(), "SIDECACHE_PORT="+port)
	if out, err := runBounded(env, 10*time.Second); err != nil {
		t.Fatalf("ping with SIDECACHE_PORT: %v %s", err, out)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	s := startServerEnv(t, []string{"SIDECACHE_DATABASES=4", "SIDECACHE_MAXMEMORY=64mb"})
	c := dialResp(t, s.Addr)
	if got := string(c.Do("SELECT", "3")); got != "+OK\r\n" {
		t.Fatalf("SELECT 3: %q", got)
	}
	if got := string(c.Do("SELECT", "4")); got != "-ERR DB index is out of range\r\n" {
		t.Fatalf("SELECT 4: %q", got)
	}
	if got := string(c.Do("CONFIG", "GET", "maxmemory")); got != "*2\r\n$9\r\nmaxmemory\r\n$8\r\n67108864\r\n" {
		t.Fatalf("CONFIG GET maxmemory: %q", got)
	}
}

func TestHealthAndReady(t *testing.T) {
	s := startServerEnv(t, nil)
	c := dialResp(t, s.Addr)
	c.Do("SET", "a", "1")
	c.Do("GET", "a")
	c.Do("GET", "missing")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.admin+"/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || h["status"] != "ok" || h["entries"] != float64(1) || h["hit_rate"] != 0.5 {
		t.Fatalf("/health %d %v", resp.StatusCode, h)
	}
	for _, k := range []string{"memory_used", "memory_limit", "uptime_seconds", "connected_clients"} {
		if _, ok := h[k]; !ok {
			t.Fatalf("/health lacks %s: %v", k, h)
		}
	}
	if code := httpStatus(t, "http://"+s.admin+"/ready"); code != 200 {
		t.Fatalf("/ready: %d", code)
	}
}
