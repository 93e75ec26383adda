package command

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// wakeWatch wraps the engine's change hook so that a test knows when it runs under a
// segment lock (inHook), and records each wake-up of a client and whether it came from
// inside the hook.
type wakeWatch struct {
	inHook atomic.Bool
	woke   chan bool // one per Wake: true when it was called inside the hook
}

func watchWakes(h *harness) *wakeWatch {
	ww := &wakeWatch{woke: make(chan bool, 64)}
	h.e.SetOnChange(func(db int, key []byte, ev engine.Event) {
		ww.inHook.Store(true)
		defer ww.inHook.Store(false)
		h.s.keyChanged(db, key, ev)
	})
	return ww
}

func (ww *wakeWatch) hooks() PushHooks {
	return PushHooks{Wake: func() { ww.woke <- ww.inHook.Load() }}
}

func invalMsg(key string) string {
	if key == "" {
		return ">2\r\n$10\r\ninvalidate\r\n_\r\n"
	}
	return ">2\r\n$10\r\ninvalidate\r\n*1\r\n$" + strconv.Itoa(len(key)) + "\r\n" + key + "\r\n"
}

// TestWakesOutsideEngineLocks: an invalidation produced under a segment lock (the engine's
// change hook) wakes its client only once the lock is released, and always before the call
// that made the change returns: a write of another client or of its own, a lazy and an
// active expiry, FLUSHALL, eviction by CONFIG SET maxmemory, BCAST messages, and upstream
// invalidations (TrackInvalidate).
func TestWakesOutsideEngineLocks(t *testing.T) {
	h, w := trackPair(t)
	ww := watchWakes(h)
	h.c.SetPushHooks(ww.hooks())
	h.c.Proto = protocol.RESP3
	step := func(name, want string, act func()) {
		t.Helper()
		act()
		select {
		case under := <-ww.woke:
			if under {
				t.Errorf("%s: the client was woken inside the engine's change hook, under a segment lock", name)
			}
		default:
			t.Fatalf("%s: the client was not woken by the time the change returned", name)
		}
		if got := string(h.c.DrainPush(nil)); got != want {
			t.Errorf("%s: pushed %q, want %q", name, got, want)
		}
		if n := len(ww.woke); n != 0 {
			t.Errorf("%s: %d more wake-ups", name, n)
			for range n {
				<-ww.woke
			}
		}
	}
	at := func(c *Client, now int64, args ...string) {
		bs := make([][]byte, len(args))
		for i, a := range args {
			bs[i] = []byte(a)
		}
		h.s.Exec(c, bs, now, nil)
	}
	h.run("CLIENT", "TRACKING", "on")

	h.run("GET", "k")
	step("another client's SET", invalMsg("k"), func() { execOn(h, w, "SET", "k", "1") })
	h.run("GET", "k")
	step("its own SET", invalMsg("k"), func() { h.run("SET", "k", "2") })

	execOn(h, w, "SET", "lazy", "v", "PX", "100")
	h.run("GET", "lazy")
	step("lazy expiry", invalMsg("lazy"), func() { at(w, h.now+1000, "GET", "lazy") })

	execOn(h, w, "SET", "active", "v", "PX", "100")
	h.run("GET", "active")
	step("active expiry", invalMsg("active"), func() {
		h.s.Quiesce(func() { h.e.ActiveExpire(h.now+1000, time.Second) })
	})

	h.run("GET", "k")
	step("FLUSHALL", invalMsg(""), func() { execOn(h, w, "FLUSHALL") })

	execOn(h, w, "SET", "evicted", "v")
	h.run("GET", "evicted")
	execOn(h, w, "CONFIG", "SET", "maxmemory-policy", "allkeys-random")
	execOn(h, w, "CONFIG", "SET", "maxmemory-eviction-tenacity", "100") // one slice evicts all
	step("eviction by CONFIG SET maxmemory", invalMsg("evicted"), func() {
		execOn(h, w, "CONFIG", "SET", "maxmemory", "1")
	})
	execOn(h, w, "CONFIG", "SET", "maxmemory", "0")

	h.run("GET", "up")
	step("upstream invalidation", invalMsg("up"), func() { h.s.TrackInvalidate([]byte("up")) })

	h.run("CLIENT", "TRACKING", "off")
	h.run("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "b")
	step("BCAST write", invalMsg("b1"), func() { execOn(h, w, "SET", "b1", "v") })
	execOn(h, w, "SET", "b2", "v", "PX", "100")
	<-ww.woke // the SET's own BCAST message
	h.c.DrainPush(nil)
	step("BCAST expiry", invalMsg("b2"), func() {
		h.s.Quiesce(func() { h.e.ActiveExpire(h.now+1000, time.Second) })
	})
}

// TestDeferredOverflow: a push queued under a segment lock that takes its client past the
// hard output limit closes the client once the lock is released, not inside it.
func TestDeferredOverflow(t *testing.T) {
	h, w := trackPair(t)
	ww := watchWakes(h)
	var closed, underLock atomic.Int32
	h.c.SetPushHooks(PushHooks{
		Wake:      func() {},
		HardLimit: func() int64 { return 8 },
		Overflow: func() {
			closed.Add(1)
			if ww.inHook.Load() {
				underLock.Add(1)
			}
		},
	})
	h.c.Proto = protocol.RESP3
	h.run("CLIENT", "TRACKING", "on")
	h.run("GET", "k")
	execOn(h, w, "SET", "k", "v")
	if closed.Load() != 1 || underLock.Load() != 0 {
		t.Fatalf("overflow closed the client %d times, %d of them under a segment lock", closed.Load(), underLock.Load())
	}
}

// TestWakeListConcurrent: pushes queued from many goroutines while others flush; every
// message is drained after a wake-up that followed it (go test -race).
func TestWakeListConcurrent(t *testing.T) {
	h := newHarness(t)
	const clients, pushers, rounds = 4, 4, 2000
	type target struct {
		c     *Client
		wakes atomic.Int64
	}
	ts := make([]*target, clients)
	for i := range ts {
		tg := &target{c: h.s.NewClient("127.0.0.1:1", "127.0.0.1:6379", false)}
		tg.c.SetPushHooks(PushHooks{Wake: func() { tg.wakes.Add(1) }})
		ts[i] = tg
	}
	msg := []byte("+m\r\n")
	done := make(chan struct{})
	for p := range pushers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range rounds {
				ts[(p+i)%clients].c.queuePush(msg)
				if i%3 == 0 {
					h.s.FlushWakes()
				}
			}
		}()
	}
	// The drainer acts as the clients' event loops: it drains a client only after a new
	// wake-up of it, so a lost wake-up leaves messages behind.
	var got int
	seen := make([]int64, clients)
	drain := func() {
		for i, tg := range ts {
			if n := tg.wakes.Load(); n > seen[i] {
				seen[i] = n
				got += len(tg.c.DrainPush(nil)) / len(msg)
			}
		}
	}
	for n := 0; n < pushers; {
		select {
		case <-done:
			n++
		default:
			drain()
		}
	}
	h.s.FlushWakes()
	drain()
	if got != pushers*rounds {
		t.Fatalf("%d messages drained after a wake-up, want %d", got, pushers*rounds)
	}
}

// TestDeferredWakeAllocs: the invalidation cycle with a connection's wake hook installed
// (queued under the lock, listed, woken after the command, drained) allocates nothing.
func TestDeferredWakeAllocs(t *testing.T) {
	h, w := trackPair(t)
	var wakes int
	h.c.SetPushHooks(PushHooks{Wake: func() { wakes++ }})
	h.c.Proto = protocol.RESP3
	h.run("CLIENT", "TRACKING", "on")
	get := [][]byte{[]byte("GET"), []byte("k")}
	set := [][]byte{[]byte("SET"), []byte("k"), []byte("v")}
	out := make([]byte, 0, 256)
	push := make([]byte, 0, 256)
	cycle := func() {
		out = h.s.Exec(h.c, get, h.now, out[:0])
		out = h.s.Exec(w, set, h.now, out[:0])
		push = h.c.DrainPush(push[:0])
	}
	for range 10 {
		cycle()
	}
	if n := testing.AllocsPerRun(500, cycle); n != 0 {
		t.Errorf("tracked GET + foreign SET + deferred wake + drain: %v allocations", n)
	}
	if wakes < 500 || string(push) != invalMsg("k") {
		t.Fatalf("%d wake-ups, last push %q", wakes, push)
	}
}
