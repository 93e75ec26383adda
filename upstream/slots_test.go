package upstream

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// Per-slot drops (slots.go, nodeconn.go), on the standalone fake with the per-slot epochs of
// a cluster turned on. Taking out the check a test is about makes it fail: the slot epoch in
// l1.store fails TestSlotDropRefusesStoreInFlight; the drain bit on the hit path
// (and in the capture of a multi-key miss) TestSlotDrainingReadsMiss; the slot filter of deleteSlots, or the drain itself,
// TestSlotDropKeepsOtherSlots; the goroutine record of nodeConn.Close
// TestNodeConnEndDropsOnlyItsSlots; the reading flag TestNullPushDropsIdleNodes.

// slotKey returns a key whose cluster slot is in [lo, hi].
func slotKey(t *testing.T, prefix string, lo, hi uint16) string {
	t.Helper()
	for i := 0; i < 100000; i++ {
		k := prefix + strconv.Itoa(i)
		if s := keySlot([]byte(k)); s >= lo && s <= hi {
			return k
		}
	}
	t.Fatal("no key in the range")
	return ""
}

func newSlotUpstream(t *testing.T, fs *fakeServer) *Upstream {
	t.Helper()
	return newTestUpstream(t, fs.addr(), func(o *Options) { o.perSlot = true })
}

// twoSlots starts the fake with key ka in slots 0-8191 (value va) and kb in 8192-16383
// (value vb), an upstream with per-slot epochs, and an app connection that has both in L1.
func twoSlots(t *testing.T, va, vb string) (fs *fakeServer, u *Upstream, a *appConn, ka, kb string) {
	t.Helper()
	fs = startFake(t)
	ka, kb = slotKey(t, "a", 0, 8191), slotKey(t, "b", 8192, 16383)
	fs.set(ka, va)
	fs.set(kb, vb)
	u = newSlotUpstream(t, fs)
	a = newApp(u)
	fill(t, u, a, ka, kb)
	return fs, u, a, ka, kb
}

func slotOf(k string) *slotSet {
	var s slotSet
	s.add(int(keySlot([]byte(k))))
	return &s
}

// holdDrain holds every drain round at its start until the test ends: the slots dropped
// stay draining.
func holdDrain(tb testing.TB) {
	release := make(chan struct{})
	h := func() { <-release }
	beforeDrain.Store(&h)
	tb.Cleanup(func() { beforeDrain.Store(nil); close(release) })
}

func drained(u *Upstream) bool { return u.l1.slots.draining.Load() == 0 }

// fill reads keys through a, so that L1 holds them.
func fill(t *testing.T, u *Upstream, a *appConn, keys ...string) {
	t.Helper()
	for _, k := range keys {
		a.do(t, "GET", k)
		waitFor(t, k+" cached", func() bool { return cached(u, 0, k) })
	}
}

// hitOnly runs GET k and fails unless L1 answered it.
func hitOnly(t *testing.T, a *appConn, k, want string) {
	t.Helper()
	r, deferred := a.send(false, "GET", k)
	if deferred {
		a.wait(t)
		t.Fatalf("GET %s went to the upstream", k)
	}
	if string(r) != want {
		t.Fatalf("GET %s = %q, want %q", k, r, want)
	}
}

// The key's slot is dropped between the fetch's reply and its store: the store is refused,
// though the L1 epoch and the key's stripe did not move.
func TestSlotDropRefusesStoreInFlight(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v1")
	u := newSlotUpstream(t, fs)
	gate := holdStores(t)
	a := newApp(u)
	a.send(false, "GET", "k")
	gate.wait(t)
	if n := u.dropSlots(slotOf("k"), DropTopology); n != 1 {
		t.Fatalf("dropped %d slots", n)
	}
	waitFor(t, "the drain", func() bool { return drained(u) })
	close(gate.proceed)
	if r := a.wait(t); string(r) != "$2\r\nv1\r\n" {
		t.Fatalf("GET = %q", r)
	}
	if cached(u, 0, "k") {
		t.Fatal("L1 stored a read whose slot was dropped before the store")
	}
	if u.stats.Refused.Load() != 1 || u.stats.Flushes.Load() != 0 {
		t.Fatalf("refused %d, flushes %d", u.stats.Refused.Load(), u.stats.Flushes.Load())
	}
}

// A drop deletes its slots' entries, strings and hashes in every database, and leaves the
// other slots' entries answering from L1.
func TestSlotDropKeepsOtherSlots(t *testing.T) {
	fs, u, a, moved, kept := twoSlots(t, "m", "k")
	movedHash := slotKey(t, "mh", keySlot([]byte(moved)), keySlot([]byte(moved)))
	fs.mu.Lock()
	fs.hashes[movedHash] = []string{"f", "v"}
	fs.mu.Unlock()
	a1 := newApp(u)
	a1.db = 1
	a.do(t, "HGETALL", movedHash)
	waitFor(t, "the hash cached", func() bool { return cached(u, 0, movedHash) })
	a1.do(t, "GET", moved)
	waitFor(t, "db 1 cached", func() bool { return cached(u, 1, moved) })

	u.dropSlots(slotOf(moved), DropConnection)
	waitFor(t, "the drain", func() bool { return drained(u) })
	for db, k := range map[int]string{0: moved, 1: moved, 2: movedHash} {
		if cached(u, db%2, k) {
			t.Fatalf("%s still in L1 db %d after its slot was dropped", k, db%2)
		}
	}
	reads := fs.getCount(kept)
	hitOnly(t, a, kept, "$1\r\nk\r\n")
	if fs.getCount(kept) != reads {
		t.Fatal("the kept slot's key was read upstream")
	}
	if r, deferred := a.send(false, "GET", moved); !deferred {
		t.Fatalf("GET of the dropped key answered from L1: %q", r)
	} else if r := a.wait(t); string(r) != "$1\r\nm\r\n" {
		t.Fatalf("GET %s = %q", moved, r)
	}
	waitFor(t, moved+" cached again", func() bool { return cached(u, 0, moved) })
	hitOnly(t, a, moved, "$1\r\nm\r\n")
	wantConnectionDrop(t, u, 1)
}

// While a slot drains, its entries still in the engine answer nothing: the read goes to
// the upstream. Other slots' entries keep answering.
func TestSlotDrainingReadsMiss(t *testing.T) {
	fs, u, a, moved, kept := twoSlots(t, "old", "k")
	release := make(chan struct{})
	reached := make(chan struct{}, 1)
	h := func() {
		select {
		case reached <- struct{}{}:
		default:
		}
		<-release
	}
	beforeDrain.Store(&h)
	t.Cleanup(func() { beforeDrain.Store(nil) })
	u.dropSlots(slotOf(moved), DropTopology)
	<-reached
	fs.set(moved, "new") // as if the new owner had it; no invalidation reaches L1
	if !cached(u, 0, moved) {
		t.Fatal("the drain ran before it was released")
	}
	if r := a.do(t, "MGET", moved, kept); r != "*2\r\n$3\r\nnew\r\n$1\r\nk\r\n" {
		t.Fatalf("MGET of a draining slot's key = %q", r)
	}
	if r := a.do(t, "GET", moved); r != "$3\r\nnew\r\n" {
		t.Fatalf("GET of a draining slot's key = %q", r)
	}
	hitOnly(t, a, kept, "$1\r\nk\r\n")
	close(release)
	waitFor(t, "the drain", func() bool { return drained(u) })
	if r := a.do(t, "GET", moved); r != "$3\r\nnew\r\n" {
		t.Fatalf("GET after the drain = %q", r)
	}
}

// twoNodes routes slots 0-8191 to one listener's address and the rest to another's, and
// returns the two addresses.
func twoNodes(t *testing.T, u *Upstream) (string, string) {
	t.Helper()
	var addrs []string
	for i := 0; i < 2; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() })
			}
		}()
		addrs = append(addrs, ln.Addr().String())
	}
	u.updateRoute([]slotRange{{start: 0, end: 8191, primary: "a", addr: addrs[0]}, {start: 8192, end: 16383, primary: "b", addr: addrs[1]}})
	return addrs[0], addrs[1]
}

func dialTest(t *testing.T, u *Upstream, addr string) *nodeConn {
	t.Helper()
	c, err := u.dialNode(context.Background(), addr, &net.Dialer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*nodeConn)
}

// A node's connection closes: its slots are dropped at once, and rueidis's report of that
// end (onInvalidations(nil) on the goroutine that closed it) drops nothing more and
// flushes nothing.
func TestNodeConnEndDropsOnlyItsSlots(t *testing.T) {
	// The route set after the fill only changes which breaker the fill's reads charged.
	_, u, a, ka, kb := twoSlots(t, "a", "b")
	addrA, addrB := twoNodes(t, u)
	ca, _ := dialTest(t, u, addrA), dialTest(t, u, addrB) // the other one idle: not inside Read
	ca.Close()
	u.clusterNil() // the report, on the closing goroutine
	waitFor(t, "the drain", func() bool { return drained(u) })
	if cached(u, 0, ka) {
		t.Fatal("the lost node's key is still in L1")
	}
	hitOnly(t, a, kb, "$1\r\nb\r\n")
	wantConnectionDrop(t, u, 8192)
}

// A nil with no connection end behind it is a null push: the slots of the open connections
// between two Reads are dropped, not those of a connection blocked in Read. Without a map,
// or from a connection to an address never seen as a primary, the whole L1 is flushed.
func TestNullPushDropsIdleNodes(t *testing.T) {
	_, u, a, ka, kb := twoSlots(t, "a", "b")
	addrA, addrB := twoNodes(t, u)
	ca := dialTest(t, u, addrA)
	dialTest(t, u, addrB)
	go func() {
		var b [1]byte
		_, _ = ca.Read(b[:]) // blocked until the cleanup closes it
	}()
	waitFor(t, "a reading", func() bool { return ca.reading.Load() })
	u.clusterNil()
	waitFor(t, "the drain", func() bool { return drained(u) })
	if cached(u, 0, kb) {
		t.Fatal("the idle node's key is still in L1")
	}
	hitOnly(t, a, ka, "$1\r\na\r\n")
	if s := &u.stats; s.SlotsDropped[DropConnection].Load() != 8192 || s.Flushes.Load() != 0 {
		t.Fatalf("slots %d, flushes %d", s.SlotsDropped[DropConnection].Load(), s.Flushes.Load())
	}

	// A connection to an address no map named: its end cannot be attributed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			var b [1]byte
			_, _ = c.Read(b[:])
		}
	}()
	dialTest(t, u, ln.Addr().String()).Close()
	if u.stats.FlushesBy[FlushUpstream].Load() != 1 || cached(u, 0, ka) {
		t.Fatalf("flushes %d, %s cached %v", u.stats.FlushesBy[FlushUpstream].Load(), ka, cached(u, 0, ka))
	}
}

func TestChangedSlots(t *testing.T) {
	f := func(a, b []slotRange, want ...int) {
		t.Helper()
		var got, w slotSet
		changedSlots(a, b, &got)
		for _, s := range want {
			w.add(s)
		}
		if got != w {
			t.Fatalf("changedSlots: %d slots, want %v", got.count(), want)
		}
	}
	two := []slotRange{{0, 8191, "a", "h:1"}, {8192, 16383, "b", "h:2"}}
	f(two, two)
	// One slot migrated from b to a: the map has a third range.
	f(two, []slotRange{{0, 8191, "a", "h:1"}, {8192, 8192, "a", "h:1"}, {8193, 16383, "b", "h:2"}}, 8192)
	// The same owners, ranges split otherwise.
	f(two, []slotRange{{0, 100, "a", "h:1"}, {101, 8191, "a", "h:1"}, {8192, 16383, "b", "h:2"}})
	// A failover: b's slots have a new primary.
	all := make([]int, 0, 8192)
	for s := 8192; s < clusterSlots; s++ {
		all = append(all, s)
	}
	f(two, []slotRange{{0, 8191, "a", "h:1"}, {8192, 16383, "c", "h:3"}}, all...)
	// A slot no longer served.
	f(two, []slotRange{{0, 8190, "a", "h:1"}, {8192, 16383, "b", "h:2"}}, 8191)
}

// A hit allocates nothing while some other slot drains (DESIGN.md invariant 4).
func TestHitAllocsWhileDraining(t *testing.T) {
	fs := startFake(t)
	k, other := slotKey(t, "k", 0, 8191), slotKey(t, "o", 8192, 16383)
	fs.set(k, "value")
	u := newSlotUpstream(t, fs)
	a := newApp(u)
	fill(t, u, a, k)
	holdDrain(t)
	u.dropSlots(slotOf(other), DropTopology)
	args := [][]byte{[]byte("GET"), []byte(k)}
	out := make([]byte, 0, 64)
	now := time.Now().UnixMilli()
	n := testing.AllocsPerRun(200, func() {
		var deferred bool
		if out, deferred = a.c.Do(0, protocol.RESP2, "get", args, args[1:2], false, now, out[:0]); deferred {
			t.Fatal("GET missed")
		}
	})
	if n != 0 || drained(u) {
		t.Fatalf("hit while a slot drains: %.1f allocations (draining %v)", n, !drained(u))
	}
}

// wantConnectionDrop checks that one connection end dropped slots slots, with no flush.
func wantConnectionDrop(t *testing.T, u *Upstream, slots int64) {
	t.Helper()
	if s := &u.stats; s.SlotDrops[DropConnection].Load() != 1 || s.SlotsDropped[DropConnection].Load() != slots || s.Flushes.Load() != 0 {
		t.Fatalf("drops %d, slots %d, flushes %d", s.SlotDrops[DropConnection].Load(), s.SlotsDropped[DropConnection].Load(), s.Flushes.Load())
	}
}
