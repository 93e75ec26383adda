package command

// Pub/sub in upstream mode, with an Upstream that relays it (UpstreamPubSub; the relay
// itself: upstream/pubsub.go). Apps on several pods, each behind its sidecar, publish and
// subscribe as if they all talked to the upstream:
//
//   - PUBLISH, SPUBLISH and PUBSUB's counting subcommands pass through: their replies are
//     the upstream's (receivers and subscriptions cluster-wide). Nothing is delivered
//     locally by PUBLISH: the message comes back from the upstream.
//   - (P|S)SUBSCRIBE and the UNSUBSCRIBEs stay this server's (the hubs, the client's sets,
//     the RESP2 gate, the confirmations); the hubs tell the relay when a name gets its
//     first local subscriber or loses its last, and the relay delivers what the upstream
//     publishes into the hubs.
//   - A SUBSCRIBE adding a name the upstream has not confirmed yet is deferred (as an
//     upstream reply is) until it has, so that a message published after the confirmation
//     reaches the app. Inside EXEC it cannot wait, and answers at once.
//   - SSUBSCRIBE in front of a Redis Cluster is refused: a shard channel is served by the
//     node of its slot, and the relay holds one connection.

// UpstreamPubSub is implemented by an Upstream that relays pub/sub through the upstream.
// kind is 0 for channels, 1 for patterns, 2 for shard channels.
type UpstreamPubSub interface {
	// PubSubWant says this server has a first subscriber to name (on) or lost its last. It
	// is called under a hub lock: it must not block nor call back; name is borrowed.
	PubSubWant(kind int, name []byte, on bool)
	// PubSubReady reports whether the upstream has confirmed every name; if not, ready is
	// called once, from any goroutine, when it has (or gave up). names are borrowed.
	PubSubReady(kind int, names [][]byte, ready func()) bool
	// SetPubSubSink installs the delivery of what the upstream publishes (pattern nil
	// unless kind is 1; the bytes are borrowed for the call).
	SetPubSubSink(f func(kind int, pattern, channel, msg []byte))
}

const (
	relayChannel = 0
	relayPattern = 1
	relayShard   = 2
)

const errSSubscribeCluster = "ERR SSUBSCRIBE is not supported by sidecache in front of a Redis Cluster upstream"

// relayPubSub wires the hubs to ps and replaces the pub/sub handlers. Called by SetUpstream
// before clients connect.
func (s *Server) relayPubSub(ps UpstreamPubSub, cluster bool) {
	s.channels.SetWatch(func(name []byte, pattern, on bool) {
		kind := relayChannel
		if pattern {
			kind = relayPattern
		}
		ps.PubSubWant(kind, name, on)
	})
	s.shardChs.SetWatch(func(name []byte, _, on bool) { ps.PubSubWant(relayShard, name, on) })
	ps.SetPubSubSink(func(kind int, pattern, channel, msg []byte) {
		switch kind {
		case relayChannel:
			s.channels.PublishChannel(channel, msg)
		case relayPattern:
			s.channels.PublishPattern(pattern, channel, msg)
		case relayShard:
			s.shardChs.PublishChannel(channel, msg)
		}
	})
	for _, cmd := range s.table {
		switch cmd.name {
		case "subscribe":
			cmd.run = relaySubscribe(ps, relayChannel, cmdSubscribe)
		case "psubscribe":
			cmd.run = relaySubscribe(ps, relayPattern, cmdPSubscribe)
		case "ssubscribe":
			cmd.run = relaySubscribe(ps, relayShard, cmdSSubscribe)
			if cluster {
				cmd.run = func(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
					return appendErr(out, errSSubscribeCluster)
				}
			}
		case "publish", "spublish":
			cmd.run = relayForward(cmd)
		case "pubsub":
			for _, sub := range cmd.subs {
				if relayedName(sub.name) {
					sub.run = relayForward(sub)
				}
			}
		}
	}
}

// relayedName reports whether the command of that (full) name is passed through to the
// upstream by a relaying server.
func relayedName(name string) bool {
	switch name {
	case "publish", "spublish", "pubsub|channels", "pubsub|numsub", "pubsub|numpat",
		"pubsub|shardchannels", "pubsub|shardnumsub":
		return true
	}
	return false
}

// relayedQueued reports whether a queued cmd goes upstream at EXEC because the server
// relays pub/sub (upstream_tx.go).
func (s *Server) relayedQueued(cmd *command) bool {
	_, ok := s.up.(UpstreamPubSub)
	return ok && relayedName(cmd.name)
}

// relayForward passes cmd through; it has no keys the L1 cares about (SPUBLISH's channel
// is not a key of the keyspace).
func relayForward(cmd *command) handler {
	return func(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
		return s.upDo(c, cmd.name, args, nil, false, now, out)
	}
}

// relaySubscribe runs the local subscription, then holds its confirmations until the
// upstream has confirmed the names.
func relaySubscribe(ps UpstreamPubSub, kind int, local handler) handler {
	return func(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
		start := len(out)
		out = local(s, c, args, now, out)
		if len(out) == start || out[start] == '-' || c.sub.top == nil || c.sub.top.name == "exec" {
			return out
		}
		// The deferral is registered before PubSubReady: ready may run at once on another
		// goroutine, and must find the wait set.
		c.Deferred = true
		c.up.quiet = c.replyFlags&(replyOff|replySkip) != 0
		c.up.wait.Store(true)
		reply := append([]byte(nil), out[start:]...)
		if ps.PubSubReady(kind, args[1:], func() { c.deliverDeferred(reply) }) {
			c.Deferred = false
			c.up.wait.Store(false)
			return out
		}
		return out[:start]
	}
}
