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
//	slot migrated (MIGRATE, SETSLOT)   invalidates the keys MIGRATE takes   slot map change: flush
//	                                   away, not a key it did not hold
//	                                   (an absent key cached as 'n')
//	failover, old primary alive        invalidates only once it replays     slot map change: flush
//	                                   the new primary's writes
//	failover, old primary dead         its connection ends                  onInvalidations(nil): flush
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
// read every ClusterPoll; when the map of slot ranges to primaries differs from the last
// one seen, the whole L1 is flushed (cause "topology"), which also refuses the stores of
// fetches in flight and tells the app clients tracking through the sidecar (their
// pass-through reads may have been redirected without tracking, as above). No entry
// records the node that vouched for it, and topology changes are rare enough for a full
// flush to cost little. The bound this gives: an entry no node will invalidate lives at
// most ClusterPoll (plus one round trip) after the changed map is visible on the node
// asked. MIGRATING and IMPORTING are not in the map: an absent key created on the
// importing node while its slot migrates reads as absent until SETSLOT NODE ends the
// migration (and at most l1-nil-ttl).

// defaultClusterPoll is ClusterPoll when Options leave it 0: ten CLUSTER SLOTS a second per
// sidecar, to one node it picked at random.
const defaultClusterPoll = 100 * time.Millisecond

var errNoNode = errors.New("no cluster node known")

// topology is the slot map last seen. The first one is read when the client is dialed,
// before the client carries any read, so every entry stored was read under a map the
// watcher knows: a change after the read is a change from that map. If that first read
// fails, the first map the watcher reads flushes, as a change would.
type topology struct {
	mu   sync.Mutex
	node string // the node asked, kept while it answers
	last string // the map, "" until one was read
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

// observeSlotMap reads the slot map from one node and flushes L1 if it differs from the
// last one seen (or none was seen and this is not the first read, at dial).
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
	tp.node, tp.last = node, m
	if changed {
		u.log.Info("upstream cluster slot map changed: L1 flushed", "node", node)
		u.flush(FlushTopology)
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
