package loadgen

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCommandAndWaitReady(t *testing.T) {
	e, err := StartEcho("echo", "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitReady("tcp", e.Addr(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, err := Command("tcp", e.Addr(), "GET", "x"); got != "PONG" || err != nil {
		t.Errorf("GET on the echo server: %q, %v", got, err)
	}
	addr := e.Addr()
	e.Close()
	if err := WaitReady("tcp", addr, 100*time.Millisecond); err == nil {
		t.Error("WaitReady succeeded on a closed server")
	}

	// A protocol error is answered with a Redis-style error, and the server goes on.
	e, _ = StartEcho("echo", "tcp", "127.0.0.1:0")
	defer e.Close()
	c, err := net.Dial("tcp", e.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("PING\r\n*x\r\n"))
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), "+PONG\r\n-ERR Protocol error") {
		t.Errorf("malformed command answered %q", got)
	}
	if got, err := Command("tcp", e.Addr(), "PING"); got != "PONG" || err != nil {
		t.Errorf("PING after a protocol error: %q, %v", got, err)
	}
}

func TestInfoField(t *testing.T) {
	info := "# Server\r\nredis_version:7.2.0\r\nsidecache_version:0.1.0\r\n\r\n# Commandstats\r\ncmdstat_get:calls=5,usec=1\r\n"
	f := func(field, want string) {
		t.Helper()
		if got := InfoField(info, field); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	f("redis_version", "7.2.0")
	f("sidecache_version", "0.1.0")
	f("cmdstat_get", "calls=5,usec=1")
	f("cmdstat_set", "")
	f("# Server", "")
}
