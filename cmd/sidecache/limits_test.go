package main

// Client limits on the real binary with its defaults: a client that pipelines GETs of a
// 1 MiB value and never reads is closed at client-output-buffer-limit normal, its memory
// goes back to the OS, and everyone else keeps being served; CONFIG SET changes the limits
// of a running server (client-output-buffer-limit, timeout, maxmemory-clients).

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidecache/sidecache/config"
)

// rssOf returns the resident set size of pid in bytes.
func rssOf(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// infoField returns field's value in an INFO reply.
func infoField(info []byte, field string) string {
	for _, line := range strings.Split(string(info), "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	return ""
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSlowReaderClosedByDefault(t *testing.T) {
	p := startSidecache(t)
	c := dialResp(t, p.Addr)
	if got := string(c.Do("CONFIG", "GET", "client-output-buffer-limit")); !strings.Contains(got, "normal 67108864 16777216 10 slave ") {
		t.Fatalf("CONFIG GET client-output-buffer-limit: %q", got)
	}
	c.Do("SET", "big", strings.Repeat("v", 1<<20))
	for range 8 {
		if got := c.Do("GET", "big"); len(got) < 1<<20 {
			t.Fatalf("GET big: %d bytes", len(got))
		}
	}
	base := rssOf(t, p.PID)

	// Sample RSS while the slow client is served, for the peak.
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if r := rssOf(t, p.PID); r > peak.Load() {
				peak.Store(r)
			}
		}
	}()
	slow := dialResp(t, p.Addr)
	if err := slow.Send(bytes.Repeat(encodeCommand([]string{"GET", "big"}), 4096)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the slow client to be closed", 30*time.Second, func() bool {
		return infoField(c.Do("INFO", "stats"), "client_output_buffer_limit_disconnections") == "1"
	})
	close(stop)
	<-sampled
	if got := c.Do("GET", "big"); len(got) < 1<<20 {
		t.Fatalf("GET big from another client: %d bytes", len(got))
	}
	if closed, _ := slow.Closed(ioTimeout); !closed {
		// Replies sent before the close may arrive first: Closed reports those too.
		t.Log("slow client received replies before the close")
	}
	var after int64
	waitUntil(t, "RSS back to its baseline (within 10% + 8 MiB)", 30*time.Second, func() bool {
		after = rssOf(t, p.PID)
		return after <= base+base/10+8<<20
	})
	t.Logf("RSS: baseline %d MiB, peak %d MiB while the slow client was served, %d MiB after its close",
		base>>20, peak.Load()>>20, after>>20)
	if peak.Load() > base+96<<20 {
		t.Errorf("peak RSS %d MiB over a %d MiB baseline: the 64 MiB limit did not bound the slow client", peak.Load()>>20, base>>20)
	}
}

func TestClientLimitsConfigSet(t *testing.T) {
	p := startSidecache(t)
	c := dialResp(t, p.Addr)
	c.Do("SET", "big", strings.Repeat("v", 1<<20))

	// A lower output limit applies to a running server.
	if got := string(c.Do("CONFIG", "SET", "client-output-buffer-limit", "normal 4mb 0 0")); got != "+OK\r\n" {
		t.Fatalf("CONFIG SET client-output-buffer-limit: %q", got)
	}
	slow := dialResp(t, p.Addr)
	if err := slow.Send(bytes.Repeat(encodeCommand([]string{"GET", "big"}), 64)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the slow client to be closed", 30*time.Second, func() bool {
		return infoField(c.Do("INFO", "stats"), "client_output_buffer_limit_disconnections") == "1"
	})

	// maxmemory-clients: the client holding the most is evicted, and counted.
	c.Do("CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0")
	c.Do("CLIENT", "NO-EVICT", "on")
	if got := string(c.Do("CONFIG", "SET", "maxmemory-clients", "16mb")); got != "+OK\r\n" {
		t.Fatalf("CONFIG SET maxmemory-clients: %q", got)
	}
	hog := dialResp(t, p.Socket)
	if err := hog.Send(bytes.Repeat(encodeCommand([]string{"GET", "big"}), 256)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the hog to be evicted", 30*time.Second, func() bool {
		return infoField(c.Do("INFO", "stats"), "evicted_clients") == "1"
	})
	if got := string(c.Do("PING")); got != "+PONG\r\n" {
		t.Fatalf("PING: %q", got)
	}

	// timeout: an idle client is closed, the one that keeps talking is not.
	c.Do("CONFIG", "SET", "maxmemory-clients", "0")
	idle := dialResp(t, p.Addr)
	idle.Do("PING")
	if got := string(c.Do("CONFIG", "SET", "timeout", "1")); got != "+OK\r\n" {
		t.Fatalf("CONFIG SET timeout: %q", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if closed, _ := idle.Closed(100 * time.Millisecond); closed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle client not closed")
		}
		c.Do("PING")
	}
	if got := string(c.Do("PING")); got != "+PONG\r\n" {
		t.Fatalf("PING: %q", got)
	}
}

// maxmemory-clients as netpoll enforces it: bytes, a percentage of maxmemory, and under
// "maxmemory auto" the share auto sizing reserved when it is 0.
func TestMaxMemoryClientsResolved(t *testing.T) {
	f := func(want int64, args ...string) {
		t.Helper()
		cfg, _, err := config.Load(args, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := maxMemoryClients(cfg); got != want {
			t.Errorf("%v: %d, want %d", args, got, want)
		}
	}
	f(0, "--maxmemory", "100mb")
	f(8<<20, "--maxmemory", "100mb", "--maxmemory-clients", "8mb")
	f(10<<20, "--maxmemory", "100mb", "--maxmemory-clients", "10%")
	f(0, "--maxmemory", "0", "--maxmemory-clients", "10%")
	cfg, _, err := config.Load([]string{"--maxmemory", "auto"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if z, ok := cfg.MemorySizing(); ok && maxMemoryClients(cfg) != z.Clients {
		t.Errorf("auto: %d, want the reserved %d", maxMemoryClients(cfg), z.Clients)
	}
}
