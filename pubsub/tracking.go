package pubsub

// Client-side caching (Redis's tracking.c): which clients may hold which keys, and the
// invalidation messages sent when those keys change.
//
//	Tracker ── tables[hash(key) % 64] ── one trackTable each: mu, index, entries, id nodes, key bytes
//	        ├─ reg[id % 16] ─────────── tracking clients by id (RWMutex each)
//	        └─ bcast ────────────────── prefixes of BCAST clients, with the keys changed (prefix.go)
//
// The table is global across databases, keyed by key name only, as Redis's. A key enters
// it when a tracking client reads it (Remember) and leaves it at its first change
// (Invalidate): the invalidation is one-shot, the client must read the key again to hear of
// the next change. Ids of clients that stopped tracking or disconnected stay in the table
// until the key changes, as in Redis (a closing client does not walk the table); delivery
// skips them.
//
// The table holds no Go pointers: entries, id lists and key bytes are plain slices indexed
// by int32, and the index maps a 64-bit hash to an entry, so the GC never scans it however
// many keys are tracked (DESIGN invariant 1). tracking-table-max-keys bounds it: past the
// limit random keys are invalidated, as if they had changed, until it is met again.
//
// Locks, always taken in this order: a trackTable's mu (released before anything is
// delivered); the prefix table's mu or a registry shard's (Flush); a TrackingClient's mu;
// the target's push queue (TrackSink.Push or Queue). Invalidations are delivered
// synchronously, from the goroutine that changed the key, under the engine's segment lock:
// Invalidate and Flush deliver with TrackSink.Queue, which only copies the message into the
// target's queue and makes no syscall (the command layer wakes the target's event loop once
// the lock is released); the target's loop writes it after the reply of the command it is
// running (command/push.go), so a client hears of its own write after that write's reply.
// The other deliveries (FlushBcast, the tracking-table-max-keys limit) run under no engine
// lock and use Push, which wakes the target at once.

import (
	"bytes"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/sidecache/sidecache/protocol"
)

// Tracking flags: Redis's CLIENT_TRACKING_* client flags.
const (
	TrackOn          uint32 = 1 << iota // CLIENT_TRACKING
	TrackBcast                          // BCAST mode
	TrackOptIn                          // OPTIN: only after CLIENT CACHING YES
	TrackOptOut                         // OPTOUT: except after CLIENT CACHING NO
	TrackCaching                        // CLIENT CACHING given for the next command
	TrackNoLoop                         // no invalidation for the client's own writes
	TrackBrokenRedir                    // the redirection target is gone
)

// Cause says why a key changed, as far as tracking cares.
type Cause uint8

const (
	// CauseWrite is a command's write or delete.
	CauseWrite Cause = iota + 1
	// CauseExpire is an expiry, lazy (inside a command) or active (background).
	CauseExpire
	// CauseEvict is an eviction for maxmemory.
	CauseEvict
)

// TrackSink is a client as tracking delivers to it. Every method must be safe from any
// goroutine and must not call back into the Tracker.
type TrackSink interface {
	// Push queues msg, a complete RESP message valid only during the call, and wakes the
	// client; false if the client is gone or over its output limit.
	Push(msg []byte) bool
	// Queue is Push for a caller that holds an engine segment lock: it must make no
	// syscall, so the wake-up of the client (or its closing, over its limit) is left to the
	// owner of the sink, to issue once the lock is released.
	Queue(msg []byte) bool
	// ProtoAtomic is the client's RESP version now.
	ProtoAtomic() protocol.Version
	// PubSubMode reports whether the client has subscribed to a channel or pattern: a RESP2
	// redirection target receives invalidations only then, as __redis__:invalidate messages.
	PubSubMode() bool
	// Gone reports whether the client has disconnected.
	Gone() bool
}

// TrackingClient is one client's tracking state. The owner (the client's event loop)
// changes it through the Tracker; any goroutine reads it.
type TrackingClient struct {
	id    int64
	sink  TrackSink
	flags atomic.Uint32
	redir atomic.Int64 // REDIRECT id, 0 when none

	mu       sync.Mutex
	redirTo  TrackSink // the REDIRECT target; nil once found gone
	prefixes []string  // BCAST prefixes, sorted (CLIENT TRACKINGINFO lists them so)

	// The command the client is running, published while NOLOOP is on so that a change can
	// be recognised as its own (see Begin). Under mu.
	cur                        [][]byte
	curFirst, curLast, curStep int
	curWrite, curOn            bool
}

// ID returns the client id the state belongs to.
func (tc *TrackingClient) ID() int64 { return tc.id }

// Flags returns the Track* flags. Safe from any goroutine.
func (tc *TrackingClient) Flags() uint32 { return tc.flags.Load() }

// Redirect returns the REDIRECT client id: 0 when none, -1 when tracking is off, as CLIENT
// GETREDIR answers. Safe from any goroutine.
func (tc *TrackingClient) Redirect() int64 {
	if tc.flags.Load()&TrackOn == 0 {
		return -1
	}
	return tc.redir.Load()
}

// Prefixes returns a copy of the BCAST prefixes, sorted.
func (tc *TrackingClient) Prefixes() []string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return append([]string(nil), tc.prefixes...)
}

// SetCaching sets or clears TrackCaching (CLIENT CACHING, and its end after one command).
// Only the owner calls it.
func (tc *TrackingClient) SetCaching(on bool) {
	if on {
		tc.flags.Or(TrackCaching)
	} else {
		tc.flags.And(^TrackCaching)
	}
}

// Begin publishes the command the owner is about to run, while NOLOOP is on: args, the
// key positions (first, last — negative from the end —, step; first 0 for none) and whether
// it is a write command. args must stay valid until End. A change of one of those keys
// while the command runs — by the command itself: a write for a write command, an expiry
// for any — is taken as the client's own and not sent back to it.
//
// Commands of N event loops run at once, so when another client changes the same key at
// the same time the change is taken as the owner's too; the two writes race anyway, and
// the owner hears of neither, as it would if its own had come last. Inside EXEC, which runs
// isolated, the attribution is exact.
func (tc *TrackingClient) Begin(args [][]byte, first, last, step int, write bool) {
	tc.mu.Lock()
	tc.cur, tc.curFirst, tc.curLast, tc.curStep, tc.curWrite, tc.curOn = args, first, last, step, write, true
	tc.mu.Unlock()
}

// End withdraws what Begin published.
func (tc *TrackingClient) End() {
	tc.mu.Lock()
	tc.cur, tc.curOn = nil, false
	tc.mu.Unlock()
}

// modifies reports whether a change of key for cause is the owner's own (see Begin).
func (tc *TrackingClient) modifies(key []byte, cause Cause) bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if !tc.curOn || tc.curFirst <= 0 || cause == CauseEvict || cause == CauseWrite && !tc.curWrite {
		return false
	}
	last := tc.curLast
	if last < 0 {
		last += len(tc.cur)
	}
	step := max(tc.curStep, 1)
	for i := tc.curFirst; i <= last && i < len(tc.cur); i += step {
		if bytes.Equal(tc.cur[i], key) {
			return true
		}
	}
	return false
}

// TrackOptions are CLIENT TRACKING ON's options, already checked.
type TrackOptions struct {
	Redirect   int64     // 0: none
	RedirectTo TrackSink // the client Redirect names
	Bcast      bool
	OptIn      bool
	OptOut     bool
	NoLoop     bool
	Prefixes   [][]byte // BCAST prefixes; none means every key
}

// Tracker is the server's tracking state: the key table, the BCAST prefixes and the
// tracking clients. Safe for every event loop at once.
type Tracker struct {
	seed   maphash.Seed
	tables [trackTables]trackTable

	keys    atomic.Int64 // keys in the table (tracking_total_keys)
	items   atomic.Int64 // (key, client) pairs (tracking_total_items)
	maxKeys atomic.Int64 // tracking-table-max-keys; 0 unlimited
	clients atomic.Int64 // clients with tracking on (tracking_clients)
	// overTries counts consecutive limit passes that ended still over the limit; the effort
	// of the next grows with it (Redis's timeout_counter).
	overTries atomic.Int64
	trimming  atomic.Bool // a Trim runs in the background

	reg [trackRegShards]trackReg

	bcast prefixTable

	bufs sync.Pool // *[]byte message buffers
}

const (
	trackTables    = 64
	trackRegShards = 16
	// trackBufKeep is the largest message buffer returned to the pool.
	trackBufKeep = 64 << 10
)

type trackReg struct {
	mu sync.RWMutex
	m  map[int64]*TrackingClient
	_  [40]byte // keep the shards' locks on separate cache lines
}

// NewTracker returns an empty Tracker with tracking-table-max-keys set to maxKeys.
func NewTracker(maxKeys int64) *Tracker {
	t := &Tracker{seed: maphash.MakeSeed()}
	t.maxKeys.Store(max(maxKeys, 0))
	for i := range t.tables {
		t.tables[i].reset()
	}
	for i := range t.reg {
		t.reg[i].m = map[int64]*TrackingClient{}
	}
	t.bufs.New = func() any { b := make([]byte, 0, 256); return &b }
	return t
}

// NewClient returns the (disabled) tracking state of client id, delivering through sink.
func (t *Tracker) NewClient(id int64, sink TrackSink) *TrackingClient {
	return &TrackingClient{id: id, sink: sink}
}

// Active reports whether any change may need an invalidation: a client tracks, or keys
// remain in the table. The engine hook checks it first.
func (t *Tracker) Active() bool { return t.clients.Load() != 0 || t.keys.Load() != 0 }

// Clients, Keys, Items and Prefixes are INFO's tracking_clients, tracking_total_keys,
// tracking_total_items and tracking_total_prefixes.
func (t *Tracker) Clients() int64  { return t.clients.Load() }
func (t *Tracker) Keys() int64     { return t.keys.Load() }
func (t *Tracker) Items() int64    { return t.items.Load() }
func (t *Tracker) Prefixes() int64 { return int64(t.bcast.n.Load()) }

func (t *Tracker) regOf(id int64) *trackReg { return &t.reg[uint64(id)%trackRegShards] }

func (t *Tracker) lookup(id int64) *TrackingClient {
	r := t.regOf(id)
	r.mu.RLock()
	tc := r.m[id]
	r.mu.RUnlock()
	return tc
}

// Enable turns tracking on for tc with o (Redis's enableTracking): on an already tracking
// client the mode flags and the redirection are replaced, CLIENT CACHING stays, and BCAST
// prefixes are added to the ones it has. Only the owner calls it.
func (t *Tracker) Enable(tc *TrackingClient, o TrackOptions) {
	f := tc.flags.Load()
	if f&TrackOn == 0 {
		r := t.regOf(tc.id)
		r.mu.Lock()
		r.m[tc.id] = tc
		r.mu.Unlock()
		t.clients.Add(1)
	}
	f = f&^(TrackBrokenRedir|TrackBcast|TrackOptIn|TrackOptOut|TrackNoLoop) | TrackOn
	switch {
	case o.Bcast:
		f |= TrackBcast
	case o.OptIn:
		f |= TrackOptIn
	case o.OptOut:
		f |= TrackOptOut
	}
	if o.NoLoop {
		f |= TrackNoLoop
	}
	tc.mu.Lock()
	tc.redirTo = o.RedirectTo
	tc.mu.Unlock()
	tc.redir.Store(o.Redirect)
	tc.flags.Store(f)
	if o.Bcast {
		if len(o.Prefixes) == 0 {
			t.bcast.subscribe(tc, nil)
		}
		for _, p := range o.Prefixes {
			t.bcast.subscribe(tc, p)
		}
	}
}

// Disable turns tracking off for tc (CLIENT TRACKING OFF, or the client closing): its
// prefixes go, its ids in the table stay until their keys change. Only the owner calls it.
func (t *Tracker) Disable(tc *TrackingClient) {
	f := tc.flags.Load()
	if f&TrackBcast != 0 {
		t.bcast.unsubscribeAll(tc)
	}
	if f&TrackOn == 0 {
		return
	}
	r := t.regOf(tc.id)
	r.mu.Lock()
	delete(r.m, tc.id)
	r.mu.Unlock()
	t.clients.Add(-1)
	tc.flags.Store(0)
	tc.redir.Store(0)
	tc.mu.Lock()
	tc.redirTo = nil
	tc.cur, tc.curOn = nil, false
	tc.mu.Unlock()
}

// Remember records that tc may cache key (Redis's trackingRememberKeys, one key), then
// invalidates random keys while the table is over tracking-table-max-keys. key is copied.
func (t *Tracker) Remember(tc *TrackingClient, key []byte) {
	h := maphash.Bytes(t.seed, key)
	tb := &t.tables[h%trackTables]
	tb.mu.Lock()
	newKey, newItem := tb.add(h, key, tc.id)
	tb.mu.Unlock()
	if newItem {
		t.items.Add(1)
	}
	if newKey {
		if n, lim := t.keys.Add(1), t.maxKeys.Load(); lim > 0 && n > lim {
			t.limit(lim)
		}
	}
}

// SetMaxKeys changes tracking-table-max-keys (0 unlimited). A table over the new limit is
// trimmed in the background, in slices, as Redis's cron does.
func (t *Tracker) SetMaxKeys(n int64) {
	t.maxKeys.Store(max(n, 0))
	if n > 0 && t.keys.Load() > n && !t.trimming.Swap(true) {
		go func() {
			defer t.trimming.Store(false)
			for {
				lim := t.maxKeys.Load()
				if lim <= 0 || t.keys.Load() <= lim || !t.limit(lim) {
					return
				}
			}
		}()
	}
}

// limit invalidates random keys until the table holds at most lim, with an effort bounded
// as Redis's trackingLimitUsedSlots: 100 keys, 100 more for every pass in a row that ended
// still over the limit. It reports whether it found a key to invalidate.
func (t *Tracker) limit(lim int64) bool {
	effort := 100 * (t.overTries.Load() + 1)
	var idBuf [8]int64
	var keyBuf [128]byte
	found := false
	for ; effort > 0; effort-- {
		if t.keys.Load() <= lim {
			t.overTries.Store(0)
			return true
		}
		key, ids, ok := t.takeRandom(keyBuf[:0], idBuf[:0])
		if !ok {
			break
		}
		found = true
		// Not a change: clients are told they no longer hold the key, NOLOOP or not.
		t.deliver(key, ids, 0, false)
	}
	if t.keys.Load() > lim {
		t.overTries.Add(1)
	} else {
		t.overTries.Store(0)
	}
	return found
}

// takeRandom removes a random key from the table, appending its bytes to keyDst and its
// client ids to idDst.
func (t *Tracker) takeRandom(keyDst []byte, idDst []int64) ([]byte, []int64, bool) {
	start := rand.IntN(trackTables)
	for i := range trackTables {
		tb := &t.tables[(start+i)%trackTables]
		tb.mu.Lock()
		if tb.live == 0 {
			tb.mu.Unlock()
			continue
		}
		e := tb.randomEntry()
		keyDst = append(keyDst, tb.keyOf(e)...)
		idDst, n := tb.remove(e, idDst)
		tb.mu.Unlock()
		t.keys.Add(-1)
		t.items.Add(-int64(n))
		return keyDst, idDst, true
	}
	return keyDst, idDst, false
}

// Invalidate handles a change of key (Redis's trackingInvalidateKey): the clients that
// may cache it are sent an invalidation and the key leaves the table; BCAST clients whose
// prefix matches hear of it when the command ends (FlushBcast), or at once for an expiry
// or an eviction, which no command end follows. key is only read during the call. Its
// caller may hold an engine lock: messages go out with TrackSink.Queue.
func (t *Tracker) Invalidate(key []byte, cause Cause) {
	if t.bcast.n.Load() > 0 {
		t.bcast.note(t, key, cause)
	}
	if t.keys.Load() == 0 {
		return
	}
	h := maphash.Bytes(t.seed, key)
	tb := &t.tables[h%trackTables]
	var idBuf [8]int64
	tb.mu.Lock()
	e := tb.find(h, key)
	if e < 0 {
		tb.mu.Unlock()
		return
	}
	ids, n := tb.remove(e, idBuf[:0])
	tb.mu.Unlock()
	t.keys.Add(-1)
	t.items.Add(-int64(n))
	t.deliver(key, ids, cause, true)
}

// deliver sends the invalidation of key to each client of ids that still tracks it in the
// default mode, except to a NOLOOP client for its own change. cause 0: the key did not
// change (tracking-table-max-keys). queue: the caller holds an engine lock (send).
func (t *Tracker) deliver(key []byte, ids []int64, cause Cause, queue bool) {
	for _, id := range ids {
		tc := t.lookup(id)
		if tc == nil {
			continue
		}
		f := tc.flags.Load()
		// A client that switched to BCAST keeps its old ids here; they no longer count.
		if f&TrackOn == 0 || f&TrackBcast != 0 {
			continue
		}
		if f&TrackNoLoop != 0 && cause != 0 && tc.modifies(key, cause) {
			continue
		}
		t.send(tc, key, nil, queue)
	}
}

// Flush handles FLUSHDB, FLUSHALL and SWAPDB (Redis's trackingInvalidateKeysOnFlush): every
// tracking client, BCAST and NOLOOP ones too, is sent a null invalidation ("every key"),
// and the table is emptied, as the table does not know databases. Its caller may hold an
// engine lock: messages go out with TrackSink.Queue.
func (t *Tracker) Flush() {
	if t.clients.Load() != 0 {
		for i := range t.reg {
			r := &t.reg[i]
			r.mu.RLock()
			for _, tc := range r.m {
				null := nullRESP2
				if tc.sink.ProtoAtomic() >= protocol.RESP3 {
					null = nullRESP3
				}
				t.send(tc, nil, null, true)
			}
			r.mu.RUnlock()
		}
	}
	if t.keys.Load() == 0 {
		return
	}
	for i := range t.tables {
		tb := &t.tables[i]
		tb.mu.Lock()
		keys, items := tb.live, tb.items
		tb.reset()
		tb.mu.Unlock()
		t.keys.Add(-int64(keys))
		t.items.Add(-int64(items))
	}
}

// The null that stands for "every key" in a flush invalidation: the tracking client's own
// protocol's, even when the message goes to a redirection target speaking the other one
// (Redis sends shared.null[c->resp] of the tracking client).
var (
	nullRESP2 = []byte("$-1\r\n")
	nullRESP3 = []byte("_\r\n")
)

// Message heads (Redis's sendTrackingMessage).
const (
	headPush       = ">2\r\n$10\r\ninvalidate\r\n"
	headMessage    = "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
	headRedirBroke = ">2\r\n$21\r\ntracking-redir-broken\r\n"
)

// send delivers one invalidation for tc (Redis's sendTrackingMessage): of key (a one-key
// array), or raw, an encoded value (a BCAST key array, or a null for a flush). It goes to
// tc, or to its REDIRECT target: as a push to a RESP3 connection, as a __redis__:invalidate
// message to a RESP2 one in pub/sub mode, else nowhere. A target that is gone marks the
// redirection broken and tells tc (RESP3 only) with a tracking-redir-broken push, at every
// invalidation, as Redis does. queue: the caller holds an engine lock, so the message goes
// out with TrackSink.Queue (no syscall), else with Push.
func (t *Tracker) send(tc *TrackingClient, key, raw []byte, queue bool) {
	dst := tc.sink
	redirected := false
	if id := tc.redir.Load(); id != 0 {
		tc.mu.Lock()
		r := tc.redirTo
		if r != nil && r.Gone() {
			tc.redirTo, r = nil, nil // the id is never reused: no need to keep the client
		}
		tc.mu.Unlock()
		if r == nil {
			tc.flags.Or(TrackBrokenRedir)
			if tc.sink.ProtoAtomic() >= protocol.RESP3 {
				bp := t.bufs.Get().(*[]byte)
				b := append((*bp)[:0], headRedirBroke...)
				b = protocol.AppendInt(b, id)
				put(tc.sink, b, queue)
				t.putBuf(bp, b)
			}
			return
		}
		dst, redirected = r, true
	}
	bp := t.bufs.Get().(*[]byte)
	b := (*bp)[:0]
	switch {
	case dst.ProtoAtomic() >= protocol.RESP3:
		b = append(b, headPush...)
	case redirected && dst.PubSubMode():
		b = append(b, headMessage...)
	default:
		// A RESP2 connection has no pushes: a tracking client without a redirection in
		// RESP2 receives nothing.
		t.bufs.Put(bp)
		return
	}
	if raw != nil {
		b = append(b, raw...)
	} else {
		b = protocol.AppendArrayLen(b, 1)
		b = protocol.AppendBulk(b, key)
	}
	put(dst, b, queue)
	t.putBuf(bp, b)
}

// put hands msg to s: queued only (the caller holds an engine lock), or pushed.
func put(s TrackSink, msg []byte, queue bool) {
	if queue {
		s.Queue(msg)
	} else {
		s.Push(msg)
	}
}

func (t *Tracker) putBuf(bp *[]byte, b []byte) {
	if cap(b) > trackBufKeep {
		return
	}
	*bp = b[:0]
	t.bufs.Put(bp)
}
