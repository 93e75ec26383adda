package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sidecache/sidecache/engine"
)

// Options configure an Upstream.
type Options struct {
	// Addrs are host:port of the upstream (seeds of a cluster when Cluster is set).
	Addrs    []string
	Username string
	Password string
	// TLSConfig, when not nil, is the TLS of every upstream connection (rediss://). Not
	// modified; an empty ServerName verifies each address's own host.
	TLSConfig *tls.Config
	// Cluster says the upstream is a Redis Cluster; otherwise Addrs[0] is one server.
	Cluster bool
	// MaxTTL bounds an entry's life in L1 (l1-max-ttl); 0 turns L1 off (pass-through).
	// NilTTL is how long an absent key is remembered (l1-nil-ttl); 0 does not cache them.
	MaxTTL, NilTTL time.Duration
	// TTLOnly keeps L1 on, bounded by MaxTTL only, when the upstream refuses tracking.
	TTLOnly bool
	// Engine holds the L1. Its OnChange hook is the caller's business: this package only
	// reads, stores and deletes entries.
	Engine *engine.Engine
	Logger *slog.Logger
	// OnInvalidate is called with every key the upstream invalidates or a write through the
	// sidecar changes, OnFlush when the L1 is flushed (null push, lost connection, flush
	// through the sidecar) or a cluster's slots are dropped from it: they chain the
	// invalidation to the app clients tracking keys through the sidecar. Any goroutine; key
	// is valid only during the call.
	OnInvalidate func(key []byte)
	OnFlush      func()
	// ClusterPoll is how often a cluster's slot map is read to drop from L1 the slots that
	// changed primary (cluster.go); 100ms when 0.
	ClusterPoll time.Duration
	// ConnWriteTimeout bounds the wait for a reply on an upstream connection before it is
	// declared dead (and the L1 flushed); rueidis's default (10s) when 0.
	ConnWriteTimeout time.Duration
	// Timeout bounds the wait for the reply of a non-blocking request (upstream-timeout; 0:
	// none). BreakerFailures consecutive failures open a node's circuit breaker for
	// BreakerCooldown (0: never opens; breaker.go). ServeStale keeps L1 for that long after a
	// lost connection, served only while the upstream is unreachable (0: flush; stale.go).
	Timeout, BreakerCooldown, ServeStale time.Duration
	BreakerFailures                      int64

	// perSlot gives a standalone upstream the per-slot epochs of a cluster (slots.go): tests.
	perSlot bool
}

// Mode is how the L1 works, decided at the first connection to the upstream.
type Mode int32

const (
	ModeConnecting Mode = iota // no connection yet: reads are fetched, nothing is cached
	ModeTracking               // coherent: CLIENT TRACKING ON OPTIN on every connection
	ModeTTLOnly                // the upstream refused tracking; l1-ttl-only: stale up to l1-max-ttl
	ModeOff                    // the upstream refused tracking: pure pass-through
)

func (m Mode) String() string {
	switch m {
	case ModeTracking:
		return "tracking"
	case ModeTTLOnly:
		return "ttl-only"
	case ModeOff:
		return "off"
	}
	return "connecting"
}

// Upstream is the L1/L2 data path. Safe for concurrent use.
type Upstream struct {
	opt    Options
	eng    *engine.Engine
	log    *slog.Logger
	maxTTL atomic.Int64 // ms
	nilTTL atomic.Int64 // ms
	mode   atomic.Int32 // Mode

	clients []dbClient // one per database: rueidis selects the database per client

	l1      l1
	flights flightTable
	stats   Stats
	pw      prewarm  // prewarm.go
	topo    topology // cluster.go

	brk       breaker      // breaker.go
	nodes     nodeBreakers // breaker_nodes.go
	deadlines deadlines    // breaker.go
	latency   latencyHist  // latency.go
	stale     staleState   // stale.go
	relay     pubsubRelay  // pubsub.go
	conns     nodeConns    // nodeconn.go: a cluster's connections

	ctx    context.Context
	cancel context.CancelFunc
}

// dbClient is the rueidis client of one upstream database, made on first use.
type dbClient struct {
	c     atomic.Pointer[rueidis.Client]
	mu    sync.Mutex // serialises dialing
	err   error      // last dial failure, under mu
	errAt time.Time  // under mu
}

// connBuffer is the read and the write buffer of each upstream connection, bytes.
const connBuffer = 64 << 10

// redialAfter is how long a failed dial answers its error before the next attempt, so a
// dead upstream costs one dial per database and period, not one per request.
const redialAfter = time.Second

// New returns an Upstream; it connects to database 0 in the background, and to the others
// when a client first selects them.
func New(opt Options) (*Upstream, error) {
	if len(opt.Addrs) == 0 {
		return nil, errors.New("upstream: no address")
	}
	if opt.Engine == nil {
		return nil, errors.New("upstream: no engine")
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	u := &Upstream{opt: opt, eng: opt.Engine, log: opt.Logger}
	u.l1.eng = opt.Engine
	if opt.Cluster || opt.perSlot {
		u.l1.slots = new(slotEpochs)
	}
	u.SetTTLs(opt.MaxTTL, opt.NilTTL)
	u.clients = make([]dbClient, opt.Engine.NumDBs())
	u.flights.init()
	u.ctx, u.cancel = context.WithCancel(context.Background())
	u.initBreaker()
	u.SetServeStale(opt.ServeStale)
	go func() { _, _ = u.client(0) }()
	if opt.Cluster {
		if opt.ClusterPoll <= 0 {
			opt.ClusterPoll = defaultClusterPoll
		}
		go u.watchTopology(opt.ClusterPoll)
	}
	return u, nil
}

// SetTTLs changes l1-max-ttl and l1-nil-ttl; entries already cached keep their expiry.
func (u *Upstream) SetTTLs(maxTTL, nilTTL time.Duration) {
	u.maxTTL.Store(maxTTL.Milliseconds())
	u.nilTTL.Store(nilTTL.Milliseconds())
}

// Mode returns how the L1 works now.
func (u *Upstream) Mode() Mode { return Mode(u.mode.Load()) }

// Cluster reports whether the upstream is a Redis Cluster.
func (u *Upstream) Cluster() bool { return u.opt.Cluster }

// Close closes the upstream connections; replies still awaited answer an error. The engine
// is not touched from the goroutines of this package once Close has returned (the event
// loops must have stopped calling Conn.Do), so it may be closed next.
func (u *Upstream) Close() {
	u.l1.close()
	u.cancel()
	u.relay.close()
	u.deadlines.stop()
	for i := range u.clients {
		if c := u.clients[i].c.Load(); c != nil {
			(*c).Close()
		}
	}
}

// l1On reports whether cached reads go through L1 (before the first connection decided the
// mode too: the first fetch dials and decides it before it sends anything).
func (u *Upstream) l1On() bool { return u.Mode() != ModeOff && u.maxTTL.Load() > 0 }

// caching reports whether fetched replies may be stored.
func (u *Upstream) caching() bool {
	m := u.Mode()
	return (m == ModeTracking || m == ModeTTLOnly) && u.maxTTL.Load() > 0
}

// client returns database db's client, dialing it if need be. Not for the event loops: it
// may block for a dial.
func (u *Upstream) client(db int) (rueidis.Client, error) {
	dc := &u.clients[db]
	if c := dc.c.Load(); c != nil {
		return *c, nil
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if c := dc.c.Load(); c != nil {
		return *c, nil
	}
	if dc.err != nil && time.Since(dc.errAt) < redialAfter {
		return nil, dc.err
	}
	c, err := u.dial(db)
	if err != nil {
		err = clientCertHint(u.opt.TLSConfig, err) // tls.go
		dc.err, dc.errAt = err, time.Now()
		u.log.Warn("upstream unavailable", "db", db, "err", err)
		return nil, err
	}
	dc.err = nil
	dc.c.Store(&c)
	return c, nil
}

// dial connects database db's client. The first successful dial decides the mode: with
// tracking if the upstream accepts CLIENT TRACKING, else ttl-only or off.
func (u *Upstream) dial(db int) (rueidis.Client, error) {
	opt := rueidis.ClientOption{
		InitAddress:       u.opt.Addrs,
		Username:          u.opt.Username,
		Password:          u.opt.Password,
		SelectDB:          db,
		ForceSingleClient: !u.opt.Cluster,
		ClientName:        "sidecache",
		ConnWriteTimeout:  u.opt.ConnWriteTimeout,
		TLSConfig:         u.opt.TLSConfig,
		// Tracking is on for every connection from its handshake (rueidis sends CLIENT
		// TRACKING ON OPTIN when its cache is enabled), so a reconnection is tracked before
		// it carries a read. rueidis's own cache is never used (no DoCache call): it stays
		// empty, and its size bound is set to almost nothing.
		ClientTrackingOptions: []string{"OPTIN"},
		CacheSizeEachConn:     1 << 10,
		OnInvalidations:       u.onInvalidations,
		// rueidis's 0.5 MiB read and write buffers per connection would put several MiB on
		// the Go heap (connections per database x databases selected); a larger reply only
		// takes more reads.
		ReadBufferEachConn:  connBuffer,
		WriteBufferEachConn: connBuffer,
	}
	if m := u.Mode(); m == ModeTTLOnly || m == ModeOff {
		opt.DisableCache = true
	}
	if u.opt.Cluster {
		opt.DialCtxFn = u.dialNode // a lost connection drops its node's slots: nodeconn.go
	}
	c, err := rueidis.NewClient(opt)
	if errors.Is(err, rueidis.ErrNoCache) {
		opt.DisableCache = true
		if c, err = rueidis.NewClient(opt); err == nil {
			mode := ModeOff
			if u.opt.TTLOnly {
				mode = ModeTTLOnly
			}
			if u.mode.CompareAndSwap(int32(ModeConnecting), int32(mode)) {
				u.log.Warn("upstream refuses CLIENT TRACKING: L1 cannot be kept coherent", "l1", mode.String())
			}
			return c, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if u.mode.CompareAndSwap(int32(ModeConnecting), int32(ModeTracking)) {
		u.log.Info("upstream connected", "addrs", u.opt.Addrs, "cluster", u.opt.Cluster, "tls", u.opt.TLSConfig != nil, "l1", ModeTracking.String())
	}
	if u.opt.Cluster {
		u.observeSlotMap(c, true) // before any read: cluster.go
	}
	return c, nil
}

// onInvalidations is rueidis's hook for invalidation pushes, on the reading goroutine of
// the connection that received them: keys, or nil for a null push (FLUSHALL/FLUSHDB
// upstream) and for the end of a connection (rueidis calls it when a connection closes,
// whatever the cause: its invalidations are lost from then on).
func (u *Upstream) onInvalidations(keys []rueidis.RedisMessage) {
	if keys == nil {
		if u.opt.Cluster && u.stale.window.Load() <= 0 {
			u.clusterNil() // nodeconn.go: the node's slots, or a flush if not attributable
			return
		}
		u.connectionLost() // stale.go: a flush, or a hold with upstream-serve-stale
		return
	}
	now := time.Now().UnixMilli()
	for i := range keys {
		k, err := keys[i].ToString()
		if err != nil {
			continue
		}
		key := []byte(k)
		u.l1.invalidate(key, now)
		// Counted once applied: a reader of the counter (INFO, tests) may rely on the
		// key being gone from L1.
		u.stats.Invalidations.Add(1)
		if f := u.opt.OnInvalidate; f != nil {
			f(key)
		}
	}
}

// flush empties the L1, refuses the fetches in flight and tells the app clients tracking
// through the sidecar.
func (u *Upstream) flush(cause FlushCause) {
	u.stats.Flushes.Add(1)
	u.stats.FlushesBy[cause].Add(1)
	u.l1.flush()
	if f := u.opt.OnFlush; f != nil {
		f()
	}
}

// Stats are the counters of INFO upstream and /metrics.
type Stats struct {
	Hits          atomic.Int64 // cached reads answered from L1
	Misses        atomic.Int64 // cached reads that had to wait for the upstream
	Reads         atomic.Int64 // tracked reads sent upstream (one per key fetched)
	Forwarded     atomic.Int64 // commands passed through
	Invalidations atomic.Int64 // keys invalidated by upstream pushes
	Flushes       atomic.Int64 // L1 flushes: null pushes, lost connections, flushes through the sidecar
	Stored        atomic.Int64 // fetched replies stored in L1
	Refused       atomic.Int64 // fetched replies not stored: invalidated while in flight
	Errors        atomic.Int64 // replies that were upstream failures (not Redis errors)
	// Timeouts, BreakerRejected, StaleServes: breaker.go, stale.go.
	Timeouts        atomic.Int64 // round trips past upstream-timeout (or a connection deadline)
	BreakerRejected atomic.Int64 // requests answered at once by an open breaker
	StaleServes     atomic.Int64 // reads answered from a held L1 while the upstream was unreachable (also in Hits when the breaker was open, else in Misses)
	// FlushesBy splits Flushes by cause; they sum to Flushes.
	FlushesBy [NumFlushCauses]atomic.Int64
	// SlotDrops counts the partial drops of a cluster's L1 by cause (slots.go), SlotsDropped
	// the slots they dropped.
	SlotDrops, SlotsDropped [NumDropCauses]atomic.Int64
}

// DropCause is why some of a cluster's slots were dropped from the L1.
type DropCause int

const (
	DropTopology   DropCause = iota // the slots changed primary in the slot map (cluster.go)
	DropConnection                  // the connection to their primary ended, or it sent a null push (nodeconn.go)
	NumDropCauses
)

func (c DropCause) String() string {
	switch c {
	case DropTopology:
		return "topology"
	case DropConnection:
		return "connection"
	}
	return "unknown"
}

// FlushCause is why the L1 was flushed.
type FlushCause int

const (
	FlushUpstream FlushCause = iota // a null push (FLUSHALL/FLUSHDB upstream) or a lost connection: rueidis reports both alike (a cluster: only those not attributable to a node, nodeconn.go)
	FlushWrite                      // FLUSHALL, FLUSHDB or SWAPDB through the sidecar
	FlushTopology                   // the cluster's slot map changed (cluster.go)
	FlushReturn                     // the end of an upstream-serve-stale hold: the upstream answers again (stale.go)
	FlushExpiry                     // the end of an upstream-serve-stale hold: its time passed, the upstream still away
	NumFlushCauses
)

func (c FlushCause) String() string {
	switch c {
	case FlushUpstream:
		return "upstream"
	case FlushWrite:
		return "write"
	case FlushTopology:
		return "topology"
	case FlushReturn:
		return "stale_recovered"
	case FlushExpiry:
		return "stale_expired"
	}
	return "unknown"
}

// Stats returns the counters.
func (u *Upstream) Stats() *Stats { return &u.stats }
