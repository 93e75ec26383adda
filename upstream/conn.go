package upstream

import (
	"sync/atomic"

	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// Conn is the upstream side of one app connection. Do and Start are called by that
// connection's event loop only, one command at a time; the reply of a deferred command is
// handed to deliver, once, from another goroutine.
type Conn struct {
	u       *Upstream
	deliver func(reply []byte)

	// The hit path's state while an engine callback appends the reply: bound callbacks read
	// it, so a hit allocates nothing. Owned by the event loop.
	out   []byte
	o     op
	proto protocol.Version
	args  [][]byte
	miss  bool
	tag   byte
	strFn func(val []byte) // GET STRLEN GETRANGE; MGET and EXISTS elements
	tagFn func(val []byte)
	bulk  func(val []byte)
	hmFn  func(val []byte, ok bool)
	head  func(n int)
	each  func(f, v []byte)

	next *request // prepared by Do, started by Start
	txc  *txConn  // the transaction's dedicated connection (tx.go); nil outside one
}

// Open returns the upstream side of a new app connection; deliver receives the replies of
// its deferred commands (complete RESP replies in the protocol the command was sent in).
func (u *Upstream) Open(deliver func(reply []byte)) *Conn {
	c := &Conn{u: u, deliver: deliver}
	c.strFn = c.onString
	c.tagFn = func(val []byte) {
		c.tag = 0
		if len(val) > 0 {
			c.tag = val[0]
		}
	}
	c.bulk = func(val []byte) { c.out = protocol.AppendBulk(c.out, val) }
	c.hmFn = func(val []byte, ok bool) {
		if ok {
			c.out = protocol.AppendBulk(c.out, val)
		} else {
			c.out = protocol.AppendNull(c.out, c.proto)
		}
	}
	c.head = func(n int) { c.out = protocol.AppendMapLen(c.out, c.proto, n) }
	c.each = func(f, v []byte) {
		c.out = protocol.AppendBulk(protocol.AppendBulk(c.out, f), v)
	}
	return c
}

// Do runs a data command for database db: a cached read answered from L1 is appended to
// out (deferred false); anything else is prepared for the upstream (deferred true) and
// must be started with Start, after which deliver gets the reply. name is the command's
// name in the command table (lower case, "container|sub" for a subcommand), "" for a
// command the table does not know; keys are its keys as the table finds them; write says
// the command may change the keyspace (true for unknown commands). args and keys are
// borrowed for the call; now is the batch's clock, ms since the epoch.
func (c *Conn) Do(db int, proto protocol.Version, name string, args, keys [][]byte, write bool, now int64, out []byte) ([]byte, bool) {
	u := c.u
	o := opForward
	// While the connection watches keys, a read must see the upstream as of after WATCH: L1
	// may still hold a value older than that (its invalidation in flight), and a
	// read-modify-write checked by WATCH would then write from it.
	if u.l1On() && c.txc == nil {
		if name == "" {
			var buf [16]byte
			if o = opOf(lowerName(buf[:0], args[0])); o != opForward && !arityOK(o, len(args)) {
				o = opForward // the upstream answers the arity error
			}
		} else {
			o = opOf(name)
		}
	}
	if name == "" {
		keys = args[1:] // any argument may be a key: dropping too many entries is safe
	}
	if o != opForward {
		if msg := argsOK(o, args); msg != "" {
			return protocol.AppendError(out, msg), false
		}
		ck := args[1:2]
		if o.multiKey() {
			ck = args[1:]
		}
		if u.opt.Cluster && crossSlot(ck) {
			return protocol.AppendError(out, errCrossSlot), false
		}
		d := u.eng.DB(db)
		res, st := out, hitMiss
		// A held L1 (stale.go) answers only while the upstream is known unreachable; a
		// slot being drained (slots.go) not at all.
		held := u.stale.until.Load()
		if (held == 0 || u.staleHit(now, held, ck[0])) && !u.l1.slots.drainingAny(ck) {
			res, st = c.hit(d, o, args, now, out, proto)
		}
		switch st {
		case hitDone:
			u.stats.Hits.Add(1)
			if held != 0 {
				u.stats.StaleServes.Add(1)
			}
			return res, false
		case hitMiss:
			u.stats.Misses.Add(1)
			r := c.newCached(d, db, proto, o, args, now)
			if r.left.Load() == 1 && len(r.own) == 0 {
				// Every key turned out to be cached by now: answer at once.
				return appendResults(out, o, r.res, r.args, proto), false
			}
			c.next = r
			return out, true
		}
		// hitPass: a big hash's read passes through.
		name, write, keys = "", false, args[1:2]
	}
	if u.opt.Cluster && name != "" && len(keys) > 1 && crossSlot(keys) {
		return protocol.AppendError(out, errCrossSlot), false
	}
	if write {
		// Before: readers on this sidecar no longer see the old value once the write is
		// sent. After (forward): nor once it is acknowledged, whatever was fetched meanwhile.
		for _, k := range keys {
			u.l1.invalidate(k, now)
		}
	}
	c.next = c.newForward(db, proto, name, args, keys, write)
	return out, true
}

// Start sends the command Do prepared. The loop must have registered the deferral first:
// deliver may run before Start returns.
func (c *Conn) Start() {
	r := c.next
	c.next = nil
	if r == nil {
		return
	}
	switch {
	case r.run != nil:
		go r.run()
	case r.o == opForward:
		go c.u.forward(r)
	case len(r.own) > 0:
		go c.u.fetch(r.db, r.own)
	}
	r.done() // the start token: see request.left
}

// arityOK checks the arity of a cached read the command table does not know (Redis's
// arity: n exactly, -n at least n).
func arityOK(o op, n int) bool {
	switch o {
	case opGet, opStrlen, opHGetAll, opHLen:
		return n == 2
	case opGetRange:
		return n == 4
	case opHGet, opHExists:
		return n == 3
	case opMGet, opExists:
		return n >= 2
	case opHMGet:
		return n >= 3
	}
	return false
}

type hitState uint8

const (
	hitDone hitState = iota // answered from L1
	hitMiss                 // a key is not in L1: fetch
	hitPass                 // a read L1 does not answer (big hash): pass it through
)

// hit answers a cached read from L1 when every key it needs is there. On a miss, out is
// returned as it came.
func (c *Conn) hit(d *engine.DB, o op, args [][]byte, now int64, out []byte, proto protocol.Version) ([]byte, hitState) {
	c.o, c.proto, c.args = o, proto, args
	defer func() { c.out, c.args = nil, nil }()
	switch o {
	case opGet, opStrlen, opGetRange:
		c.out, c.miss = out, false
		found, err := d.Get(args[1], now, c.strFn)
		switch {
		case err != nil: // an L1 hash
			return protocol.AppendError(out, errWrongType), hitDone
		case !found || c.miss:
			return out, hitMiss
		}
		return c.out, hitDone
	case opMGet, opExists:
		start := len(out)
		if o == opMGet {
			out = protocol.AppendArrayLen(out, len(args)-1)
		}
		n := int64(0)
		for _, key := range args[1:] {
			c.out, c.miss, c.tag = out, false, 0
			found, err := d.Get(key, now, c.strFn)
			switch {
			case err != nil: // an L1 hash: MGET's null, EXISTS counts it
				if o == opMGet {
					c.out = protocol.AppendNull(c.out, proto)
				}
				n++
			case !found || c.miss:
				return out[:start], hitMiss
			case c.tag != tagAbsent:
				n++
			}
			out = c.out
		}
		if o == opExists {
			out = protocol.AppendInt(out, n)
		}
		return out, hitDone
	}
	return c.hitHash(d, o, args, now, out, proto)
}

// onString is the engine callback of string reads: val is an L1 string entry.
func (c *Conn) onString(val []byte) {
	if len(val) == 0 || val[0] == tagExists && c.o != opExists {
		c.miss = true
		return
	}
	c.tag = val[0]
	switch c.o {
	case opMGet:
		c.out = appendMGetElem(c.out, val[0], val[1:], c.proto)
	case opExists:
	default:
		c.out = appendStringRead(c.out, c.o, val[0], val[1:], c.args, c.proto)
	}
}

// hitHash answers a hash read from an L1 hash, or from an L1 string entry saying the key is
// missing (nil, 0, empty) or a string (WRONGTYPE).
//
// Between the type check and the read, an invalidation may remove the hash: HGETALL and
// HLEN then miss; HGET, HMGET and HEXISTS answer as if each field were missing (the
// engine's hash reads do not tell a missing key from a missing field).
func (c *Conn) hitHash(d *engine.DB, o op, args [][]byte, now int64, out []byte, proto protocol.Version) ([]byte, hitState) {
	key := args[1]
	switch d.TypeOf(key, now) {
	case engine.TypeString:
		c.tag = 0
		if _, err := d.Get(key, now, c.tagFn); err != nil {
			return out, hitMiss
		}
		switch c.tag {
		case tagAbsent:
			return appendHashRead(out, o, &result{tag: tagAbsent}, args, proto), hitDone
		case tagValue:
			return protocol.AppendError(out, errWrongType), hitDone
		case tagBigHash:
			return out, hitPass
		}
		return out, hitMiss
	case engine.TypeHash:
	default:
		return out, hitMiss
	}
	c.out = out
	var err error
	switch o {
	case opHGet:
		var found bool
		if found, err = d.HGet(key, args[2], now, c.bulk); err == nil && !found {
			c.out = protocol.AppendNull(c.out, proto)
		}
	case opHMGet:
		c.out = protocol.AppendArrayLen(c.out, len(args)-2)
		err = d.HMGet(key, args[2:], now, c.hmFn)
	case opHGetAll:
		var found bool
		if found, err = d.HGetAll(key, now, c.head, c.each); err == nil && !found {
			return out, hitMiss
		}
	case opHExists:
		var found bool
		if found, err = d.HGet(key, args[2], now, nil); err == nil {
			c.out = protocol.AppendInt(c.out, b2i(found))
		}
	case opHLen:
		var n int64
		if n, err = d.HLen(key, now); err == nil {
			if n == 0 {
				return out, hitMiss
			}
			c.out = protocol.AppendInt(c.out, n)
		}
	}
	if err != nil { // replaced by a string entry meanwhile
		return out, hitMiss
	}
	return c.out, hitDone
}

// request is one deferred command.
//
// left counts what the request still waits for: one per key fetched (its own flights and
// those it joined), one for a forward, and one start token that Start releases. Whoever
// brings it to zero answers, so the reply is delivered once, after Start, however the
// flights race with it.
type request struct {
	c     *Conn
	db    int
	proto protocol.Version
	o     op
	name  string
	args  [][]byte // owned copies
	keys  [][]byte // owned (in args' memory)
	write bool

	res  []result  // cached reads: one per key
	own  []*flight // flights this request fetches
	left atomic.Int32

	reply []byte // forward: the encoded reply
	run   func() // a transaction's command (tx.go), in place of forward
}

// done releases one of the things r waits for, and answers when it was the last.
func (r *request) done() {
	if r.left.Add(-1) != 0 {
		return
	}
	reply := r.reply
	if r.o != opForward {
		reply = appendResults(nil, r.o, r.res, r.args, r.proto)
	}
	r.c.deliver(reply)
}

// copyArgs copies args into one allocation; keys are re-pointed into the copy when they are
// among args (always, as the command table finds them).
func copyArgs(args, keys [][]byte) ([][]byte, [][]byte) {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(args))
	for i, a := range args {
		buf = append(buf, a...)
		out[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	var ks [][]byte
	if len(keys) > 0 {
		ks = make([][]byte, 0, len(keys))
	next:
		for _, k := range keys {
			for i, a := range args {
				if len(a) == len(k) && len(k) > 0 && &a[0] == &k[0] {
					ks = append(ks, out[i])
					continue next
				}
			}
			ks = append(ks, append([]byte(nil), k...))
		}
	}
	return out, ks
}

// newCached prepares a cached read that missed: each key is either read from L1 now (it may
// be there: another key missed) or waited for in a flight.
func (c *Conn) newCached(d *engine.DB, db int, proto protocol.Version, o op, args [][]byte, now int64) *request {
	r := &request{c: c, db: db, proto: proto, o: o}
	r.args, _ = copyArgs(args, nil)
	keys := r.args[1:2]
	if o.multiKey() {
		keys = r.args[1:]
	}
	r.keys = keys
	r.res = make([]result, len(keys))
	r.left.Store(1)
	k := o.kind()
	for i, key := range keys {
		if len(keys) > 1 && c.u.stale.until.Load() == 0 && !c.u.l1.slots.drainingKey(key) &&
			c.capture(d, k, key, now, &r.res[i]) {
			continue
		}
		r.left.Add(1)
		if f, created := c.u.join(db, k, key, waiter{req: r, i: i}); created {
			r.own = append(r.own, f)
		}
	}
	return r
}

// capture reads key's state from L1 into res for a multi-key read (MGET, EXISTS), copying
// the value; false when L1 cannot answer for it.
func (c *Conn) capture(d *engine.DB, k kind, key []byte, now int64, res *result) bool {
	ok := false
	found, err := d.Get(key, now, func(val []byte) {
		if len(val) == 0 || val[0] == tagExists && k != kindExists {
			return
		}
		ok = true
		*res = result{tag: val[0]}
		if val[0] == tagValue {
			res.val = append([]byte(nil), val[1:]...)
		}
	})
	if err != nil { // an L1 hash
		*res = result{tag: tagHash}
		return true
	}
	return found && ok
}

// newForward prepares a pass-through command.
func (c *Conn) newForward(db int, proto protocol.Version, name string, args, keys [][]byte, write bool) *request {
	r := &request{c: c, db: db, proto: proto, o: opForward, name: name, write: write}
	r.args, r.keys = copyArgs(args, keys)
	r.left.Store(2) // the start token and the forward
	return r
}
