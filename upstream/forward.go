package upstream

import (
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sidecache/sidecache/protocol"
)

// Pass-through. Every command of the keyspace that L1 does not answer is sent to the
// upstream as the app sent it, on the database the app selected, and its reply re-encoded
// for the app's protocol (resp.go). A read with keys goes with CLIENT CACHING YES, so the
// upstream tells this sidecar when its keys change and the app clients tracking them
// through the sidecar hear of it (the command layer remembers every read-only command's
// keys for them). A write drops its keys from L1 before it is sent (Do) and again once it
// is acknowledged, and tells the tracking app clients; a write without keys (FLUSHDB,
// FLUSHALL, SWAPDB) flushes L1 once acknowledged — SWAPDB sends no invalidation upstream.
//
// Blocking commands (BLPOP ...) go to rueidis's pool of dedicated connections, so they do
// not hold up the pipelined ones; the app connection waits off the event loop as for any
// deferred reply.

// forward sends r and answers it. Runs on its own goroutine.
func (u *Upstream) forward(r *request) {
	defer r.done()
	u.stats.Forwarded.Add(1)
	r.reply = u.roundTrip(r)
	if r.write {
		now := time.Now().UnixMilli()
		for _, k := range r.keys {
			u.l1.invalidate(k, now)
			if f := u.opt.OnInvalidate; f != nil {
				f(k)
			}
		}
		if len(r.keys) == 0 && r.name != "" {
			u.flush(FlushWrite)
		}
	}
}

// roundTrip sends r's command and returns its encoded reply.
func (u *Upstream) roundTrip(r *request) []byte {
	brk := &u.brk // keyless: rueidis picks the node (breaker_nodes.go)
	if len(r.keys) > 0 {
		brk = u.breakerFor(r.keys[0])
	}
	c, ctx, err := u.admit(r.db, isBlocking(r.name, r.args), brk) // breaker.go
	if err != nil {
		u.stats.Errors.Add(1)
		return protocol.AppendError(nil, errorText(err))
	}
	first := r.args[0]
	if len(first) == 0 || strings.HasSuffix(strings.ToLower(string(first)), "subscribe") {
		// rueidis refuses both (it panics); pub/sub is served by the sidecar itself.
		return protocol.AppendError(nil, "ERR '"+oneLine(string(first))+"' cannot be passed to the upstream")
	}
	tokens := make([]string, len(r.args))
	for i, a := range r.args {
		tokens[i] = string(a)
	}
	ab := c.B().Arbitrary(tokens...)
	var cmd rueidis.Completed
	if isBlocking(r.name, r.args) {
		cmd = ab.Blocking()
	} else {
		cmd = ab.Build()
	}
	slotKey := ""
	switch {
	case len(r.keys) > 0:
		slotKey = string(r.keys[0])
	case len(r.args) > 1:
		slotKey = tokens[1] // a guess for a command the table does not know; MOVED corrects it
	}
	if u.opt.Cluster && slotKey != "" {
		cmd = cmd.SetSlot(slotKey)
	}
	var res rueidis.RedisResult
	if !r.write && len(r.keys) > 0 && u.Mode() == ModeTracking {
		caching := c.B().ClientCaching().Yes().Build()
		if u.opt.Cluster {
			caching = caching.SetSlot(slotKey)
		}
		res = u.doMulti(ctx, c, brk, caching, cmd)[1]
	} else {
		res = u.do(ctx, c, brk, cmd)
	}
	if err := res.NonRedisError(); err != nil {
		u.stats.Errors.Add(1)
		return protocol.AppendError(nil, errorText(err))
	}
	// A Redis error goes through appendMessage too: it keeps the text as sent.
	msg, _ := res.ToMessage()
	out, _ := appendMessage(nil, &msg, r.proto, shapeOf(r.name, r.args), nil)
	return out
}

// isBlocking reports whether the command may block on the server: it must not hold up a
// pipelined connection.
func isBlocking(name string, args [][]byte) bool {
	if name == "" && len(args) > 0 {
		var buf [16]byte
		name = lowerName(buf[:0], args[0])
	}
	switch name {
	case "blpop", "brpop", "brpoplpush", "blmove", "blmpop", "bzpopmin", "bzpopmax", "bzmpop",
		"wait", "waitaof":
		return true
	case "xread", "xreadgroup":
		for _, a := range args[1:] {
			if len(a) == 5 && strings.EqualFold(string(a), "block") {
				return true
			}
		}
	}
	return false
}

const errCrossSlot = "CROSSSLOT Keys in request don't hash to the same slot"

// crossSlot reports whether keys hash to more than one cluster slot.
func crossSlot(keys [][]byte) bool {
	if len(keys) < 2 {
		return false
	}
	s := keySlot(keys[0])
	for _, k := range keys[1:] {
		if keySlot(k) != s {
			return true
		}
	}
	return false
}

// keySlot is Redis Cluster's keyHashSlot: CRC16 (XMODEM) of the key, or of its hash tag
// (the bytes between the first '{' and the next '}', when not empty), modulo 16384.
func keySlot(key []byte) uint16 {
	for i, ch := range key {
		if ch == '{' {
			for j := i + 1; j < len(key); j++ {
				if key[j] == '}' {
					if j > i+1 {
						key = key[i+1 : j]
					}
					break
				}
			}
			break
		}
	}
	return crc16(key) & 16383
}

// crc16 is CRC16-XMODEM a byte at a time: a slot drain (slots.go) computes it for every
// key of the L1.
func crc16(b []byte) uint16 {
	var crc uint16
	for _, ch := range b {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^ch]
	}
	return crc
}

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()
