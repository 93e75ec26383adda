package upstream

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// A Redis Cluster upstream. Tracking is per node: a node remembers the keys a connection
// read from it and invalidates them when they change on that node. Four events move a key
// away from the node that tracks it for this sidecar:
//
//	event                              what the old node does               what closes the gap
//	fetch redirected (MOVED, ASK)      —                                    CLIENT CACHING YES inside MULTI
//	slot migrated (MIGRATE, SETSLOT)   invalidates the keys MIGRATE takes   slot map change: the slot dropped
//	                                   away, not a key it did not hold
//	                                   (an absent key cached as 'n')
//	failover, old primary alive        invalidates only once it replays     slot map change: its slots dropped
//	                                   the new primary's writes
//	failover, old primary dead         its connection ends                  connection end: its slots dropped
//	                                                                        (nodeconn.go), then the map change
//
// "Dropped" is per slot (slots.go): the slot's fetches in flight store nothing, its reads
// miss until its entries are deleted, and the other slots' entries keep answering.
//
// Redirected fetches. rueidis follows MOVED and ASK itself and never shows them. When MULTI
// and EXEC carry no slot it resends the MULTI…EXEC span as one unit to the node redirected
// to (with the key's slot on them, it resends the reads alone and EXEC answers EXECABORT:
// an error to the app for every fetch of a moving slot). A CLIENT CACHING YES sent before
// MULTI would stay behind on the old node, and the new node would answer a read it does
// not remember for this connection: an entry no invalidation reaches. So in a cluster the
// fetch is MULTI, CLIENT CACHING YES, PTTL k, GET k …, EXEC: the caching flag travels with
// the reads and, inside MULTI, applies to every command of the transaction.
//
// Slot map changes. No node tells a client that a slot moved, and a sidecar whose reads
// are all L1 hits sends nothing that could be redirected. So one node's CLUSTER SLOTS is
// read every ClusterPoll; the slots whose primary (id or address) differs from the last map
// seen are dropped (l1_slots_dropped_topology), which also refuses the stores of their
// fetches in flight. A resharding that moves slot after slot drops each as the watcher
// sees it, never the slots that stay. The app clients tracking through the sidecar are
// told to flush everything (their pass-through reads may have been redirected without
// tracking, as above, and which of their keys are in the moved slots is not known here).
// The bound this gives: an entry no node will invalidate lives at most ClusterPoll (plus
// one round trip) after the changed map is visible on the node asked. MIGRATING and
// IMPORTING are not in the map: an absent key created on the importing node while its slot
// migrates reads as absent until SETSLOT NODE ends the migration (and at most l1-nil-ttl).
//
// The watcher's map lags, and a lost connection is placed in it. A connection's end drops
// the slots its node owns in the map last read (nodeconn.go), which may be up to
// ClusterPoll (plus a round trip) old. A slot s that moved to node X after that map — X's
// connection read a key of s, rueidis having followed MOVED or read a newer map itself,
// and then died before the watcher saw the move — is not among X's slots there, so X's
// end does not drop it. It is covered all the same: the watcher's next read shows s on X
// where the map it last read has s elsewhere, and that change drops s (its epoch moves,
// refusing a store still in flight; the drain deletes the entry stored). So an entry of s
// that X's dead connection vouched for is served at most until the watcher sees s on X:
// ClusterPoll plus one round trip after the move is visible on the node asked, the bound
// of any map change. A slot that moved away from X before its end, not yet seen, is
// dropped by the end as well (the older map still gives it to X), which costs misses
// only. If X never was a primary in a map the watcher read (a node just added), its end
// cannot be placed and flushes the whole L1. Not covered: s moving to X and back within
// one poll, so that no map read shows it on X; the move back deletes s's keys on X, whose
// invalidations go out on X's connection, lost only if it dies in that same window.

// defaultClusterPoll is ClusterPoll when Options leave it 0: ten CLUSTER SLOTS a second per
// sidecar, to one node it picked at random.
const defaultClusterPoll = 100 * time.Millisecond

var errNoNode = errors.New("no cluster node known")

// topology is the slot map last seen. The first one is read when the client is dialed,
// before the client carries any read, so every entry stored was read under a map the
// watcher knows: a change after the read is a change from that map. If that first read
// fails, the first map the watcher reads flushes, as a change would.
type topology struct {
	mu     sync.Mutex
	node   string      // the node asked, kept while it answers
	last   string      // the map, "" until one was read
	ranges []slotRange // the map's ranges
}

// watchTopology reads the cluster's slot map every period until Close.
func (u *Upstream) watchTopology(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-u.ctx.Done():
			return
		case <-t.C:
		}
		if c := u.clients[0].c.Load(); c != nil {
			u.observeSlotMap(*c, false)
		}
	}
}

// observeSlotMap reads the slot map from one node and drops from L1 the slots whose primary
// differs from the last map seen; it flushes L1 if none was seen and this is not the first
// read, at dial.
func (u *Upstream) observeSlotMap(c rueidis.Client, atDial bool) {
	tp := &u.topo
	tp.mu.Lock()
	defer tp.mu.Unlock()
	node, m, rs, err := u.slotMap(c, tp.node)
	if err != nil {
		tp.node = "" // another node next time
		return
	}
	u.updateRoute(rs) // breaker_nodes.go
	changed := m != tp.last && !atDial
	prev := tp.ranges
	tp.node, tp.last, tp.ranges = node, m, rs
	switch {
	case !changed:
	case prev == nil:
		u.log.Info("upstream cluster slot map read after a failed first read: L1 flushed", "node", node)
		u.flush(FlushTopology)
	default:
		var set slotSet
		changedSlots(prev, rs, &set)
		if n := u.dropSlots(&set, DropTopology); n > 0 {
			u.log.Info("upstream cluster slot map changed: the moved slots dropped from L1", "node", node, "slots", n)
		}
	}
}

// changedSlots adds to set every slot whose primary (id and address) differs between the
// maps a and b, or that only one of them serves.
func changedSlots(a, b []slotRange, set *slotSet) {
	owners := func(rs []slotRange) *[clusterSlots]int32 { // 1 + the range's index; 0: unserved
		var o [clusterSlots]int32
		for i, r := range rs {
			for s := max(r.start, 0); s <= min(r.end, clusterSlots-1); s++ {
				o[s] = int32(i + 1)
			}
		}
		return &o
	}
	oa, ob := owners(a), owners(b)
	for s := range oa {
		x, y := oa[s], ob[s]
		switch {
		case x == 0 && y == 0:
		case x == 0 || y == 0, a[x-1].primary != b[y-1].primary, a[x-1].addr != b[y-1].addr:
			set.add(s)
		}
	}
}

// slotMap asks node (a random one when "" or gone) for CLUSTER SLOTS and returns the node
// asked, the map as text ("start-end=primary-id" per range, in slot order) and its ranges.
// Sticking to one node keeps two nodes' views, which may differ for a moment, from reading
// as changes back and forth.
func (u *Upstream) slotMap(c rueidis.Client, node string) (string, string, []slotRange, error) {
	nodes := c.Nodes()
	n, ok := nodes[node]
	if !ok {
		addrs := make([]string, 0, len(nodes))
		for a := range nodes {
			addrs = append(addrs, a)
		}
		if len(addrs) == 0 {
			return "", "", nil, errNoNode
		}
		node = addrs[rand.IntN(len(addrs))]
		n = nodes[node]
	}
	ctx, cancel := context.WithTimeout(u.ctx, time.Second)
	defer cancel()
	ranges, err := n.Do(ctx, n.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return "", "", nil, err
	}
	rs, m, err := slotMapText(ranges)
	return node, m, rs, err
}

type slotRange struct {
	start, end int64
	primary    string // node id
	addr       string // host:port, as the map gives it
}

// slotMapText reads CLUSTER SLOTS: [start, end, [ip, port, id, ...], replicas...] per range.
// Replicas are left out: a replica failing or joining moves no key. The ranges come back
// in slot order.
func slotMapText(ranges []rueidis.RedisMessage) ([]slotRange, string, error) {
	rs := make([]slotRange, 0, len(ranges))
	for _, r := range ranges {
		f, err := r.ToArray()
		if err != nil || len(f) < 3 {
			return nil, "", errMalformed
		}
		var sr slotRange
		if sr.start, err = f[0].AsInt64(); err != nil {
			return nil, "", err
		}
		if sr.end, err = f[1].AsInt64(); err != nil {
			return nil, "", err
		}
		p, err := f[2].ToArray()
		if err != nil || len(p) < 3 {
			return nil, "", errMalformed
		}
		if sr.primary, err = p[2].ToString(); err != nil {
			return nil, "", err
		}
		ip, _ := p[0].ToString()
		port, _ := p[1].AsInt64()
		sr.addr = primaryAddr(ip, port)
		rs = append(rs, sr)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(strconv.FormatInt(r.start, 10))
		b.WriteByte('-')
		b.WriteString(strconv.FormatInt(r.end, 10))
		b.WriteByte('=')
		b.WriteString(r.primary)
		b.WriteByte(' ')
	}
	return rs, b.String(), nil
}
