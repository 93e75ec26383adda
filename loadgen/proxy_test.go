package loadgen

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// TestProxyAddsDelay: every round trip through the proxy takes at least the two one-way holds,
// and the holds it reports applying stay within delay ± jitter (they may only be later).
func TestProxyAddsDelay(t *testing.T) {
	e, err := StartEcho("echo", "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	f := func(delay, jitter time.Duration) {
		t.Helper()
		p, err := StartProxy("tcp", "127.0.0.1:0", "tcp", e.Addr(), delay, jitter)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		tg, _ := ParseTarget("proxied=" + p.Addr())
		r, err := Run(context.Background(), tg, Options{Conns: 2, Requests: 200})
		if err != nil {
			t.Fatal(err)
		}
		a := p.Applied()
		t.Logf("delay %v ± %v: round trip min %.0f p50 %.0f µs; applied one-way min %.0f p50 %.0f µs over %d chunks",
			delay, jitter, r.Latency.Min, r.Latency.P50, a.Min, a.P50, a.Count)
		// Histogram values are exact to 0.1%: a minimum may read that much lower.
		lo := float64(delay-jitter) / 1e3 * 0.999
		if r.Latency.Min < 2*lo {
			t.Errorf("round trip min %.0f µs, want at least 2 x %.0f µs", r.Latency.Min, lo)
		}
		if jitter == 0 && r.Latency.P50 < 2*lo {
			t.Errorf("round trip p50 %.0f µs, want at least 2 x %.0f µs", r.Latency.P50, lo)
		}
		if a.Count < 400 || a.Min < lo {
			t.Errorf("applied: %d chunks, min %.0f µs, want >= 400 chunks held >= %.0f µs", a.Count, a.Min, lo)
		}
	}
	f(time.Millisecond, 0)
	f(2*time.Millisecond, 500*time.Microsecond)
}

// TestProxyKeepsOrder: with a jitter as large as the delay, chunks would overtake each other
// if each left at its own time; the bytes must come back as they were sent.
func TestProxyKeepsOrder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // echoes bytes back as they come
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	defer func() { ln.Close(); wg.Wait() }()

	p, err := StartProxy("tcp", "127.0.0.1:0", "tcp", ln.Addr().String(), 300*time.Microsecond, 300*time.Microsecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))

	r := rand.New(rand.NewPCG(5, 6))
	sent := make([]byte, 1<<20)
	for i := range sent {
		sent[i] = byte(r.Uint32())
	}
	go func() {
		for b := sent; len(b) > 0; {
			n := min(len(b), 1+r.IntN(3000))
			if _, err := c.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sent) {
		i := 0
		for i < min(len(got), len(sent)) && got[i] == sent[i] {
			i++
		}
		t.Fatalf("got %d bytes back of %d, first difference at %d", len(got), len(sent), i)
	}
}
