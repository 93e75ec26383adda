package pubsub

// Relayed delivery (upstream mode): the hub's names are subscribed on a central Redis by
// one connection of this process, and what that Redis publishes is handed back here. Redis
// sends one frame per subscription a publish matches (a "message" for the channel, a
// "pmessage" per matching pattern), so each frame goes to the local subscribers of exactly
// that subscription: Publish, which would also match the patterns, would deliver twice.

// SetWatch installs f, called when a name gets its first subscriber (on) or loses its last
// (!on); pattern says it is a pattern. f runs under the hub's lock for that name, so the
// calls for one name arrive in order; it must not block nor call back into the hub, and
// name is valid only during the call. Set it before anyone subscribes.
func (h *Hub) SetWatch(f func(name []byte, pattern, on bool)) { h.watch = f }

func (h *Hub) watched(name []byte, pattern, on bool) {
	if h.watch != nil {
		h.watch(name, pattern, on)
	}
}

// PublishChannel delivers msg to channel's own subscribers only (patterns are not matched)
// and returns how many it reached.
func (h *Hub) PublishChannel(channel, msg []byte) int {
	n := 0
	sh := h.shardOf(channel)
	sh.mu.Lock()
	if set := sh.channels[string(channel)]; set != nil {
		sh.scratch = deliver(sh.scratch, set, h.msgKind, nil, channel, msg)
		n = set.len()
	}
	sh.scratch = trimScratch(sh.scratch)
	sh.mu.Unlock()
	return n
}

// PublishPattern delivers msg, published on channel, to the subscribers of pattern only,
// as a pattern message, and returns how many it reached.
func (h *Hub) PublishPattern(pattern, channel, msg []byte) int {
	if h.pmsgKind == "" {
		return 0
	}
	n := 0
	h.patMu.Lock()
	if set := h.patterns[string(pattern)]; set != nil {
		h.patScratch = deliver(h.patScratch, set, h.pmsgKind, set.name, channel, msg)
		n = set.len()
	}
	h.patScratch = trimScratch(h.patScratch)
	h.patMu.Unlock()
	return n
}
