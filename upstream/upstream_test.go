package upstream

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// newTestUpstream returns an Upstream on addr over a fresh engine, closed at cleanup.
func newTestUpstream(t testing.TB, addr string, mod func(*Options)) *Upstream {
	t.Helper()
	eng, err := engine.Open(engine.Config{Databases: 4, Segments: 4})
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{Addrs: []string{addr}, MaxTTL: time.Minute, NilTTL: time.Minute, Engine: eng,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mod != nil {
		mod(&opt)
	}
	u, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		u.Close()
		eng.Close()
	})
	waitFor(t, "the upstream connection", func() bool { return u.Mode() != ModeConnecting })
	return u
}

// appConn is an app connection as the command layer drives it.
type appConn struct {
	c       *Conn
	replies chan []byte
	db      int
	proto   protocol.Version
}

func newApp(u *Upstream) *appConn {
	a := &appConn{replies: make(chan []byte, 1), proto: protocol.RESP2}
	a.c = u.Open(func(r []byte) { a.replies <- r })
	return a
}

// send runs one command (name: args[0] lower-cased; write commands' key is args[1]) and
// returns its reply if it was answered at once, or nil and true if it was deferred (and
// started).
func (a *appConn) send(write bool, args ...string) ([]byte, bool) {
	b := make([][]byte, len(args))
	for i, s := range args {
		b[i] = []byte(s)
	}
	var keys [][]byte
	if len(b) > 1 {
		keys = b[1:2]
	}
	out, deferred := a.c.Do(a.db, a.proto, strings.ToLower(args[0]), b, keys, write, time.Now().UnixMilli(), nil)
	if deferred {
		a.c.Start()
		return nil, true
	}
	return out, false
}

// wait returns the deferred reply.
func (a *appConn) wait(t testing.TB) []byte {
	t.Helper()
	select {
	case r := <-a.replies:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no deferred reply")
		return nil
	}
}

// do runs a command and returns its reply, deferred or not.
func (a *appConn) do(t testing.TB, args ...string) string {
	t.Helper()
	r, deferred := a.send(false, args...)
	if deferred {
		r = a.wait(t)
	}
	return string(r)
}

func (a *appConn) write(t testing.TB, args ...string) string {
	t.Helper()
	r, deferred := a.send(true, args...)
	if deferred {
		r = a.wait(t)
	}
	return string(r)
}

// cached reports whether L1 holds key in db.
func cached(u *Upstream, db int, key string) bool {
	return u.eng.DB(db).Exists([]byte(key), time.Now().UnixMilli())
}

func TestMissThenHit(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v1")
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	if _, deferred := a.send(false, "GET", "k"); !deferred {
		t.Fatal("first GET was not deferred")
	}
	if r := a.wait(t); string(r) != "$2\r\nv1\r\n" {
		t.Fatalf("miss answered %q", r)
	}
	r, deferred := a.send(false, "GET", "k")
	if deferred || string(r) != "$2\r\nv1\r\n" {
		t.Fatalf("hit: deferred %v, %q", deferred, r)
	}
	if h, m := u.stats.Hits.Load(), u.stats.Misses.Load(); h != 1 || m != 1 {
		t.Fatalf("hits %d misses %d, want 1 1", h, m)
	}
	// STRLEN, GETRANGE, EXISTS and MGET answer from the same entry.
	for _, c := range []struct{ args, want string }{
		{"STRLEN k", ":2\r\n"},
		{"GETRANGE k 1 -1", "$1\r\n1\r\n"},
		{"GETRANGE k x 1", "-ERR value is not an integer or out of range\r\n"},
		{"EXISTS k k", ":2\r\n"},
		{"MGET k k", "*2\r\n$2\r\nv1\r\n$2\r\nv1\r\n"},
	} {
		r, deferred := a.send(false, strings.Fields(c.args)...)
		if deferred || string(r) != c.want {
			t.Errorf("%s: deferred %v, %q, want %q", c.args, deferred, r, c.want)
		}
	}
	if n := fs.getCount("k"); n != 1 {
		t.Fatalf("upstream GETs = %d, want 1", n)
	}
}

func TestNilCachedThenInvalidated(t *testing.T) {
	fs := startFake(t)
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	a.proto = protocol.RESP3
	if r := a.do(t, "GET", "nokey"); r != "_\r\n" {
		t.Fatalf("GET missing = %q", r)
	}
	if r, deferred := a.send(false, "GET", "nokey"); deferred || string(r) != "_\r\n" {
		t.Fatalf("cached nil: deferred %v %q", deferred, r)
	}
	for _, c := range []struct{ args, want string }{
		{"STRLEN nokey", ":0\r\n"},
		{"GETRANGE nokey 0 -1", "$0\r\n\r\n"},
		{"EXISTS nokey", ":0\r\n"},
	} {
		if r, deferred := a.send(false, strings.Fields(c.args)...); deferred || string(r) != c.want {
			t.Errorf("%s: deferred %v %q, want %q", c.args, deferred, r, c.want)
		}
	}
	fs.set("nokey", "now")
	for _, fc := range fs.allConns() {
		fc.push("nokey")
	}
	waitFor(t, "the invalidation", func() bool { return !cached(u, 0, "nokey") })
	if r := a.do(t, "GET", "nokey"); r != "$3\r\nnow\r\n" {
		t.Fatalf("after invalidation GET = %q", r)
	}
}

// One upstream read however many clients miss the key at once.
func TestConcurrentMissesOneRead(t *testing.T) {
	fs := startFake(t)
	fs.set("hot", "v")
	release := make(chan struct{})
	fs.onExec = func(fc *fakeConn, reply []byte) { <-release; fc.write(reply) }
	u := newTestUpstream(t, fs.addr(), nil)
	apps := make([]*appConn, 20)
	for i := range apps {
		apps[i] = newApp(u)
		if _, deferred := apps[i].send(false, "GET", "hot"); !deferred {
			t.Fatal("GET not deferred")
		}
	}
	close(release)
	for _, a := range apps {
		if r := a.wait(t); string(r) != "$1\r\nv\r\n" {
			t.Fatalf("reply %q", r)
		}
	}
	if n := fs.getCount("hot"); n != 1 {
		t.Fatalf("upstream GETs = %d, want 1", n)
	}
}

// holdFirstExec makes the fake keep the first EXEC's reply (computed when it arrived, and
// everything after it on that connection) until release is closed.
func holdFirstExec(fs *fakeServer) (release chan struct{}) {
	release = make(chan struct{})
	first := true
	fs.onExec = func(fc *fakeConn, reply []byte) {
		fs.mu.Lock()
		hold := first
		first = false
		fs.mu.Unlock()
		if hold {
			<-release
		}
		fc.write(reply)
	}
	return release
}

// The invalidation of a key right behind the reply that read it, on the same connection:
// whichever of the store and the push runs first, L1 ends without the key.
func TestReplyThenInvalidation(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "old")
	fs.onExec = func(fc *fakeConn, reply []byte) {
		fc.write(append(append([]byte{}, reply...), invalidation("k")...))
	}
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	if r := a.do(t, "GET", "k"); r != "$3\r\nold\r\n" {
		t.Fatalf("GET = %q", r)
	}
	waitFor(t, "the push", func() bool { return u.stats.Invalidations.Load() == 1 })
	if cached(u, 0, "k") {
		t.Fatal("L1 kept a value invalidated right after it was read")
	}
}

// The invalidation before the reply (a write between the read's registration and the
// reply, as seen on the wire): the store is refused.
func TestInvalidationThenReply(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "old")
	fs.onExec = func(fc *fakeConn, reply []byte) {
		fc.write(append(invalidation("k"), reply...))
	}
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	a.do(t, "GET", "k")
	if cached(u, 0, "k") {
		t.Fatal("L1 stored a reply that an invalidation preceded")
	}
	if u.stats.Refused.Load() != 1 {
		t.Fatalf("refused = %d, want 1", u.stats.Refused.Load())
	}
}

// A write through the sidecar while a read of the same key is in flight: the read's
// (older) reply is not stored, and the next read gets the new value.
func TestLocalWriteDuringRead(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v1")
	release := holdFirstExec(fs)
	u := newTestUpstream(t, fs.addr(), nil)
	reader, writer := newApp(u), newApp(u)
	if _, deferred := reader.send(false, "GET", "k"); !deferred {
		t.Fatal("GET not deferred")
	}
	waitFor(t, "the read upstream", func() bool { fs.mu.Lock(); defer fs.mu.Unlock(); return fs.execs == 1 })
	if _, deferred := writer.send(true, "SET", "k", "v2"); !deferred {
		t.Fatal("SET not deferred")
	}
	close(release)
	if r := reader.wait(t); string(r) != "$2\r\nv1\r\n" {
		t.Fatalf("in-flight GET = %q", r)
	}
	if r := writer.wait(t); string(r) != "+OK\r\n" {
		t.Fatalf("SET = %q", r)
	}
	if cached(u, 0, "k") {
		t.Fatal("L1 stored a read that raced a write")
	}
	if r := reader.do(t, "GET", "k"); r != "$2\r\nv2\r\n" {
		t.Fatalf("GET after the write = %q", r)
	}
}

// A client missing a key after an invalidation must not join a fetch sent before it.
func TestNoJoinAfterInvalidation(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v1")
	release := holdFirstExec(fs)
	u := newTestUpstream(t, fs.addr(), nil)
	a, b := newApp(u), newApp(u)
	a.send(false, "GET", "k")
	waitFor(t, "the read upstream", func() bool { fs.mu.Lock(); defer fs.mu.Unlock(); return fs.execs == 1 })
	fs.set("k", "v2")
	for _, fc := range fs.allConns() {
		fc.push("k")
	}
	waitFor(t, "the push", func() bool { return u.stats.Invalidations.Load() > 0 })
	b.send(false, "GET", "k")
	close(release)
	if r := a.wait(t); string(r) != "$2\r\nv1\r\n" {
		t.Fatalf("first GET = %q", r)
	}
	if r := b.wait(t); string(r) != "$2\r\nv2\r\n" {
		t.Fatalf("GET after the invalidation = %q", r)
	}
}

// The connection that carried a read dies between the reply and the key's invalidation:
// the invalidation is lost, so L1 must drop everything.
func TestConnectionDropFlushes(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v1")
	flushed := 0
	var mu sync.Mutex
	u := newTestUpstream(t, fs.addr(), func(o *Options) {
		o.OnFlush = func() { mu.Lock(); flushed++; mu.Unlock() }
	})
	a := newApp(u)
	a.do(t, "GET", "k")
	if !cached(u, 0, "k") {
		t.Fatal("not cached")
	}
	fs.set("k", "v2") // the invalidation of this write never arrives: the connection dies
	for _, fc := range fs.allConns() {
		fc.c.Close()
	}
	waitFor(t, "the flush", func() bool { return !cached(u, 0, "k") })
	// flush empties L1 before it tells the app clients: wait for that too.
	waitFor(t, "app clients told of the flush", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return flushed > 0
	})
	// rueidis reconnects; the next read gets the new value.
	waitFor(t, "a read after reconnecting", func() bool {
		return a.do(t, "GET", "k") == "$2\r\nv2\r\n"
	})
}

func TestNullPushFlushes(t *testing.T) {
	fs := startFake(t)
	fs.set("a", "1")
	fs.set("b", "2")
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	a.do(t, "MGET", "a", "b")
	if !cached(u, 0, "a") || !cached(u, 0, "b") {
		t.Fatal("MGET did not cache its keys")
	}
	for _, fc := range fs.allConns() {
		fc.push()
	}
	waitFor(t, "the flush", func() bool { return !cached(u, 0, "a") && !cached(u, 0, "b") })
}

// Tracking is per key name across databases: one push drops the key from every database.
func TestSameKeyTwoDatabases(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v")
	u := newTestUpstream(t, fs.addr(), nil)
	a, b := newApp(u), newApp(u)
	b.db = 1
	a.do(t, "GET", "k")
	b.do(t, "GET", "k")
	if !cached(u, 0, "k") || !cached(u, 1, "k") {
		t.Fatal("not cached in both databases")
	}
	for _, fc := range fs.allConns() {
		fc.push("k")
	}
	waitFor(t, "the invalidation", func() bool { return !cached(u, 0, "k") && !cached(u, 1, "k") })
}

// An upstream error answers the read and is not cached.
func TestUpstreamErrorNotCached(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v")
	loading := true
	var mu sync.Mutex
	fs.onExec = func(fc *fakeConn, reply []byte) {
		mu.Lock()
		defer mu.Unlock()
		if loading { // every reply of the fetch refused
			fc.write([]byte(strings.Repeat("-LOADING Redis is loading the dataset in memory\r\n", fc.replies)))
			return
		}
		fc.write(reply)
	}
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	if r := a.do(t, "GET", "k"); r != "-LOADING Redis is loading the dataset in memory\r\n" {
		t.Fatalf("GET = %q", r)
	}
	if cached(u, 0, "k") {
		t.Fatal("an error was cached")
	}
	mu.Lock()
	loading = false
	mu.Unlock()
	if r := a.do(t, "GET", "k"); r != "$1\r\nv\r\n" {
		t.Fatalf("GET = %q", r)
	}
}

func TestHashReads(t *testing.T) {
	fs := startFake(t)
	fs.mu.Lock()
	fs.hashes["h"] = []string{"f1", "v1", "f2", "v2"}
	fs.mu.Unlock()
	fs.set("s", "str")
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	if r := a.do(t, "HGET", "h", "f2"); r != "$2\r\nv2\r\n" {
		t.Fatalf("HGET = %q", r)
	}
	for _, c := range []struct {
		proto      protocol.Version
		args, want string
	}{
		{protocol.RESP2, "HGET h f1", "$2\r\nv1\r\n"},
		{protocol.RESP2, "HGET h nof", "$-1\r\n"},
		{protocol.RESP3, "HGET h nof", "_\r\n"},
		{protocol.RESP2, "HMGET h f1 x f2", "*3\r\n$2\r\nv1\r\n$-1\r\n$2\r\nv2\r\n"},
		{protocol.RESP2, "HGETALL h", "*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n"},
		{protocol.RESP3, "HGETALL h", "%2\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n"},
		{protocol.RESP2, "HEXISTS h f1", ":1\r\n"},
		{protocol.RESP2, "HEXISTS h x", ":0\r\n"},
		{protocol.RESP2, "HLEN h", ":2\r\n"},
		{protocol.RESP2, "EXISTS h", ":1\r\n"},
		{protocol.RESP2, "GET h", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"},
	} {
		a.proto = c.proto
		if r, deferred := a.send(false, strings.Fields(c.args)...); deferred || string(r) != c.want {
			t.Errorf("%s (RESP%d): deferred %v %q, want %q", c.args, c.proto, deferred, r, c.want)
		}
	}
	a.proto = protocol.RESP2
	// A string read as a hash: WRONGTYPE from the upstream, then from L1.
	a.do(t, "GET", "s")
	if r, deferred := a.send(false, "HGET", "s", "f"); deferred || !strings.HasPrefix(string(r), "-WRONGTYPE") {
		t.Errorf("HGET on a string: deferred %v %q", deferred, r)
	}
	// A missing hash: empty answers, cached.
	if r := a.do(t, "HGETALL", "noh"); r != "*0\r\n" {
		t.Errorf("HGETALL missing = %q", r)
	}
	if r, deferred := a.send(false, "HLEN", "noh"); deferred || string(r) != ":0\r\n" {
		t.Errorf("HLEN missing: deferred %v %q", deferred, r)
	}
}

// An L1 entry expires with the upstream's key (PTTL), at the latest after l1-max-ttl, a
// missing key after l1-nil-ttl: counted from before the request left.
func TestTTLBounds(t *testing.T) {
	fs := startFake(t)
	fs.set("nottl", "v")
	fs.set("short", "v")
	fs.set("long", "v")
	fs.mu.Lock()
	fs.pttl["short"] = 3_000
	fs.pttl["long"] = 3_600_000
	fs.mu.Unlock()
	u := newTestUpstream(t, fs.addr(), func(o *Options) { o.MaxTTL = 10 * time.Second; o.NilTTL = 2 * time.Second })
	a := newApp(u)
	for key, ttl := range map[string]int64{"nottl": 10_000, "short": 3_000, "long": 10_000, "missing": 2_000} {
		before := time.Now().UnixMilli()
		a.do(t, "GET", key)
		after := time.Now().UnixMilli()
		at := u.eng.DB(0).ExpireAt([]byte(key), after)
		if at < before+ttl || at > after+ttl {
			t.Errorf("%s: expires %d ms after the request, want %d", key, at-before, ttl)
		}
	}
}

func TestCrossSlot(t *testing.T) {
	f := func(keys string, want bool) {
		t.Helper()
		var b [][]byte
		for _, k := range strings.Fields(keys) {
			b = append(b, []byte(k))
		}
		if crossSlot(b) != want {
			t.Errorf("crossSlot(%s) = %v", keys, !want)
		}
	}
	f("a b", true)
	f("{u}a {u}b", false)
	f("a", false)
	f("{}a {}b", true) // an empty tag hashes the whole key
	if keySlot([]byte("foo")) != 12182 || keySlot([]byte("123456789")) != 12739 {
		t.Fatalf("keySlot: foo %d, 123456789 %d", keySlot([]byte("foo")), keySlot([]byte("123456789")))
	}
}

// An upstream that refuses CLIENT TRACKING: L1 is off (pass-through), or with l1-ttl-only
// on and bounded by l1-max-ttl.
func TestTrackingRefused(t *testing.T) {
	for _, ttlOnly := range []bool{false, true} {
		fs := startFake(t)
		fs.set("k", "v")
		fs.onCommand = func(fc *fakeConn, args []string) []byte {
			if len(args) > 1 && strings.EqualFold(args[0], "CLIENT") && strings.EqualFold(args[1], "TRACKING") {
				return []byte("-ERR tracking is not supported here\r\n")
			}
			return nil
		}
		u := newTestUpstream(t, fs.addr(), func(o *Options) { o.TTLOnly = ttlOnly })
		want := ModeOff
		if ttlOnly {
			want = ModeTTLOnly
		}
		if u.Mode() != want {
			t.Fatalf("ttl-only %v: mode %v", ttlOnly, u.Mode())
		}
		a := newApp(u)
		for i := 0; i < 2; i++ {
			if r := a.do(t, "GET", "k"); r != "$1\r\nv\r\n" {
				t.Fatalf("GET = %q", r)
			}
		}
		if hits := u.stats.Hits.Load(); hits != map[bool]int64{false: 0, true: 1}[ttlOnly] {
			t.Errorf("ttl-only %v: %d hits", ttlOnly, hits)
		}
	}
}

// A half-open connection: the upstream stops answering without closing. rueidis's
// background PING misses its deadline and closes the connection; L1 is discarded.
func TestHalfOpenConnectionFlushes(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "v")
	u := newTestUpstream(t, fs.addr(), func(o *Options) { o.ConnWriteTimeout = 200 * time.Millisecond })
	a := newApp(u)
	a.do(t, "GET", "k")
	if !cached(u, 0, "k") {
		t.Fatal("not cached")
	}
	fs.mu.Lock()
	fs.mute = true
	fs.mu.Unlock()
	waitFor(t, "L1 to be discarded", func() bool { return !cached(u, 0, "k") })
}
