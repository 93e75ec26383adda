package command

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// Producers on many goroutines push to one client while its "loop" drains on wake: every
// message arrives whole, once, and in its producer's order.
func TestPushConcurrentProducers(t *testing.T) {
	h := newHarness(t)
	c := h.c
	wake := make(chan struct{}, 1)
	var wakes atomic.Int64
	c.SetPushHooks(PushHooks{Wake: func() {
		wakes.Add(1)
		select {
		case wake <- struct{}{}:
		default:
		}
	}})
	const producers, per = 8, 2000
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var msg []byte
			for i := range per {
				msg = fmt.Appendf(msg[:0], "<%d:%d>", p, i)
				if !c.Push(msg) {
					t.Error("Push refused")
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	var got []byte
	drain := func() { got = c.DrainPush(got) }
	for finished := false; !finished; {
		select {
		case <-wake:
			drain()
		case <-done:
			finished = true
		}
	}
	drain()
	next := make([]int, producers)
	for _, m := range bytes.Split(bytes.Trim(got, "<>"), []byte("><")) {
		p, i, ok := bytes.Cut(m, []byte(":"))
		if !ok {
			t.Fatalf("torn message %q", m)
		}
		pn, _ := strconv.Atoi(string(p))
		in, _ := strconv.Atoi(string(i))
		if in != next[pn] {
			t.Fatalf("producer %d: message %d after %d", pn, in, next[pn]-1)
		}
		next[pn]++
	}
	for p, n := range next {
		if n != per {
			t.Errorf("producer %d: %d messages of %d", p, n, per)
		}
	}
	if c.PushPending() || c.pushMemory() > 2*pushKeepCap {
		t.Errorf("after the drain: pending %v, memory %d", c.PushPending(), c.pushMemory())
	}
	t.Logf("%d wakes for %d messages", wakes.Load(), producers*per)
}

// A push that would take the client to its hard limit closes it (Overflow, once); later
// pushes are refused.
func TestPushOverflow(t *testing.T) {
	h := newHarness(t)
	c := h.c
	var overflows atomic.Int64
	c.SetPushHooks(PushHooks{
		HardLimit: func() int64 { return 100 },
		Overflow:  func() { overflows.Add(1) },
	})
	c.SetMemory(0, 40, 40) // 40 bytes unsent already
	msg := bytes.Repeat([]byte("x"), 20)
	for i := range 2 {
		if !c.Push(msg) {
			t.Fatalf("push %d refused", i)
		}
	}
	if c.Push(msg) { // 40 queued + 20 + 40 unsent = 100
		t.Fatal("push at the limit accepted")
	}
	if c.Push([]byte("y")) {
		t.Fatal("push after the overflow accepted")
	}
	if n := overflows.Load(); n != 1 {
		t.Fatalf("Overflow called %d times", n)
	}
	if out := c.DrainPush(nil); len(out) != 0 || c.pushMemory() != 0 {
		t.Fatalf("an overflowed queue still holds %q (%d bytes)", out, c.pushMemory())
	}
}

// A released client refuses pushes.
func TestPushAfterRelease(t *testing.T) {
	h := newHarness(t)
	h.s.ReleaseClient(h.c)
	if h.c.Push([]byte("+x\r\n")) {
		t.Fatal("Push to a released client accepted")
	}
}

// Pushing and draining reuse the queue's two buffers: nothing is allocated per message.
func TestPushAllocs(t *testing.T) {
	h := newHarness(t)
	c := h.c
	c.SetPushHooks(PushHooks{Wake: func() {}, HardLimit: func() int64 { return 1 << 20 }})
	msg := []byte(">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$5\r\nhello\r\n")
	out := make([]byte, 0, 4096)
	round := func() {
		for range 10 {
			c.Push(msg)
		}
		out = c.DrainPush(out[:0])
	}
	round()
	round()
	if n := testing.AllocsPerRun(100, round); n != 0 {
		t.Errorf("Push+DrainPush allocate %v times per round", n)
	}
	if !bytes.Equal(out[:len(msg)], msg) || len(out) != 10*len(msg) {
		t.Errorf("drained %q", out)
	}
}
