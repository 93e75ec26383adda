package upstream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/redis/rueidis"
)

// Pub/sub across pods. The apps' subscriptions stay in the sidecar (its pub/sub hub
// delivers the messages, in the app's protocol, between its replies), and the hub's names
// are subscribed on the upstream by one connection per namespace and pod: the relay.
//
//	hub: first local subscriber of a name ──► PubSubWant(on) ──► want ──► run: SUBSCRIBE upstream
//	hub: last local subscriber leaves      ──► PubSubWant(off) ─► want ──► run: UNSUBSCRIBE upstream
//	upstream "message"/"pmessage"/"smessage" ──► reading goroutine ──► sink ──► hub ──► local subscribers
//
// PUBLISH and SPUBLISH pass through (the command layer forwards them): a message comes back
// from the upstream once per subscription of this pod it matches, and the sink hands each
// frame to the local subscribers of exactly that subscription, so nothing is delivered
// twice and the counts are Redis's.
//
// Namespaces: channels with patterns on one connection, shard channels on another (rueidis
// hands "message" and "smessage" to the same hook without telling them apart, and the two
// namespaces may hold the same name). The shard connection exists only once something was
// SSUBSCRIBEd; in front of a Redis Cluster the command layer refuses SSUBSCRIBE (a shard
// channel lives on the node of its slot, and one connection cannot follow them all).
//
// A SUBSCRIBE that adds a name the upstream has not confirmed yet is answered once it has
// (PubSubReady): the app then misses no message published after its confirmation, as with
// Redis itself. The confirmation and the messages after it come on one reading goroutine in
// the upstream's order, and the waiting reply is queued from that goroutine before the
// next message is.
//
// Connection loss (upstream restart, CLIENT KILL, network): the relay redials, rotating
// through the upstream addresses, and subscribes every wanted name again. Messages
// published between the loss and the new subscription are lost, as they are for a Redis
// client that reconnects; the local subscriptions stay, and nothing tells the apps. While
// the upstream cannot be reached, SUBSCRIBE is answered at once (the subscription takes
// effect when the upstream is back).
//
// Known limits: a name unsubscribed and subscribed again while the UNSUBSCRIBE is in flight
// may be answered on the old confirmation, just before the upstream has it again; in front
// of a cluster the relay connects to the seed addresses, not to nodes found later.

// Pub/sub namespaces and kinds of name, as PubSubWant, PubSubReady and the sink number them.
const (
	PubSubChannel = 0 // SUBSCRIBE; "message"
	PubSubPattern = 1 // PSUBSCRIBE; "pmessage"
	PubSubShard   = 2 // SSUBSCRIBE; "smessage"
)

// relayRedial bounds how often a failing relay dials.
const relayRedial = 500 * time.Millisecond

// pubsubRelay is the Upstream's part.
type pubsubRelay struct {
	ns   [2]relayNS // channels and patterns; shard channels
	sink func(kind int, pattern, channel, msg []byte)
}

// relayNS is one namespace's subscriptions and its upstream connection.
type relayNS struct {
	u     *Upstream
	shard bool
	kick  chan struct{} // cap 1: the state changed, run must look
	once  sync.Once     // starts run
	live  atomic.Bool   // run was started

	mu   sync.Mutex
	want [2]map[string]struct{} // [channel, pattern]: names with local subscribers
	sent [2]map[string]struct{} // subscribed on conn and not unsubscribed since
	have [2]map[string]struct{} // confirmed on conn
	wait []*relayWaiter
	conn *relayConn // nil while disconnected
	down bool       // the last dial failed
	next int        // the address the next dial tries
	done bool       // closed
}

// relayWaiter is a SUBSCRIBE reply held until the upstream confirms names.
type relayWaiter struct {
	i     int
	names []string
	ready func()
}

type relayConn struct {
	client  rueidis.Client
	dc      rueidis.DedicatedClient
	release func()
}

func (c *relayConn) close() {
	c.dc.Close()
	c.release()
	c.client.Close()
}

// SetPubSubSink installs f, which receives what the upstream publishes to this sidecar's
// subscriptions, on a reading goroutine, in the upstream's order: kind is PubSubChannel,
// PubSubPattern (pattern is then the subscription's pattern, else nil) or PubSubShard. The
// bytes are valid only during the call and must not be changed. Call it before PubSubWant.
func (u *Upstream) SetPubSubSink(f func(kind int, pattern, channel, msg []byte)) {
	u.relay.sink = f
}

// ns returns kind's namespace and its index in want, sent and have.
func (u *Upstream) ns(kind int) (*relayNS, int) {
	ns := &u.relay.ns[0]
	if kind == PubSubShard {
		ns = &u.relay.ns[1]
	}
	ns.once.Do(func() {
		ns.u, ns.shard = u, kind == PubSubShard
		ns.kick = make(chan struct{}, 1)
		for i := range ns.want {
			ns.want[i], ns.sent[i], ns.have[i] = map[string]struct{}{}, map[string]struct{}{}, map[string]struct{}{}
		}
		ns.live.Store(true)
		go ns.run()
	})
	return ns, kind & 1
}

// PubSubWant says this sidecar has a first subscriber to name (on) or lost its last (!on).
// It does not block (the hub calls it under its lock); name is read during the call.
func (u *Upstream) PubSubWant(kind int, name []byte, on bool) {
	ns, i := u.ns(kind)
	ns.mu.Lock()
	if on {
		ns.want[i][string(name)] = struct{}{}
	} else {
		delete(ns.want[i], string(name))
	}
	ns.mu.Unlock()
	ns.signal()
}

// PubSubReady reports whether the upstream has confirmed every name (or cannot be reached:
// see the top of this file). If not, it calls ready once, from another goroutine, when it
// has, or when the relay's connection failed meanwhile. names are read during the call.
func (u *Upstream) PubSubReady(kind int, names [][]byte, ready func()) bool {
	ns, i := u.ns(kind)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.down || ns.done || ns.confirmed(i, names) {
		return true
	}
	w := &relayWaiter{i: i, ready: ready, names: make([]string, len(names))}
	for j, n := range names {
		w.names[j] = string(n)
	}
	ns.wait = append(ns.wait, w)
	return false
}

func (ns *relayNS) confirmed(i int, names [][]byte) bool {
	for _, n := range names {
		if _, ok := ns.have[i][string(n)]; !ok {
			return false
		}
	}
	return true
}

func (ns *relayNS) signal() {
	select {
	case ns.kick <- struct{}{}:
	default:
	}
}

// takeWaiters removes and returns the waiters keep refuses (all of them when keep is nil).
// Under mu; the caller calls their ready after unlocking.
func (ns *relayNS) takeWaiters(keep func(w *relayWaiter) bool) []*relayWaiter {
	var out []*relayWaiter
	kept := ns.wait[:0]
	for _, w := range ns.wait {
		if keep != nil && keep(w) {
			kept = append(kept, w)
		} else {
			out = append(out, w)
		}
	}
	clear(ns.wait[len(kept):])
	ns.wait = kept
	return out
}

func fire(ws []*relayWaiter) {
	for _, w := range ws {
		w.ready()
	}
}

// run connects when something is wanted and keeps the upstream's subscriptions equal to
// want. It is the only goroutine that dials and sends.
func (ns *relayNS) run() {
	ctx := ns.u.ctx
	for {
		select {
		case <-ns.kick:
		case <-ctx.Done():
			ns.close()
			return
		}
		ns.mu.Lock()
		connected, wanted := ns.conn != nil, len(ns.want[0])+len(ns.want[1]) > 0
		ns.mu.Unlock()
		if !connected && wanted {
			if err := ns.connect(); err != nil {
				ns.mu.Lock()
				first := !ns.down
				ns.down = true
				ws := ns.takeWaiters(nil)
				ns.mu.Unlock()
				fire(ws)
				if first {
					ns.u.log.Warn("upstream pub/sub connection failed; retrying", "shard", ns.shard, "err", err)
				}
				select {
				case <-time.After(relayRedial):
				case <-ctx.Done():
				}
				ns.signal()
				continue
			}
		}
		ns.sync(ctx)
	}
}

// connect dials the next address and installs the hooks.
func (ns *relayNS) connect() error {
	u := ns.u
	ns.mu.Lock()
	addr := u.opt.Addrs[ns.next%len(u.opt.Addrs)]
	ns.next++
	ns.mu.Unlock()
	name := "sidecache-pubsub"
	if ns.shard {
		name = "sidecache-spubsub"
	}
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:         []string{addr},
		Username:            u.opt.Username,
		Password:            u.opt.Password,
		TLSConfig:           u.opt.TLSConfig,
		ForceSingleClient:   true,
		DisableCache:        true, // no tracking: this connection carries no reads
		ClientName:          name,
		ConnWriteTimeout:    u.opt.ConnWriteTimeout,
		ReadBufferEachConn:  connBuffer,
		WriteBufferEachConn: connBuffer,
	})
	if err != nil {
		return clientCertHint(u.opt.TLSConfig, err)
	}
	dc, release := client.Dedicate()
	c := &relayConn{client: client, dc: dc, release: release}
	lost := dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: ns.onMessage, OnSubscription: ns.onSubscription})
	select {
	case err := <-lost:
		c.close()
		return err
	default:
	}
	ns.mu.Lock()
	if ns.done {
		ns.mu.Unlock()
		c.close()
		return context.Canceled
	}
	recovered := ns.down
	ns.conn, ns.down = c, false
	ns.mu.Unlock()
	if recovered {
		u.log.Info("upstream pub/sub connection restored", "shard", ns.shard)
	}
	go ns.watch(c, lost)
	return nil
}

// watch waits for c's end (rueidis reports it on lost) and makes run resubscribe.
func (ns *relayNS) watch(c *relayConn, lost <-chan error) {
	err := <-lost
	ns.mu.Lock()
	mine := ns.conn == c
	var ws []*relayWaiter
	if mine {
		ns.conn = nil
		clear(ns.sent[0])
		clear(ns.sent[1])
		clear(ns.have[0])
		clear(ns.have[1])
		ws = ns.takeWaiters(nil)
	}
	done := ns.done
	ns.mu.Unlock()
	fire(ws)
	if !mine {
		return
	}
	c.close()
	if !done {
		ns.u.log.Warn("upstream pub/sub connection lost; resubscribing", "shard", ns.shard, "err", err)
		ns.signal()
	}
}

// sync sends what makes the upstream's subscriptions equal to want.
func (ns *relayNS) sync(ctx context.Context) {
	var sub, unsub [2][]string
	ns.mu.Lock()
	c := ns.conn
	if c == nil {
		ns.mu.Unlock()
		return
	}
	for i := range ns.want {
		for n := range ns.want[i] {
			if _, ok := ns.sent[i][n]; !ok {
				ns.sent[i][n] = struct{}{}
				sub[i] = append(sub[i], n)
			}
		}
		for n := range ns.sent[i] {
			if _, ok := ns.want[i][n]; !ok {
				delete(ns.sent[i], n)
				unsub[i] = append(unsub[i], n)
			}
		}
	}
	// A reply waiting for a name nobody wants any more (its client left) will not be
	// confirmed: answer it.
	ws := ns.takeWaiters(func(w *relayWaiter) bool {
		for _, n := range w.names {
			if _, ok := ns.want[w.i][n]; !ok {
				return false
			}
		}
		return true
	})
	ns.mu.Unlock()
	fire(ws)
	b := c.dc.B()
	var cmds []rueidis.Completed
	if ns.shard {
		if len(sub[0]) > 0 {
			cmds = append(cmds, b.Ssubscribe().Channel(sub[0]...).Build())
		}
		if len(unsub[0]) > 0 {
			cmds = append(cmds, b.Sunsubscribe().Channel(unsub[0]...).Build())
		}
	} else {
		if len(sub[0]) > 0 {
			cmds = append(cmds, b.Subscribe().Channel(sub[0]...).Build())
		}
		if len(sub[1]) > 0 {
			cmds = append(cmds, b.Psubscribe().Pattern(sub[1]...).Build())
		}
		if len(unsub[0]) > 0 {
			cmds = append(cmds, b.Unsubscribe().Channel(unsub[0]...).Build())
		}
		if len(unsub[1]) > 0 {
			cmds = append(cmds, b.Punsubscribe().Pattern(unsub[1]...).Build())
		}
	}
	for _, cmd := range cmds {
		if err := c.dc.Do(ctx, cmd).Error(); err != nil {
			// A refusal (an ACL without these channels) is not retried until the next
			// connection; the replies waiting for it are answered.
			ns.u.log.Warn("upstream pub/sub command failed", "shard", ns.shard, "err", err)
			ns.mu.Lock()
			ws := ns.takeWaiters(nil)
			ns.mu.Unlock()
			fire(ws)
		}
	}
}

// onSubscription runs on the reading goroutine for each (un)subscribe confirmation.
func (ns *relayNS) onSubscription(s rueidis.PubSubSubscription) {
	i, on := 0, false
	switch s.Kind {
	case "subscribe", "ssubscribe":
		on = true
	case "psubscribe":
		i, on = 1, true
	case "punsubscribe":
		i = 1
	}
	ns.mu.Lock()
	if on {
		ns.have[i][s.Channel] = struct{}{}
	} else {
		delete(ns.have[i], s.Channel)
	}
	var ws []*relayWaiter
	if on && len(ns.wait) > 0 {
		ws = ns.takeWaiters(func(w *relayWaiter) bool {
			for _, n := range w.names {
				if _, ok := ns.have[w.i][n]; !ok {
					return true
				}
			}
			return false
		})
	}
	ns.mu.Unlock()
	fire(ws)
}

// onMessage runs on the reading goroutine for each message, in the upstream's order.
func (ns *relayNS) onMessage(m rueidis.PubSubMessage) {
	sink := ns.u.relay.sink
	if sink == nil {
		return
	}
	switch {
	case ns.shard:
		sink(PubSubShard, nil, readOnly(m.Channel), readOnly(m.Message))
	case m.Pattern != "":
		sink(PubSubPattern, readOnly(m.Pattern), readOnly(m.Channel), readOnly(m.Message))
	default:
		sink(PubSubChannel, nil, readOnly(m.Channel), readOnly(m.Message))
	}
}

// readOnly returns s's bytes without a copy; they must not be changed, and are valid as
// long as s is.
func readOnly(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// close ends the relay: the connection is closed, waiting replies are answered.
func (ns *relayNS) close() {
	ns.mu.Lock()
	ns.done = true
	c := ns.conn
	ns.conn = nil
	ws := ns.takeWaiters(nil)
	ns.mu.Unlock()
	fire(ws)
	if c != nil {
		c.close()
	}
}

func (r *pubsubRelay) close() {
	for i := range r.ns {
		ns := &r.ns[i]
		if ns.live.Load() {
			ns.close()
		}
	}
}
