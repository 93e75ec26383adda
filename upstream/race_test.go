package upstream

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sidecache/sidecache/command"
	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/netpoll"
	"github.com/sidecache/sidecache/protocol"
)

// The races of a read-through L1, one test each, made deterministic: the fake upstream
// holds a fetch's reply (EXEC's, or the read's and PTTL's) and the test writes it, pushes around it or drops the connection
// (fake_test.go); the afterReply hook holds a fetch between its reply and its store, so an
// invalidation, a flush, a write or an expiry lands in that window on purpose. Taking out
// the check a test is about makes it fail: the stripe generation (l1.go store) fails the
// invalidation, local-write and two-database tests, the epoch the connection-drop and
// upstream-flush tests, the PTTL bound (fetch.go) the expiry test, and the stop of the
// batch after a deferred command (netpoll OnTraffic) the pipelined test.

// storeGate holds every fetch between its reply and its store until proceed is closed;
// reached receives the first key of each fetch held.
type storeGate struct {
	reached chan string
	proceed chan struct{}
}

func holdStores(t *testing.T) *storeGate {
	t.Helper()
	g := &storeGate{reached: make(chan string, 64), proceed: make(chan struct{})}
	done := make(chan struct{})
	h := func(key []byte) {
		g.reached <- string(key)
		select {
		case <-g.proceed:
		case <-done:
		}
	}
	afterReply.Store(&h)
	t.Cleanup(func() {
		afterReply.Store(nil)
		close(done)
	})
	return g
}

// wait returns the key of the next fetch that reached the gate.
func (g *storeGate) wait(t *testing.T) string {
	t.Helper()
	select {
	case k := <-g.reached:
		return k
	case <-time.After(5 * time.Second):
		t.Fatal("no fetch reached its store")
		return ""
	}
}

// Reply, then the key's invalidation, both read before the fetch stores: the store is
// refused (the stripe generation moved).
func TestRaceInvalidationBetweenReplyAndStore(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "old")
	held := fs.holdExecs()
	u := newTestUpstream(t, fs.addr(), nil)
	gate := holdStores(t)
	a := newApp(u)
	a.send(false, "GET", "k")
	h := nextHeld(t, held)
	h.fc.write(append(append([]byte{}, h.reply...), invalidation("k")...))
	h.resume()
	gate.wait(t)
	waitFor(t, "the push", func() bool { return u.stats.Invalidations.Load() == 1 })
	close(gate.proceed)
	if r := a.wait(t); string(r) != "$3\r\nold\r\n" {
		t.Fatalf("GET = %q", r)
	}
	if cached(u, 0, "k") {
		t.Fatal("L1 stored a value whose invalidation arrived before the store")
	}
	if u.stats.Refused.Load() != 1 {
		t.Fatalf("refused = %d, want 1", u.stats.Refused.Load())
	}
}

// Reply, store, then the invalidation: the push removes the stored entry.
func TestRaceInvalidationAfterStore(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "old")
	held := fs.holdExecs()
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	a.send(false, "GET", "k")
	h := nextHeld(t, held)
	h.release()
	if r := a.wait(t); string(r) != "$3\r\nold\r\n" {
		t.Fatalf("GET = %q", r)
	}
	waitFor(t, "the store", func() bool { return cached(u, 0, "k") })
	fs.set("k", "new")
	h.fc.push("k")
	waitFor(t, "the invalidation", func() bool { return !cached(u, 0, "k") })
	fs.mu.Lock()
	fs.onExec = nil
	fs.mu.Unlock()
	if r := a.do(t, "GET", "k"); r != "$3\r\nnew\r\n" {
		t.Fatalf("GET after the invalidation = %q", r)
	}
}

// A write through the sidecar acknowledged while a read of the same key, sent before it,
// waits to store: the older value is not stored, even though the write's own
// invalidations (before it is sent, after it is acknowledged) both ran before the store.
func TestRaceLocalWriteBeforeStore(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v1")
	u := newTestUpstream(t, fs.addr(), nil)
	gate := holdStores(t)
	reader, writer := newApp(u), newApp(u)
	reader.send(false, "GET", "k")
	gate.wait(t) // the upstream answered v1
	if r := writer.write(t, "SET", "k", "v2"); r != "+OK\r\n" {
		t.Fatalf("SET = %q", r)
	}
	close(gate.proceed)
	if r := reader.wait(t); string(r) != "$2\r\nv1\r\n" {
		t.Fatalf("in-flight GET = %q", r)
	}
	if cached(u, 0, "k") {
		t.Fatal("L1 stored a read older than an acknowledged write")
	}
	afterReply.Store(nil)
	if r := reader.do(t, "GET", "k"); r != "$2\r\nv2\r\n" {
		t.Fatalf("GET after the write = %q", r)
	}
}

// The connection that carried a read closes after writing the reply and before the key's
// invalidation: the flush of the lost connection comes before the store, which is refused
// (the L1 epoch moved).
func TestRaceConnectionDropBetweenReplyAndStore(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v1")
	held := fs.holdExecs()
	u := newTestUpstream(t, fs.addr(), nil)
	gate := holdStores(t)
	a := newApp(u)
	a.send(false, "GET", "k")
	h := nextHeld(t, held)
	h.fc.write(h.reply)
	gate.wait(t)
	fs.set("k", "v2") // its invalidation is lost with the connection
	h.drop()
	waitFor(t, "the flush", func() bool { return u.stats.Flushes.Load() > 0 })
	close(gate.proceed)
	if r := a.wait(t); string(r) != "$2\r\nv1\r\n" {
		t.Fatalf("GET = %q", r)
	}
	if cached(u, 0, "k") {
		t.Fatal("L1 stored a read whose connection was lost before the store")
	}
}

// The connection drops before the reply: the read answers an error, nothing is stored, and
// the next read (on the new connection) fetches.
func TestRaceConnectionDropBeforeReply(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v1")
	held := fs.holdExecs()
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	a.send(false, "GET", "k")
	nextHeld(t, held).drop()
	if r := a.wait(t); !strings.HasPrefix(string(r), "-") {
		t.Fatalf("GET on a dropped connection = %q, want an error", r)
	}
	if cached(u, 0, "k") {
		t.Fatal("cached without a reply")
	}
	go func() {
		for h := range held {
			h.release()
		}
	}()
	waitFor(t, "a read after reconnecting", func() bool { return a.do(t, "GET", "k") == "$2\r\nv1\r\n" })
}

// A half-open connection (the upstream stops answering, nothing closes) with a read in
// flight: rueidis's heartbeat misses its deadline and closes the connection, the read
// answers an error, L1 is discarded, and the late reply stores nothing.
func TestRaceHalfOpenWithReadInFlight(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v")
	fs.set("other", "o")
	u := newTestUpstream(t, fs.addr(), func(o *Options) { o.ConnWriteTimeout = 200 * time.Millisecond })
	a := newApp(u)
	a.do(t, "GET", "other")
	if !cached(u, 0, "other") {
		t.Fatal("not cached")
	}
	held := fs.holdExecs() // the serving goroutine stops: PINGs behind the EXEC get no answer
	a.send(false, "GET", "k")
	h := nextHeld(t, held)
	if r := a.wait(t); !strings.HasPrefix(string(r), "-") {
		t.Fatalf("GET on a half-open connection = %q, want an error", r)
	}
	waitFor(t, "L1 to be discarded", func() bool { return !cached(u, 0, "other") })
	h.release() // too late: written to a connection the sidecar closed
	if cached(u, 0, "k") {
		t.Fatal("stored a read of the half-open connection")
	}
}

// FLUSHALL or FLUSHDB on the upstream (a null invalidation push) before the reply, or
// between the reply and the store: the store is refused and L1 is emptied.
func TestRaceUpstreamFlush(t *testing.T) {
	for _, pushFirst := range []bool{true, false} {
		fs := startFake(t)
		fs.set("k", "v")
		fs.set("other", "o")
		u := newTestUpstream(t, fs.addr(), nil)
		a := newApp(u)
		a.do(t, "GET", "other")
		held := fs.holdExecs()
		gate := holdStores(t)
		a.send(false, "GET", "k")
		h := nextHeld(t, held)
		if pushFirst {
			h.fc.push()
			h.release()
			gate.wait(t)
		} else {
			h.release()
			gate.wait(t)
			h.fc.push()
		}
		waitFor(t, "the flush", func() bool { return u.stats.Flushes.Load() > 0 })
		close(gate.proceed)
		if r := a.wait(t); string(r) != "$1\r\nv\r\n" {
			t.Fatalf("push first %v: GET = %q", pushFirst, r)
		}
		if cached(u, 0, "k") || cached(u, 0, "other") {
			t.Fatalf("push first %v: L1 kept or stored an entry across an upstream flush", pushFirst)
		}
		afterReply.Store(nil)
	}
}

// SWAPDB through the sidecar flushes L1 once acknowledged (Redis sends no invalidation
// for it: doc.go).
func TestSwapDBThroughSidecarFlushes(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v")
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	a.do(t, "GET", "k")
	if !cached(u, 0, "k") {
		t.Fatal("not cached")
	}
	out, deferred := a.c.Do(0, a.proto, "swapdb", [][]byte{[]byte("SWAPDB"), []byte("0"), []byte("1")}, nil, true,
		time.Now().UnixMilli(), nil)
	if !deferred {
		t.Fatalf("SWAPDB answered at once: %q", out)
	}
	a.c.Start()
	if r := a.wait(t); string(r) != "+OK\r\n" {
		t.Fatalf("SWAPDB = %q", r)
	}
	if cached(u, 0, "k") {
		t.Fatal("L1 kept an entry across SWAPDB")
	}
}

// Tracking is per key name, whatever the database: a push for k on the connection of
// database 1 refuses a read of k in database 0 in flight on database 0's connection, and
// drops k from both databases.
func TestRaceSameKeyTwoDatabases(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v")
	u := newTestUpstream(t, fs.addr(), nil)
	a, b := newApp(u), newApp(u)
	b.db = 1
	b.do(t, "GET", "k")
	if !cached(u, 1, "k") {
		t.Fatal("not cached in database 1")
	}
	db1 := fs.connOfDB(t, 1)
	gate := holdStores(t)
	a.send(false, "GET", "k")
	gate.wait(t)
	db1.push("k")
	waitFor(t, "the push", func() bool { return u.stats.Invalidations.Load() == 1 })
	close(gate.proceed)
	a.wait(t)
	if cached(u, 0, "k") || cached(u, 1, "k") {
		t.Fatalf("after a push on database 1's connection: cached in db0 %v, db1 %v", cached(u, 0, "k"), cached(u, 1, "k"))
	}
}

// The upstream's key expires while its reply travels: the entry is stored with the key's
// remaining TTL counted from before the request left, so when the store comes after the
// expiry nothing is stored; the reply itself is what the upstream answered.
func TestRaceUpstreamKeyExpiring(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v")
	fs.mu.Lock()
	fs.pttl["k"] = 5
	fs.mu.Unlock()
	u := newTestUpstream(t, fs.addr(), nil)
	gate := holdStores(t)
	a := newApp(u)
	a.send(false, "GET", "k")
	gate.wait(t)
	sent := time.Now().UnixMilli() // not before the fetch's own clock reading
	for time.Now().UnixMilli() <= sent+5 {
		time.Sleep(time.Millisecond)
	}
	close(gate.proceed)
	if r := a.wait(t); string(r) != "$1\r\nv\r\n" {
		t.Fatalf("GET = %q", r)
	}
	if cached(u, 0, "k") || u.stats.Stored.Load() != 0 {
		t.Fatal("stored an entry whose upstream key had expired")
	}
}

// An upstream that refuses every command for a while (-LOADING after a restart, -BUSY
// while a script runs): the app gets the upstream's error, as Redis sent it, nothing is
// cached, and it is not counted as the upstream's absence; once it answers, reads fetch
// and cache again.
func TestUpstreamRefusesEveryCommand(t *testing.T) {
	for _, refusal := range []string{
		"-LOADING Redis is loading the dataset in memory",
		"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
	} {
		fs := startFake(t)
		fs.set("k", "v")
		u := newTestUpstream(t, fs.addr(), nil)
		a := newApp(u)
		fs.mu.Lock()
		fs.refuse = refusal
		fs.mu.Unlock()
		if r := a.do(t, "GET", "k"); r != refusal+"\r\n" {
			t.Fatalf("GET = %q, want %q", r, refusal)
		}
		if cached(u, 0, "k") || u.stats.Errors.Load() != 0 {
			t.Fatalf("%s: cached %v, errors %d", refusal, cached(u, 0, "k"), u.stats.Errors.Load())
		}
		fs.mu.Lock()
		fs.refuse = ""
		fs.mu.Unlock()
		if r := a.do(t, "GET", "k"); r != "$1\r\nv\r\n" {
			t.Fatalf("GET after the refusal = %q", r)
		}
		if !cached(u, 0, "k") {
			t.Fatalf("%s: not cached once the upstream answers", refusal)
		}
	}
}

// cmdUpstream is the command layer's view of an Upstream (cmd/sidecache wires the same).
type cmdUpstream struct{ *Upstream }

func (c cmdUpstream) Open(deliver func([]byte)) command.UpstreamConn { return c.Upstream.Open(deliver) }

// A GET that misses followed, in the same write, by a GET that hits: the hit's reply waits
// for the miss's, on the real event loop and command layer, however long the upstream
// takes.
func TestPipelinedMissThenHitInOrder(t *testing.T) {
	fs := startFake(t)
	fs.set("miss", "M")
	fs.set("hit", "H")
	u := newTestUpstream(t, fs.addr(), nil)
	cmd := command.NewServer(command.Options{Engine: u.eng, Config: config.New(), Version: "test"})
	cmd.SetUpstream(cmdUpstream{u})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := netpoll.New(cmd, netpoll.Options{TCP: []string{addr}, Loops: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	select {
	case <-srv.Booted():
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not boot")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx, time.Second)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read := func(want string) {
		t.Helper()
		buf := make([]byte, len(want))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != want {
			t.Fatalf("reply %q (%v), want %q", buf, err, want)
		}
	}
	get := func(k string) []byte {
		return protocol.AppendBulkString(protocol.AppendBulkString(protocol.AppendArrayLen(nil, 2), "GET"), k)
	}
	if _, err := c.Write(get("hit")); err != nil {
		t.Fatal(err)
	}
	read("$1\r\nH\r\n")
	if !cached(u, 0, "hit") {
		t.Fatal("hit not cached")
	}
	held := fs.holdExecs()
	if _, err := c.Write(append(get("miss"), get("hit")...)); err != nil {
		t.Fatal(err)
	}
	h := nextHeld(t, held)
	// The hit must not overtake: nothing may be readable while the miss is held.
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := c.Read(make([]byte, 64)); n > 0 || err == nil {
		t.Fatalf("a reply left before the held miss's: %d bytes, %v", n, err)
	}
	h.release()
	read("$1\r\nM\r\n$1\r\nH\r\n")
}

// The standalone fetch (CLIENT CACHING YES, GET, PTTL, no MULTI): the key changes between
// the GET and the PTTL, so its invalidation comes between their replies. The GET's value
// answers; the store is refused, whatever TTL the PTTL saw.
func TestRaceInvalidationBetweenReadAndPTTL(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "old")
	held := fs.holdExecs()
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	a.send(false, "GET", "k")
	h := nextHeld(t, held)
	if h.fc.replies != 2 {
		t.Fatalf("fetch of %d replies, want the standalone form's GET and PTTL", h.fc.replies)
	}
	h.fc.write([]byte("$3\r\nold\r\n"))
	h.fc.push("k")
	h.fc.write([]byte(":-1\r\n"))
	h.resume()
	if r := a.wait(t); string(r) != "$3\r\nold\r\n" {
		t.Fatalf("GET = %q", r)
	}
	if cached(u, 0, "k") {
		t.Fatal("L1 stored a value invalidated before its PTTL's reply")
	}
	if u.stats.Refused.Load() != 1 {
		t.Fatalf("refused = %d, want 1", u.stats.Refused.Load())
	}
}

// A read and its PTTL that disagree on whether the key exists (it was deleted, expired or
// created between them; a lazy expiry by the PTTL itself sends its invalidation only after
// the PTTL's reply): the read answers and nothing is stored, without waiting for a push.
func TestReadAndPTTLDisagree(t *testing.T) {
	for _, c := range []struct{ read, pttl, want string }{
		{"$3\r\nold\r\n", ":-2\r\n", "$3\r\nold\r\n"}, // gone by the PTTL
		{"_\r\n", ":5000\r\n", "$-1\r\n"},             // created before the PTTL
		{"_\r\n", ":-1\r\n", "$-1\r\n"},
	} {
		fs := startFake(t)
		held := fs.holdExecs()
		u := newTestUpstream(t, fs.addr(), nil)
		a := newApp(u)
		a.send(false, "GET", "k")
		h := nextHeld(t, held)
		h.fc.write([]byte(c.read + c.pttl))
		h.resume()
		if r := a.wait(t); string(r) != c.want {
			t.Fatalf("%q %q: GET = %q, want %q", c.read, c.pttl, r, c.want)
		}
		if cached(u, 0, "k") || u.stats.Stored.Load() != 0 {
			t.Fatalf("%q %q: stored a read its PTTL contradicts", c.read, c.pttl)
		}
	}
}
