package upstream

import (
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
)

// Per-node breakers of a cluster upstream. rueidis routes by slot and tells neither which
// node it picked nor which one failed, so a request is charged to the primary that owns
// its key's slot in the topology watcher's map (cluster.go), which is where rueidis sends
// it unless a redirection it follows says otherwise:
//
//	key ──keySlot (forward.go)──► slot ──route.node[slot]──► breaker
//
// A failure of a request for key k counts against node(slot(k)), and while that node's
// breaker is open only the requests whose keys hash to its slots are refused: the other
// primaries' keys keep flowing. Until the watcher has read a map, for a slot the map
// leaves unserved, and for keyless requests (rueidis sends those to a node of its own
// choosing, so their failure cannot be charged to a node) the cluster-wide breaker u.brk
// gates. A standalone upstream has no route: every request uses u.brk.

// clusterSlots is the number of hash slots of Redis Cluster.
const clusterSlots = 16384

// nodeBreakers routes slots to the breakers of the primaries that serve them.
type nodeBreakers struct {
	route atomic.Pointer[slotRoute] // nil until a map was read, and in standalone mode

	mu     sync.Mutex          // serialises updates and settings
	byAddr map[string]*breaker // every primary ever seen: a breaker outlives a map change, so an open node stays open when the map moves
}

// slotRoute is one slot map's routing; immutable once published.
type slotRoute struct {
	ranges []slotRange // the map it was built from
	node   [clusterSlots]*breaker
	nodes  []*breaker // the primaries of the map, by address
}

// breakerFor returns the breaker that gates and is charged with a request for key.
// It allocates nothing: it runs on the L1 hit path.
func (u *Upstream) breakerFor(key []byte) *breaker {
	if r := u.nodes.route.Load(); r != nil {
		if b := r.node[keySlot(key)]; b != nil {
			return b
		}
	}
	return &u.brk
}

// updateRoute publishes the routing of the slot map rs (from CLUSTER SLOTS), unless it is
// the one already published.
func (u *Upstream) updateRoute(rs []slotRange) {
	n := &u.nodes
	n.mu.Lock()
	defer n.mu.Unlock()
	if cur := n.route.Load(); cur != nil && slices.Equal(cur.ranges, rs) {
		return
	}
	if n.byAddr == nil {
		n.byAddr = make(map[string]*breaker)
	}
	r := &slotRoute{ranges: slices.Clone(rs)}
	for _, sr := range rs {
		b := n.byAddr[sr.addr]
		if b == nil {
			b = &breaker{node: sr.addr, log: u.log}
			b.threshold.Store(u.brk.threshold.Load())
			b.cooldown.Store(u.brk.cooldown.Load())
			n.byAddr[sr.addr] = b
		}
		if !slices.Contains(r.nodes, b) {
			r.nodes = append(r.nodes, b)
		}
		for s := max(sr.start, 0); s <= min(sr.end, clusterSlots-1); s++ {
			r.node[s] = b
		}
	}
	sort.Slice(r.nodes, func(i, j int) bool { return r.nodes[i].node < r.nodes[j].node })
	n.route.Store(r)
}

// nodeBreakerList returns the breakers INFO and /metrics show: the current map's primaries
// by address, then the cluster-wide one in a cluster (keyless requests, no map yet).
func (u *Upstream) nodeBreakerList() []*breaker {
	var bs []*breaker
	if r := u.nodes.route.Load(); r != nil {
		bs = append(bs, r.nodes...)
	}
	return append(bs, &u.brk)
}

// setNodeBreakers gives every primary's breaker the settings of SetBreaker.
func (u *Upstream) setNodeBreakers(failures, cooldown int64) {
	n := &u.nodes
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, b := range n.byAddr {
		b.threshold.Store(failures)
		b.cooldown.Store(cooldown)
	}
}

// primaryAddr is the address of a CLUSTER SLOTS node entry [ip, port, id, ...].
func primaryAddr(ip string, port int64) string {
	return net.JoinHostPort(ip, strconv.FormatInt(port, 10))
}
