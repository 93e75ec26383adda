package netpoll

import (
	"strings"
	"testing"
	"time"

	"github.com/sidecache/sidecache/config"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLoopHealthStalled: a loop blocked by a command (DEBUG SLEEP) misses its heartbeat and
// LoopHealth says so; once the command returns the loop is healthy again.
func TestLoopHealthStalled(t *testing.T) {
	cfg, _, err := config.Load([]string{"--enable-debug-command", "yes"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := startServerConfig(t, Options{Heartbeat: 20 * time.Millisecond}, cfg)
	const maxAge = 200 * time.Millisecond
	if loops, stalled := s.LoopHealth(maxAge); loops != 0 || stalled != 0 {
		t.Fatalf("before any client: %d loops, %d stalled", loops, stalled)
	}
	c := dial(t, "tcp", s.tcp)
	c.send(cmdBytes("PING"))
	c.read()
	waitFor(t, "a watched loop", 10*time.Second, func() bool {
		loops, stalled := s.LoopHealth(maxAge)
		return loops == 1 && stalled == 0
	})
	c.send(cmdBytes("DEBUG", "SLEEP", "3"))
	waitFor(t, "the stalled loop", 10*time.Second, func() bool {
		_, stalled := s.LoopHealth(maxAge)
		return stalled == 1
	})
	if v := c.read(); string(v.Str) != "OK" {
		t.Fatalf("DEBUG SLEEP: %q", v.Str)
	}
	waitFor(t, "the loop to recover", 10*time.Second, func() bool {
		_, stalled := s.LoopHealth(maxAge)
		return stalled == 0
	})
}

// TestStatsPerLoop: commands count into their loop's shard and add up exactly in INFO.
func TestStatsPerLoop(t *testing.T) {
	s := startServer(t, Options{})
	var clients []*client
	for i := 0; i < 4; i++ { // round robin over the 2 loops
		clients = append(clients, dial(t, "tcp", s.tcp))
	}
	for i := 0; i < 25; i++ {
		for _, c := range clients {
			c.send(cmdBytes("GET", "k"))
			c.read()
		}
	}
	clients[0].send(cmdBytes("GET"))
	clients[0].read()
	clients[0].send(cmdBytes("INFO", "commandstats"))
	info := string(clients[0].read().Str)
	if !strings.Contains(info, "cmdstat_get:calls=100,") || !strings.Contains(info, ",rejected_calls=1,failed_calls=0") {
		t.Fatalf("INFO commandstats:\n%s", info)
	}
	if loops, _ := s.LoopHealth(time.Second); loops != 2 {
		t.Errorf("%d loops watched, want 2", loops)
	}
}

// TestProtocolErrorCounted: a protocol error reply counts in errorstats.
func TestProtocolErrorCounted(t *testing.T) {
	s := startServer(t, Options{})
	c := dial(t, "tcp", s.tcp)
	c.send([]byte("*1\r\n$x\r\n"))
	if v := c.read(); !strings.HasPrefix(string(v.Str), "ERR Protocol error") {
		t.Fatalf("reply %q", v.Str)
	}
	c2 := dial(t, "tcp", s.tcp)
	c2.send(cmdBytes("INFO", "errorstats"))
	if info := string(c2.read().Str); !strings.Contains(info, "errorstat_ERR:count=1\r\n") {
		t.Fatalf("INFO errorstats:\n%s", info)
	}
}
