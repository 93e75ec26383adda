package pubsub

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// fakeSink records what it is pushed, and how many messages came through Queue (the
// engine-lock path) and Push.
type fakeSink struct {
	mu             sync.Mutex
	proto          protocol.Version
	pubsub         bool
	gone           bool
	got            []string
	queued, pushed int
}

func (f *fakeSink) Push(msg []byte) bool  { return f.add(msg, &f.pushed) }
func (f *fakeSink) Queue(msg []byte) bool { return f.add(msg, &f.queued) }

func (f *fakeSink) add(msg []byte, n *int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return false
	}
	f.got = append(f.got, string(msg))
	*n++
	return true
}

// ways returns and resets the Queue and Push counts.
func (f *fakeSink) ways() (queued, pushed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	queued, pushed = f.queued, f.pushed
	f.queued, f.pushed = 0, 0
	return queued, pushed
}
func (f *fakeSink) ProtoAtomic() protocol.Version { return f.proto }
func (f *fakeSink) PubSubMode() bool              { return f.pubsub }
func (f *fakeSink) Gone() bool                    { f.mu.Lock(); defer f.mu.Unlock(); return f.gone }

// take returns and forgets what was pushed.
func (f *fakeSink) take() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.Join(f.got, "")
	f.got = nil
	return s
}

func inval(keys ...string) string {
	s := fmt.Sprintf(">2\r\n$10\r\ninvalidate\r\n*%d\r\n", len(keys))
	for _, k := range keys {
		s += fmt.Sprintf("$%d\r\n%s\r\n", len(k), k)
	}
	return s
}

func newClient(t *Tracker, id int64, proto protocol.Version) (*TrackingClient, *fakeSink) {
	s := &fakeSink{proto: proto}
	return t.NewClient(id, s), s
}

func TestTrackingDefaultMode(t *testing.T) {
	tr := NewTracker(0)
	a, as := newClient(tr, 1, protocol.RESP3)
	b, bs := newClient(tr, 2, protocol.RESP3)
	tr.Enable(a, TrackOptions{})
	tr.Enable(b, TrackOptions{})
	tr.Remember(a, []byte("k"))
	tr.Remember(a, []byte("k"))
	tr.Remember(b, []byte("k"))
	tr.Remember(a, []byte("other"))
	if tr.Keys() != 2 || tr.Items() != 3 || tr.Clients() != 2 {
		t.Fatalf("keys %d items %d clients %d", tr.Keys(), tr.Items(), tr.Clients())
	}
	tr.Invalidate([]byte("k"), CauseWrite)
	if got := as.take(); got != inval("k") {
		t.Fatalf("a got %q", got)
	}
	if got := bs.take(); got != inval("k") {
		t.Fatalf("b got %q", got)
	}
	// One-shot: the key left the table.
	tr.Invalidate([]byte("k"), CauseWrite)
	if got := as.take() + bs.take(); got != "" {
		t.Fatalf("second invalidation delivered %q", got)
	}
	if tr.Keys() != 1 || tr.Items() != 1 {
		t.Fatalf("keys %d items %d", tr.Keys(), tr.Items())
	}
	// A client that stopped tracking is skipped; its id goes with the key.
	tr.Disable(a)
	tr.Invalidate([]byte("other"), CauseExpire)
	if got := as.take(); got != "" {
		t.Fatalf("disabled client got %q", got)
	}
	if tr.Keys() != 0 || tr.Items() != 0 || tr.Clients() != 1 {
		t.Fatalf("keys %d items %d clients %d", tr.Keys(), tr.Items(), tr.Clients())
	}
}

func TestTrackingRedirect(t *testing.T) {
	f := func(name string, trackProto, targetProto protocol.Version, pubsub bool, want string) {
		t.Helper()
		tr := NewTracker(0)
		a, as := newClient(tr, 1, trackProto)
		target := &fakeSink{proto: targetProto, pubsub: pubsub}
		tr.Enable(a, TrackOptions{Redirect: 9, RedirectTo: target})
		tr.Remember(a, []byte("key"))
		tr.Invalidate([]byte("key"), CauseWrite)
		if got := target.take(); got != want {
			t.Errorf("%s: target got %q, want %q", name, got, want)
		}
		if got := as.take(); got != "" {
			t.Errorf("%s: tracking client got %q", name, got)
		}
	}
	msg := "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$3\r\nkey\r\n"
	f("resp2 target in pub/sub", protocol.RESP2, protocol.RESP2, true, msg)
	f("resp2 target not subscribed", protocol.RESP2, protocol.RESP2, false, "")
	f("resp3 target", protocol.RESP2, protocol.RESP3, false, inval("key"))

	// Flush: the null of the tracking client's protocol, whatever the target speaks.
	tr := NewTracker(0)
	a, _ := newClient(tr, 1, protocol.RESP2)
	target := &fakeSink{proto: protocol.RESP3}
	tr.Enable(a, TrackOptions{Redirect: 9, RedirectTo: target})
	tr.Flush()
	if got, want := target.take(), ">2\r\n$10\r\ninvalidate\r\n$-1\r\n"; got != want {
		t.Fatalf("flush via redirect: %q, want %q", got, want)
	}

	// A target that is gone: tracking-redir-broken to a RESP3 client, at every invalidation.
	target.mu.Lock()
	target.gone = true
	target.mu.Unlock()
	b, bs := newClient(tr, 2, protocol.RESP3)
	tr.Enable(b, TrackOptions{Redirect: 9, RedirectTo: target})
	for range 2 {
		tr.Remember(b, []byte("x"))
		tr.Invalidate([]byte("x"), CauseWrite)
		if got, want := bs.take(), ">2\r\n$21\r\ntracking-redir-broken\r\n:9\r\n"; got != want {
			t.Fatalf("broken redirect: %q, want %q", got, want)
		}
	}
	if b.Flags()&TrackBrokenRedir == 0 {
		t.Fatal("broken redirect flag not set")
	}
}

func TestTrackingNoLoop(t *testing.T) {
	tr := NewTracker(0)
	a, as := newClient(tr, 1, protocol.RESP3)
	tr.Enable(a, TrackOptions{NoLoop: true})
	args := [][]byte{[]byte("SET"), []byte("k"), []byte("v")}
	tr.Remember(a, []byte("k"))
	tr.Remember(a, []byte("other"))
	a.Begin(args, 1, 1, 1, true)
	tr.Invalidate([]byte("k"), CauseWrite)     // its own write
	tr.Invalidate([]byte("other"), CauseWrite) // someone else's, meanwhile
	a.End()
	if got := as.take(); got != inval("other") {
		t.Fatalf("NOLOOP client got %q", got)
	}
	// A read command writes nothing: a change of its key is someone else's.
	tr.Remember(a, []byte("k"))
	a.Begin([][]byte{[]byte("GET"), []byte("k")}, 1, 1, 1, false)
	tr.Invalidate([]byte("k"), CauseWrite)
	a.End()
	if got := as.take(); got != inval("k") {
		t.Fatalf("NOLOOP client got %q for another client's write during its read", got)
	}
}

func TestTrackingFlush(t *testing.T) {
	tr := NewTracker(0)
	a, as := newClient(tr, 1, protocol.RESP3)
	b, bs := newClient(tr, 2, protocol.RESP3)
	tr.Enable(a, TrackOptions{NoLoop: true})
	tr.Enable(b, TrackOptions{Bcast: true})
	for i := range 1000 {
		tr.Remember(a, fmt.Appendf(nil, "key:%d", i))
	}
	tr.Flush()
	for _, s := range []*fakeSink{as, bs} {
		if got := s.take(); got != ">2\r\n$10\r\ninvalidate\r\n_\r\n" {
			t.Fatalf("flush: %q", got)
		}
	}
	if tr.Keys() != 0 || tr.Items() != 0 {
		t.Fatalf("after flush: keys %d items %d", tr.Keys(), tr.Items())
	}
}

func TestTrackingBcast(t *testing.T) {
	tr := NewTracker(0)
	a, as := newClient(tr, 1, protocol.RESP3)
	n, ns := newClient(tr, 2, protocol.RESP3)
	tr.Enable(a, TrackOptions{Bcast: true, Prefixes: [][]byte{[]byte("b"), []byte("a")}})
	tr.Enable(n, TrackOptions{Bcast: true, NoLoop: true, Prefixes: [][]byte{[]byte("a")}})
	if got := a.Prefixes(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("prefixes %q", got)
	}
	if tr.Prefixes() != 2 {
		t.Fatalf("tracking_total_prefixes %d", tr.Prefixes())
	}
	// MSET b2 1 a1 1 a2 1 c1 1 a1 2, by the NOLOOP client.
	args := [][]byte{[]byte("MSET"), []byte("b2"), nil, []byte("a1"), nil, []byte("a2"), nil, []byte("c1"), nil, []byte("a1"), nil}
	n.Begin(args, 1, -1, 2, true)
	for _, k := range []string{"b2", "a1", "a2", "c1", "a1"} {
		tr.Invalidate([]byte(k), CauseWrite)
	}
	tr.Invalidate([]byte("a3"), CauseWrite) // another client's, meanwhile
	n.End()
	if got := as.take() + ns.take(); got != "" {
		t.Fatalf("sent before the flush: %q", got)
	}
	tr.FlushBcast()
	if got, want := as.take(), inval("a1", "a2", "a3")+inval("b2"); got != want {
		t.Fatalf("bcast: %q, want %q", got, want)
	}
	if got, want := ns.take(), inval("a3"); got != want {
		t.Fatalf("bcast NOLOOP: %q, want %q", got, want)
	}
	// An expiry goes at once.
	tr.Invalidate([]byte("bx"), CauseExpire)
	if got := as.take(); got != inval("bx") {
		t.Fatalf("bcast expiry: %q", got)
	}
	tr.Disable(a)
	tr.Disable(n)
	if tr.Prefixes() != 0 || tr.Clients() != 0 {
		t.Fatalf("after disable: prefixes %d clients %d", tr.Prefixes(), tr.Clients())
	}
}

func TestTrackingMaxKeys(t *testing.T) {
	tr := NewTracker(10)
	a, as := newClient(tr, 1, protocol.RESP3)
	tr.Enable(a, TrackOptions{})
	for i := range 100 {
		tr.Remember(a, fmt.Appendf(nil, "k%d", i))
		if tr.Keys() > 10 {
			t.Fatalf("%d keys after %d reads, limit 10", tr.Keys(), i+1)
		}
	}
	if got := strings.Count(as.take(), "invalidate"); got != 90 {
		t.Fatalf("%d invalidations, want 90", got)
	}
	tr.SetMaxKeys(3)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if tr.Keys() <= 3 && !tr.trimming.Load() {
			break
		}
	}
	if tr.Keys() != 3 || tr.Items() != 3 {
		t.Fatalf("after lowering the limit: keys %d items %d", tr.Keys(), tr.Items())
	}
}

// TestTrackingDeliveryWays: what the engine's change hook triggers (Invalidate, Flush, a
// BCAST expiry or eviction) runs under a segment lock and must only queue (TrackSink.Queue,
// no syscall); FlushBcast and the tracking-table-max-keys limit run under no engine lock
// and push (waking at once).
func TestTrackingDeliveryWays(t *testing.T) {
	tr := NewTracker(2)
	a, as := newClient(tr, 1, protocol.RESP3)
	b, bs := newClient(tr, 2, protocol.RESP3)
	redir := &fakeSink{proto: protocol.RESP3}
	r, _ := newClient(tr, 3, protocol.RESP3)
	tr.Enable(a, TrackOptions{})
	tr.Enable(b, TrackOptions{Bcast: true})
	tr.Enable(r, TrackOptions{Redirect: 9, RedirectTo: redir})
	f := func(name string, s *fakeSink, wantQueued, wantPushed int) {
		t.Helper()
		if q, p := s.ways(); q != wantQueued || p != wantPushed {
			t.Errorf("%s: %d queued, %d pushed; want %d, %d", name, q, p, wantQueued, wantPushed)
		}
	}
	tr.Remember(a, []byte("k"))
	tr.Remember(r, []byte("k"))
	tr.Invalidate([]byte("k"), CauseWrite)
	f("Invalidate", as, 1, 0)
	f("Invalidate, redirected", redir, 1, 0)
	f("Invalidate, BCAST before the command ends", bs, 0, 0)
	tr.FlushBcast()
	f("FlushBcast", bs, 0, 1)
	tr.Invalidate([]byte("x"), CauseExpire)
	tr.Invalidate([]byte("y"), CauseEvict)
	f("BCAST expiry and eviction", bs, 2, 0)
	tr.Flush()
	f("Flush", as, 1, 0)
	f("Flush, BCAST", bs, 1, 0)
	f("Flush, redirected", redir, 1, 0)
	for _, k := range []string{"k1", "k2", "k3"} {
		tr.Remember(a, []byte(k))
	}
	f("over tracking-table-max-keys", as, 0, 1)
}

// TestTrackTableModel drives one shard with random operations against a map.
func TestTrackTableModel(t *testing.T) {
	var tb trackTable
	tb.reset()
	model := map[string]map[int64]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	// 64 hash values for ~500 keys: chains of several entries on purpose.
	hash := func(k string) uint64 { return uint64(crc32.ChecksumIEEE([]byte(k)) % 64) }
	check := func() {
		items := 0
		for k, ids := range model {
			e := tb.find(hash(k), []byte(k))
			if e < 0 {
				t.Fatalf("key %q missing", k)
			}
			items += len(ids)
		}
		if tb.live != len(model) || tb.items != items {
			t.Fatalf("live %d items %d, model %d %d", tb.live, tb.items, len(model), items)
		}
	}
	for step := range 20000 {
		k := fmt.Sprintf("key-%d%s", rng.IntN(500), strings.Repeat("x", rng.IntN(40)))
		switch rng.IntN(3) {
		case 0, 1:
			id := int64(rng.IntN(4))
			_, newItem := tb.add(hash(k), []byte(k), id)
			if model[k] == nil {
				model[k] = map[int64]bool{}
			}
			if newItem == model[k][id] {
				t.Fatalf("step %d: add %q %d newItem %v", step, k, id, newItem)
			}
			model[k][id] = true
		case 2:
			e := tb.find(hash(k), []byte(k))
			if (e >= 0) != (model[k] != nil) {
				t.Fatalf("step %d: find %q = %d", step, k, e)
			}
			if e >= 0 {
				ids, n := tb.remove(e, nil)
				if n != len(model[k]) || len(ids) != n {
					t.Fatalf("step %d: remove %q gave %v", step, k, ids)
				}
				for _, id := range ids {
					if !model[k][id] {
						t.Fatalf("step %d: id %d not in model", step, id)
					}
				}
				delete(model, k)
			}
		}
		if step%1000 == 0 {
			check()
		}
	}
	check()
}

func TestTrackingAllocs(t *testing.T) {
	tr := NewTracker(0)
	a, as := newClient(tr, 1, protocol.RESP3)
	tr.Enable(a, TrackOptions{})
	key := []byte("some:key")
	as.got = make([]string, 0, 1)
	// Warm up the pools and the shard's slices.
	tr.Remember(a, key)
	tr.Invalidate(key, CauseWrite)
	allocs := testing.AllocsPerRun(1000, func() {
		tr.Remember(a, key)
		tr.Invalidate(key, CauseWrite)
		as.got = as.got[:0]
	})
	// The fake sink's string copy is the one allocation.
	if allocs > 1 {
		t.Fatalf("Remember+Invalidate allocate %.1f times", allocs)
	}
	inactive := NewTracker(0)
	if n := testing.AllocsPerRun(1000, func() { inactive.Invalidate(key, CauseWrite) }); n != 0 {
		t.Fatalf("Invalidate with nothing tracked allocates %.1f", n)
	}
}
