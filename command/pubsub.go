package command

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/sidecache/sidecache/protocol"
	"github.com/sidecache/sidecache/pubsub"
)

// Pub/sub: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBEs, PUBLISH, SPUBLISH and
// PUBSUB, as Redis 7 outside cluster mode (shard channels are a namespace of their own;
// SPUBLISH reaches SSUBSCRIBE only). The subscriptions live in two pubsub.Hubs shared by
// every loop; a client keeps its own names (subState) and gets messages through Push, so a
// message reaches it between two of its replies, never inside one (push.go).
//
// Modes, from Redis's processCommand:
//   - a subscribed client (channels, patterns or shard channels) speaking RESP2 may only
//     run (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET; PING then answers
//     ["pong", arg]. RESP3 has no such limit.
//   - a MONITOR client may not run commands that read or write keys or publish (Redis
//     treats it as a replica).
// Both are checked in exec only while subState.gate is set, so other clients pay one
// branch.

// subState is a client's subscriptions and MONITOR mode. The sets and gate belong to c's
// loop; the counts and flags are atomics for CLIENT LIST and the network layer.
type subState struct {
	channels, patterns, shards pubsub.Set

	nch, npat, nsh atomic.Int32 // the sets' sizes, published
	monitor        atomic.Bool  // in MONITOR mode (CLIENT_MONITOR)

	// gate is set while exec must check the modes above for c.
	gate bool
	// top is the command exec is running for c; a command run inside EXEC sees EXEC here.
	top *command
	// monBuf formats MONITOR lines of c's commands (only while someone monitors).
	monBuf []byte
	// mem estimates the heap the subscriptions hold, bytes: client memory, so that
	// maxmemory-clients also bounds a client subscribing to ever more names.
	mem int
}

// subNameCost is what one subscribed name costs the heap: the client's copy and index
// entry, and the hub's key and subscriber slot (an estimate; the hub's key is shared).
func subNameCost(name []byte) int { return 2*len(name) + 96 }

// memory is the bytes c's subscriptions and MONITOR buffer hold. Only c's loop calls it.
func (st *subState) memory() int { return st.mem + cap(st.monBuf) }

// pubsubState is the Server's part: the two namespaces and the MONITOR clients.
type pubsubState struct {
	channels *pubsub.Hub // channels and patterns
	shardChs *pubsub.Hub // shard channels
	// monitors is copied on write (MONITOR, a monitor leaving) and read without a lock by
	// every command while nmon > 0.
	monitors atomic.Pointer[[]*Client]
	nmon     atomic.Int32
	monMu    sync.Mutex // serialises writers of monitors
}

func (s *Server) initPubSub() {
	s.channels = pubsub.NewHub("message", "pmessage")
	s.shardChs = pubsub.NewHub("smessage", "")
}

// IsPubSub reports whether c holds a subscription (Redis's CLIENT_PUBSUB: the client
// belongs to the pubsub class of client-output-buffer-limit). Safe from any goroutine.
func (c *Client) IsPubSub() bool {
	return c.sub.nch.Load()+c.sub.npat.Load()+c.sub.nsh.Load() > 0
}

// IsMonitor reports whether c is in MONITOR mode. Safe from any goroutine.
func (c *Client) IsMonitor() bool { return c.sub.monitor.Load() }

// subCount is Redis's clientSubscriptionsCount: channels and patterns.
func (c *Client) subCount() int { return c.sub.channels.Len() + c.sub.patterns.Len() }

// subChanged publishes the counts and refreshes the mode flags after a change.
func (c *Client) subChanged() {
	st := &c.sub
	st.nch.Store(int32(st.channels.Len()))
	st.npat.Store(int32(st.patterns.Len()))
	st.nsh.Store(int32(st.shards.Len()))
	c.refreshGate()
}

// refreshGate recomputes gate and the idle-timeout exemption (subscribed and MONITOR
// clients never time out, as in Redis). Called on c's loop.
func (c *Client) refreshGate() {
	subscribed := c.IsPubSub()
	mon := c.sub.monitor.Load()
	c.sub.gate = mon || subscribed && c.Proto == protocol.RESP2
	if nt := subscribed || mon; c.noTimeout.Load() != nt {
		c.noTimeout.Store(nt)
	}
}

// gateError returns the error for cmd in c's mode, or "" if cmd may run.
func gateError(c *Client, cmd *command) string {
	if c.Proto == protocol.RESP2 && c.IsPubSub() {
		switch cmd.name {
		case "subscribe", "ssubscribe", "psubscribe", "unsubscribe", "sunsubscribe", "punsubscribe",
			"ping", "quit", "reset":
		default:
			return "ERR Can't execute '" + cmd.name + "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
		}
	}
	if c.sub.monitor.Load() && (cmd.flags&(flagWrite|flagReadonly) != 0 || cmd.name == "publish" || cmd.name == "spublish") {
		return "ERR Replica can't interact with the keyspace"
	}
	return ""
}

// drainAhead moves the messages queued for c into out ahead of the reply being written, so
// that none queued before an unsubscription follows its confirmation. Only a top-level
// pub/sub command or RESET may: inside EXEC the array being written must stay whole (the
// messages then follow EXEC's reply).
func (c *Client) drainAhead(out []byte) []byte {
	if t := c.sub.top; t != nil && (t.flags&flagPubSub != 0 || t.name == "reset") && c.PushPending() {
		out = c.DrainPush(out)
	}
	return out
}

// appendSubReply appends a (un)subscribe confirmation: [kind, name, count] as a RESP3 push
// or a RESP2 array; a nil name is a null (UNSUBSCRIBE with nothing subscribed).
func appendSubReply(out []byte, v protocol.Version, kind string, name []byte, count int) []byte {
	out = protocol.AppendPushLen(out, v, 3)
	out = protocol.AppendBulkString(out, kind)
	if name == nil {
		out = protocol.AppendNull(out, v)
	} else {
		out = protocol.AppendBulk(out, name)
	}
	return protocol.AppendInt(out, int64(count))
}

func cmdSubscribe(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	for _, ch := range args[1:] {
		if c.sub.channels.Add(ch) {
			s.channels.Subscribe(c, ch)
			c.sub.mem += subNameCost(ch)
		}
		out = appendSubReply(out, c.Proto, "subscribe", ch, c.subCount())
	}
	c.subChanged()
	return out
}

func cmdPSubscribe(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	for _, pat := range args[1:] {
		if c.sub.patterns.Add(pat) {
			s.channels.PSubscribe(c, pat)
			c.sub.mem += subNameCost(pat)
		}
		out = appendSubReply(out, c.Proto, "psubscribe", pat, c.subCount())
	}
	c.subChanged()
	return out
}

func cmdSSubscribe(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if c.tx.on { // inside EXEC: Redis 7.0 refuses it (CLIENT_DENY_BLOCKING)
		return appendErr(out, "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")
	}
	for _, ch := range args[1:] {
		if c.sub.shards.Add(ch) {
			s.shardChs.Subscribe(c, ch)
			c.sub.mem += subNameCost(ch)
		}
		out = appendSubReply(out, c.Proto, "ssubscribe", ch, c.sub.shards.Len())
	}
	c.subChanged()
	return out
}

// unsubscribeKind is one of the three namespaces seen from a client.
type unsubscribeKind struct {
	name  string
	set   func(c *Client) *pubsub.Set
	hub   func(s *Server, c *Client, name []byte)
	count func(c *Client) int
}

var (
	unsubChannel = unsubscribeKind{"unsubscribe", func(c *Client) *pubsub.Set { return &c.sub.channels },
		func(s *Server, c *Client, n []byte) { s.channels.Unsubscribe(c, n) }, (*Client).subCount}
	unsubPattern = unsubscribeKind{"punsubscribe", func(c *Client) *pubsub.Set { return &c.sub.patterns },
		func(s *Server, c *Client, n []byte) { s.channels.PUnsubscribe(c, n) }, (*Client).subCount}
	unsubShard = unsubscribeKind{"sunsubscribe", func(c *Client) *pubsub.Set { return &c.sub.shards },
		func(s *Server, c *Client, n []byte) { s.shardChs.Unsubscribe(c, n) },
		func(c *Client) int { return c.sub.shards.Len() }}
)

// unsubscribe is the three UNSUBSCRIBE commands: the names given, or every name held (a
// null name when none is).
func (s *Server) unsubscribe(k *unsubscribeKind, c *Client, names [][]byte, out []byte) []byte {
	set := k.set(c)
	one := func(n []byte) {
		if set.Remove(n) {
			k.hub(s, c, n)
			c.sub.mem -= subNameCost(n)
		}
		out = c.drainAhead(out)
		out = appendSubReply(out, c.Proto, k.name, n, k.count(c))
	}
	if len(names) == 0 {
		held := set.Names()
		if len(held) == 0 {
			out = appendSubReply(out, c.Proto, k.name, nil, k.count(c))
		}
		for _, n := range held {
			one([]byte(n))
		}
	}
	for _, n := range names {
		one(n)
	}
	c.subChanged()
	return out
}

func cmdUnsubscribe(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.unsubscribe(&unsubChannel, c, args[1:], out)
}

func cmdPUnsubscribe(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.unsubscribe(&unsubPattern, c, args[1:], out)
}

func cmdSUnsubscribe(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.unsubscribe(&unsubShard, c, args[1:], out)
}

func cmdPublish(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendInt(out, int64(s.channels.Publish(args[1], args[2])))
}

func cmdSPublish(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendInt(out, int64(s.shardChs.Publish(args[1], args[2])))
}

// appendChannelList is PUBSUB CHANNELS / SHARDCHANNELS [pattern].
func appendChannelList(out []byte, h *pubsub.Hub, args [][]byte) []byte {
	if len(args) > 3 {
		return appendSubcommandSyntaxError(out, args)
	}
	var pat []byte
	if len(args) == 3 {
		pat = args[2]
	}
	names := h.Channels(pat)
	out = protocol.AppendArrayLen(out, len(names))
	for _, n := range names {
		out = protocol.AppendBulk(out, n)
	}
	return out
}

// appendNumSub is PUBSUB NUMSUB / SHARDNUMSUB [channel ...]: a flat array of name, count.
func appendNumSub(out []byte, h *pubsub.Hub, names [][]byte) []byte {
	out = protocol.AppendArrayLen(out, 2*len(names))
	for _, n := range names {
		out = protocol.AppendBulk(out, n)
		out = protocol.AppendInt(out, int64(h.NumSub(n)))
	}
	return out
}

func cmdPubsubChannels(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendChannelList(out, s.channels, args)
}

func cmdPubsubShardChannels(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendChannelList(out, s.shardChs, args)
}

func cmdPubsubNumSub(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendNumSub(out, s.channels, args[2:])
}

func cmdPubsubShardNumSub(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendNumSub(out, s.shardChs, args[2:])
}

func cmdPubsubNumPat(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendInt(out, int64(s.channels.NumPatterns()))
}

func cmdPubsubHelp(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendHelp(out, "PUBSUB", []string{
		"CHANNELS [<pattern>]",
		"    Return the currently active channels matching a <pattern> (default: '*').",
		"NUMPAT",
		"    Return number of subscriptions to patterns.",
		"NUMSUB [<channel> ...]",
		"    Return the number of subscribers for the specified channels, excluding",
		"    pattern subscriptions(default: no channels).",
		"SHARDCHANNELS [<pattern>]",
		"    Return the currently active shard level channels matching a <pattern> (default: '*').",
		"SHARDNUMSUB [<shardchannel> ...]",
		"    Return the number of subscribers for the specified shard level channel(s)",
	})
}

// dropSubscriptions removes every subscription of c and its MONITOR mode, without replies
// (a closing connection). Called on c's loop.
func (s *Server) dropSubscriptions(c *Client) {
	st := &c.sub
	if st.channels.Len() > 0 {
		for _, n := range st.channels.Names() {
			s.channels.Unsubscribe(c, []byte(n))
		}
		st.channels.Clear()
	}
	if st.patterns.Len() > 0 {
		for _, n := range st.patterns.Names() {
			s.channels.PUnsubscribe(c, []byte(n))
		}
		st.patterns.Clear()
	}
	if st.shards.Len() > 0 {
		for _, n := range st.shards.Names() {
			s.shardChs.Unsubscribe(c, []byte(n))
		}
		st.shards.Clear()
	}
	s.unmonitor(c)
	st.monBuf = nil
	st.mem = 0
	c.subChanged()
}

// resetPubSub is RESET's part: c leaves every channel, pattern and shard channel and MONITOR
// mode, without confirmations; messages queued before are moved into out ahead of RESET's
// reply (outside EXEC), as Redis had them in the output buffer already. Called on c's loop.
func (c *Client) resetPubSub(s *Server, out []byte) []byte {
	s.dropSubscriptions(c)
	return c.drainAhead(out)
}

// appendSubscribedPong is PING's reply to a subscribed RESP2 client: ["pong", arg or ""].
func appendSubscribedPong(out []byte, args [][]byte) []byte {
	out = protocol.AppendArrayLen(out, 2)
	out = protocol.AppendBulkString(out, "pong")
	if len(args) == 1 {
		return protocol.AppendBulkString(out, "")
	}
	return protocol.AppendBulk(out, args[1])
}

// appendCounts appends CLIENT LIST's " sub=N psub=N ssub=N". Safe from any goroutine.
func (st *subState) appendCounts(dst []byte) []byte {
	dst = append(dst, " sub="...)
	dst = strconv.AppendInt(dst, int64(st.nch.Load()), 10)
	dst = append(dst, " psub="...)
	dst = strconv.AppendInt(dst, int64(st.npat.Load()), 10)
	dst = append(dst, " ssub="...)
	return strconv.AppendInt(dst, int64(st.nsh.Load()), 10)
}
