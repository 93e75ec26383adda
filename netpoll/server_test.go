package netpoll

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sidecache/sidecache/command"
	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// testServer runs a real Server on a free loopback port and a Unix socket, with the real
// command layer and engine behind it.
type testServer struct {
	*Server
	tcp, unix string
	done      chan error
}

func startServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	return startServerConfig(t, opts, config.New())
}

// startServerConfig is startServer with the command layer's settings.
func startServerConfig(t testing.TB, opts Options, cfg *config.Config) *testServer {
	t.Helper()
	eng, err := engine.Open(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := command.NewServer(command.Options{Engine: eng, Config: cfg, Version: "test"})
	return serveCommands(t, opts, eng, cmd)
}

// serveCommands serves cmd (over eng) on a free loopback port and a Unix socket until the
// test ends; the engine is closed with the server.
func serveCommands(t testing.TB, opts Options, eng *engine.Engine, cmd *command.Server) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir, err := os.MkdirTemp("", "np")
	if err != nil {
		t.Fatal(err)
	}
	opts.TCP = []string{addr}
	opts.UnixSocket = filepath.Join(dir, "s.sock")
	opts.Loops = 2
	s := &testServer{Server: New(cmd, opts), tcp: addr, unix: opts.UnixSocket, done: make(chan error, 1)}
	go func() { s.done <- s.Serve() }()
	select {
	case <-s.Booted():
	case err := <-s.done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not boot")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx, time.Second)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
		eng.Close()
		os.RemoveAll(dir)
	})
	return s
}

type client struct {
	t  testing.TB
	c  net.Conn
	rd *protocol.Reader
}

func dial(t testing.TB, network, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, rd: protocol.NewReader(c)}
}

func (c *client) send(b []byte) {
	c.t.Helper()
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() protocol.Value {
	c.t.Helper()
	v, err := c.rd.ReadValue()
	if err != nil {
		c.t.Fatal(err)
	}
	return v
}

func cmdBytes(args ...string) []byte {
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	return protocol.AppendCommand(nil, bs...)
}

func TestInlinePing(t *testing.T) {
	s := startServer(t, Options{})
	for _, nw := range []struct{ network, addr string }{{"tcp", s.tcp}, {"unix", s.unix}} {
		c := dial(t, nw.network, nw.addr)
		c.send([]byte("PING\r\n"))
		line, err := bufio.NewReader(c.c).ReadString('\n')
		if err != nil || line != "+PONG\r\n" {
			t.Fatalf("%s: got %q, %v", nw.network, line, err)
		}
	}
}

// All replies of a pipeline come back, in order, even when the batch is far larger than one
// read and than the reply budget of one turn.
func TestPipelineInOrder(t *testing.T) {
	s := startServer(t, Options{})
	c := dial(t, "tcp", s.tcp)
	const n = 20000
	var req []byte
	for i := 0; i < n; i++ {
		req = append(req, cmdBytes("SET", "k"+strconv.Itoa(i%100), strconv.Itoa(i))...)
		req = append(req, cmdBytes("GET", "k"+strconv.Itoa(i%100))...)
	}
	go c.send(req)
	for i := 0; i < n; i++ {
		if v := c.read(); string(v.Str) != "OK" {
			t.Fatalf("reply %d to SET: %q", i, v.Str)
		}
		if v := c.read(); string(v.Str) != strconv.Itoa(i) {
			t.Fatalf("reply %d to GET: %q", i, v.Str)
		}
	}
}

// Replies larger than one turn's budget make the loop yield and come back (Wake) for the
// commands left: none is stranded waiting for input that never comes.
func TestLargeRepliesYieldAndResume(t *testing.T) {
	s := startServer(t, Options{})
	c := dial(t, "tcp", s.tcp)
	big := strings.Repeat("v", 1<<20)
	c.send(cmdBytes("SET", "big", big))
	if v := c.read(); string(v.Str) != "OK" {
		t.Fatalf("SET: %q", v.Str)
	}
	var req []byte
	const n = 12 // 12 MiB of replies: three turns at least
	for i := 0; i < n; i++ {
		req = append(req, cmdBytes("GET", "big")...)
	}
	req = append(req, cmdBytes("PING")...)
	c.send(req)
	for i := 0; i < n; i++ {
		if v := c.read(); len(v.Str) != len(big) {
			t.Fatalf("GET %d: %d bytes", i, len(v.Str))
		}
	}
	if v := c.read(); string(v.Str) != "PONG" {
		t.Fatalf("PING: %q", v.Str)
	}
}

// A command split at every byte still gets exactly one reply; a bulk larger than a read
// arrives whole.
func TestSplitWrites(t *testing.T) {
	s := startServer(t, Options{})
	c := dial(t, "unix", s.unix)
	req := cmdBytes("SET", "key", "some value")
	for i := range req {
		c.send(req[i : i+1])
		if i%7 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if v := c.read(); string(v.Str) != "OK" {
		t.Fatalf("SET: %q", v.Str)
	}
	big := bytes.Repeat([]byte("0123456789"), 1<<20) // 10 MiB in many reads
	go c.send(protocol.AppendCommand(nil, []byte("SET"), []byte("big"), big))
	if v := c.read(); string(v.Str) != "OK" {
		t.Fatalf("SET big: %q", v.Str)
	}
	c.send(cmdBytes("STRLEN", "big"))
	if v := c.read(); v.Int != int64(len(big)) {
		t.Fatalf("STRLEN: %d", v.Int)
	}
}

func TestProtocolErrorCloses(t *testing.T) {
	s := startServer(t, Options{})
	c := dial(t, "tcp", s.tcp)
	c.send([]byte("*1\r\n$-5\r\n"))
	got, _ := io.ReadAll(c.c)
	if string(got) != "-ERR Protocol error: invalid bulk length\r\n" {
		t.Fatalf("got %q", got)
	}
}

func TestMaxClients(t *testing.T) {
	s := startServer(t, Options{MaxClients: 2})
	a, b := dial(t, "tcp", s.tcp), dial(t, "unix", s.unix)
	for _, c := range []*client{a, b} {
		c.send(cmdBytes("PING"))
		c.read()
	}
	c := dial(t, "tcp", s.tcp)
	got, _ := io.ReadAll(c.c)
	if string(got) != "-ERR max number of clients reached\r\n" {
		t.Fatalf("got %q", got)
	}
	if n := s.Stats().Rejected.Load(); n != 1 {
		t.Fatalf("rejected = %d", n)
	}
}

func TestQueryBufferLimitCloses(t *testing.T) {
	s := startServer(t, Options{QueryBufferLimit: 64 << 10})
	c := dial(t, "tcp", s.tcp)
	// A bulk that never completes: the server must not hold more than the limit for it.
	c.send([]byte("*2\r\n$3\r\nGET\r\n$1000000\r\n"))
	chunk := bytes.Repeat([]byte("x"), 16<<10)
	closed := false
	for i := 0; i < 64 && !closed; i++ {
		if _, err := c.c.Write(chunk); err != nil {
			closed = true
		}
	}
	if !closed {
		_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.c.Read(make([]byte, 1))
		closed = err != nil
	}
	if !closed {
		t.Fatal("connection over the query buffer limit stayed open")
	}
	other := dial(t, "tcp", s.tcp)
	other.send(cmdBytes("PING"))
	if v := other.read(); string(v.Str) != "PONG" {
		t.Fatalf("other client: %q", v.Str)
	}
}

// A client that sends but does not read is closed once its unread replies pass the limit;
// everyone else keeps being served.
func TestOutputBufferLimitCloses(t *testing.T) {
	s := startServer(t, Options{OutputLimit: OutputLimit{Hard: 8 << 20}})
	setup := dial(t, "tcp", s.tcp)
	setup.send(cmdBytes("SET", "big", strings.Repeat("v", 1<<20)))
	setup.read()

	slow := dial(t, "tcp", s.tcp)
	// 4096 replies of 1 MiB requested, none read until the server has had time to act.
	req := bytes.Repeat(cmdBytes("GET", "big"), 4096)
	_ = slow.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = slow.c.Write(req)
	time.Sleep(200 * time.Millisecond)
	_ = slow.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(io.Discard, slow.c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %d bytes: limit not enforced", n)
	}
	if n >= 4096<<20 {
		t.Fatalf("all %d bytes delivered: limit not enforced", n)
	}
	setup.send(cmdBytes("PING"))
	if v := setup.read(); string(v.Str) != "PONG" {
		t.Fatalf("other client: %q", v.Str)
	}
}

func TestUnixSocketPermAndShutdownRemovesIt(t *testing.T) {
	s := startServer(t, Options{UnixSocketPerm: 0o770})
	fi, err := os.Stat(s.unix)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o770 {
		t.Fatalf("socket perm %o, want 770", perm)
	}
	if !s.Ready() {
		t.Fatal("not ready after boot")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if s.Ready() {
		t.Fatal("ready while shut down")
	}
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("Serve returned %v", err)
		}
		s.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := os.Stat(s.unix); !os.IsNotExist(err) {
		t.Fatalf("socket file still there: %v", err)
	}
}

func TestTCPAddrs(t *testing.T) {
	f := func(bind string, port int, want string) {
		t.Helper()
		if got := fmt.Sprint(TCPAddrs(bind, port)); got != want {
			t.Fatalf("TCPAddrs(%q, %d) = %s, want %s", bind, port, got, want)
		}
	}
	f("127.0.0.1", 6379, "[127.0.0.1:6379]")
	f("127.0.0.1 -::1", 7000, "[127.0.0.1:7000 [::1]:7000]")
	f("*", 1, "[0.0.0.0:1]")
	f("127.0.0.1", 0, "[]")
}
