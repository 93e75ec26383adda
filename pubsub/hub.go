// Package pubsub holds pub/sub subscriptions and delivers published messages: channels and
// glob patterns mapped to their subscribers, safe for every event loop at once.
//
// Layout:
//
//	Hub ── shards[hash(channel) % 256] ── mu, channels map[name]*subSet, scratch
//	    └─ patterns (one lock) ──────────── patterns map[pattern]*subSet, scratch
//
// Publish holds the channel's shard lock while it hands the message to each subscriber
// (Subscriber.Push copies it into the subscriber's queue), then the pattern lock, in that
// order; nothing takes them the other way round. Holding the locks makes every subscriber
// see one channel's messages in the same order, and makes Unsubscribe a barrier: once it
// returns, no Publish is still delivering that channel to the subscriber. The messages are
// encoded once per protocol version into the lock's scratch buffer, so a publish allocates
// nothing.
//
// The package keeps no per-subscriber state: a subscriber's own set of names (Set) is kept
// by its owner, who calls Subscribe only for a name it did not hold and Unsubscribe only for
// one it did.
package pubsub

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/sidecache/sidecache/glob"
	"github.com/sidecache/sidecache/protocol"
)

// Subscriber receives published messages. Both methods must be safe from any goroutine
// and must not call back into the Hub.
type Subscriber interface {
	// Push queues msg, a complete RESP message, for the subscriber; msg is only valid during
	// the call. It reports false if the subscriber is gone or over its output limit.
	Push(msg []byte) bool
	// ProtoAtomic is the RESP version to encode the subscriber's messages in.
	ProtoAtomic() protocol.Version
}

const numShards = 256

// keepScratch is the largest encoding buffer kept between publishes.
const keepScratch = 64 << 10

// Hub is one namespace of channels: Redis's channels and patterns (NewHub("message",
// "pmessage")), or its shard channels (NewHub("smessage", "")), which have no patterns.
type Hub struct {
	seed     maphash.Seed
	msgKind  string // first element of a channel message: "message" or "smessage"
	pmsgKind string // of a pattern message; "" when the hub has no patterns
	shards   [numShards]shard
	nchan    atomic.Int64 // channels with at least one subscriber

	patMu      sync.Mutex
	patterns   map[string]*subSet // under patMu
	patScratch []byte             // under patMu
	npat       atomic.Int64       // len(patterns), read without the lock

	watch func(name []byte, pattern, on bool) // relay.go; nil unless relayed
}

type shard struct {
	mu       sync.Mutex
	channels map[string]*subSet
	scratch  []byte
	_        [32]byte // keeps neighbouring shards' locks off one cache line
}

// NewHub returns an empty namespace whose messages start with msgKind (and pmsgKind for
// pattern matches; "" disables patterns).
func NewHub(msgKind, pmsgKind string) *Hub {
	h := &Hub{seed: maphash.MakeSeed(), msgKind: msgKind, pmsgKind: pmsgKind, patterns: map[string]*subSet{}}
	for i := range h.shards {
		h.shards[i].channels = map[string]*subSet{}
	}
	return h
}

func (h *Hub) shardOf(name []byte) *shard {
	return &h.shards[maphash.Bytes(h.seed, name)%numShards]
}

// Subscribe adds s to channel's subscribers. The caller guarantees s is not one already.
func (h *Hub) Subscribe(s Subscriber, channel []byte) {
	sh := h.shardOf(channel)
	sh.mu.Lock()
	set := sh.channels[string(channel)]
	if set == nil {
		set = &subSet{}
		sh.channels[string(channel)] = set
		h.nchan.Add(1)
		h.watched(channel, false, true)
	}
	set.add(s)
	sh.mu.Unlock()
}

// Unsubscribe removes s from channel's subscribers; when it returns, no Publish is still
// delivering to s on that channel.
func (h *Hub) Unsubscribe(s Subscriber, channel []byte) {
	sh := h.shardOf(channel)
	sh.mu.Lock()
	if set := sh.channels[string(channel)]; set != nil {
		set.remove(s)
		if set.len() == 0 {
			delete(sh.channels, string(channel))
			h.nchan.Add(-1)
			h.watched(channel, false, false)
		}
	}
	sh.mu.Unlock()
}

// PSubscribe adds s to pattern's subscribers. The caller guarantees s is not one already.
func (h *Hub) PSubscribe(s Subscriber, pattern []byte) {
	h.patMu.Lock()
	set := h.patterns[string(pattern)]
	if set == nil {
		set = &subSet{name: append([]byte(nil), pattern...)}
		h.patterns[string(pattern)] = set
		h.npat.Add(1)
		h.watched(pattern, true, true)
	}
	set.add(s)
	h.patMu.Unlock()
}

// PUnsubscribe removes s from pattern's subscribers, with Unsubscribe's guarantee.
func (h *Hub) PUnsubscribe(s Subscriber, pattern []byte) {
	h.patMu.Lock()
	if set := h.patterns[string(pattern)]; set != nil {
		set.remove(s)
		if set.len() == 0 {
			delete(h.patterns, string(pattern))
			h.npat.Add(-1)
			h.watched(pattern, true, false)
		}
	}
	h.patMu.Unlock()
}

// Publish delivers msg on channel to its subscribers, then to the subscribers of every
// pattern matching channel (Redis's order), and returns how many deliveries it made (a
// client subscribed to the channel and to two matching patterns counts three times, as in
// Redis). channel and msg are only read during the call.
func (h *Hub) Publish(channel, msg []byte) int {
	n := 0
	sh := h.shardOf(channel)
	sh.mu.Lock()
	if set := sh.channels[string(channel)]; set != nil {
		sh.scratch = deliver(sh.scratch, set, h.msgKind, nil, channel, msg)
		n += set.len()
	}
	// The pattern lock is taken inside the shard lock, so a subscriber to both the channel
	// and a pattern gets the two messages of one publish next to each other.
	if h.pmsgKind != "" && h.npat.Load() > 0 {
		h.patMu.Lock()
		for _, set := range h.patterns {
			if glob.Match(set.name, channel, false) {
				h.patScratch = deliver(h.patScratch, set, h.pmsgKind, set.name, channel, msg)
				n += set.len()
			}
		}
		h.patScratch = trimScratch(h.patScratch)
		h.patMu.Unlock()
	}
	sh.scratch = trimScratch(sh.scratch)
	sh.mu.Unlock()
	return n
}

// deliver encodes the message once per RESP version, lazily, into scratch and pushes it to
// every member of set; pattern is nil for a channel message. It returns scratch for reuse.
func deliver(scratch []byte, set *subSet, kind string, pattern, channel, msg []byte) []byte {
	scratch = scratch[:0]
	var enc [4][2]int // [version] -> start, end in scratch; end 0 = not encoded yet
	for _, s := range set.list {
		v := s.ProtoAtomic()
		if int(v) >= len(enc) {
			v = protocol.RESP2
		}
		e := &enc[v]
		if e[1] == 0 {
			e[0] = len(scratch)
			scratch = AppendMessage(scratch, v, kind, pattern, channel, msg)
			e[1] = len(scratch)
		}
		s.Push(scratch[e[0]:e[1]])
	}
	return scratch
}

// AppendMessage appends one message in v's encoding: a RESP3 push or a RESP2 array of
// kind, [pattern,] channel, payload.
func AppendMessage(dst []byte, v protocol.Version, kind string, pattern, channel, msg []byte) []byte {
	n := 3
	if pattern != nil {
		n = 4
	}
	dst = protocol.AppendPushLen(dst, v, n)
	dst = protocol.AppendBulkString(dst, kind)
	if pattern != nil {
		dst = protocol.AppendBulk(dst, pattern)
	}
	dst = protocol.AppendBulk(dst, channel)
	return protocol.AppendBulk(dst, msg)
}

func trimScratch(b []byte) []byte {
	if cap(b) > keepScratch {
		return nil
	}
	return b[:0]
}

// NumSub returns the number of subscribers of channel (patterns not counted).
func (h *Hub) NumSub(channel []byte) int {
	sh := h.shardOf(channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if set := sh.channels[string(channel)]; set != nil {
		return set.len()
	}
	return 0
}

// NumChannels returns the number of channels with at least one subscriber.
func (h *Hub) NumChannels() int { return int(h.nchan.Load()) }

// NumPatterns returns the number of distinct patterns with at least one subscriber.
func (h *Hub) NumPatterns() int { return int(h.npat.Load()) }

// Channels returns the channels with subscribers whose names match pattern (all of them
// when pattern is nil), in no particular order. The names are copies.
func (h *Hub) Channels(pattern []byte) [][]byte {
	var out [][]byte
	for i := range h.shards {
		sh := &h.shards[i]
		sh.mu.Lock()
		for name := range sh.channels {
			if pattern == nil || glob.MatchString(string(pattern), name, false) {
				out = append(out, []byte(name))
			}
		}
		sh.mu.Unlock()
	}
	return out
}
