package upstream

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sidecache/sidecache/engine"
)

// Misses. A key missing from L1 is fetched once however many clients miss it at the same
// time: the first creates a flight in the table (db, kind, key), the others join it as
// waiters, and all get its result. A flight is joined only while it is fresh (no
// invalidation or flush since its snapshot): a client that misses after an invalidation
// must not get a reply read before it. The table holds at most maxFlights flights; past it
// a miss fetches on its own (bounded anyway: each app connection waits for at most one
// command at a time).
//
// The flights a request creates are fetched in one round trip on one connection. A
// standalone upstream with tracking on reads each key with CLIENT CACHING YES, the read,
// PTTL, and no transaction (fetch_tracked.go). A cluster, or an upstream without tracking
// (l1-ttl-only), gets one transaction:
//
//	MULTI, [CLIENT CACHING YES (a cluster: cluster.go),] PTTL k1, GET k1, PTTL k2, GET k2 ..., EXEC
//
// CLIENT CACHING YES makes the upstream remember the keys read by the next command, here
// the whole transaction, for this connection (OPTIN tracking); MULTI makes each PTTL and
// its read one instant, so the TTL stored is the value's. rueidis writes the commands of a
// DoMulti back to back on one connection, in one slot's connection in a cluster (every
// command carries the slot of the keys, which share one: CROSSSLOT otherwise).

const maxFlights = 1 << 16

// afterReply, set by tests only, runs between a fetch's reply and its store, with the first
// key: a test holds the store there to put an invalidation, a flush, a write or an expiry
// deterministically before it (race_test.go).
var afterReply atomic.Pointer[func(key []byte)]

type flightKey struct {
	db   int
	kind kind
	key  string
}

type waiter struct {
	req *request
	i   int // index of the key in req.res
}

type flight struct {
	fk      flightKey
	key     []byte
	snap    snap
	waiters []waiter // under flightTable.mu
	res     result   // set before the waiters are told
	shared  bool     // in the table
}

type flightTable struct {
	mu sync.Mutex
	m  map[flightKey]*flight
}

func (t *flightTable) init() { t.m = make(map[flightKey]*flight) }

// join adds w to the fresh flight for (db, kind, key), or creates one: created is true when
// the caller must fetch f.
func (u *Upstream) join(db int, k kind, key []byte, w waiter) (f *flight, created bool) {
	t := &u.flights
	t.mu.Lock()
	defer t.mu.Unlock()
	fk := flightKey{db: db, kind: k, key: string(key)}
	if f := t.m[fk]; f != nil && u.l1.fresh(key, f.snap) {
		f.waiters = append(f.waiters, w)
		return f, false
	}
	f = &flight{fk: fk, key: []byte(fk.key), snap: u.l1.snapshot(key), waiters: []waiter{w}}
	if len(t.m) < maxFlights {
		t.m[fk] = f // replaces a stale flight, which finishes for its own waiters
		f.shared = true
	}
	return f, true
}

// land ends f: it leaves the table and its waiters get its result.
func (u *Upstream) land(f *flight) {
	t := &u.flights
	t.mu.Lock()
	if f.shared && t.m[f.fk] == f {
		delete(t.m, f.fk)
	}
	ws := f.waiters
	f.waiters = nil
	t.mu.Unlock()
	for _, w := range ws {
		w.req.res[w.i] = f.res
		w.req.done()
	}
}

// fetch reads the flights' keys in database db with one tracked transaction, stores what
// is still fresh in L1, and lands the flights.
func (u *Upstream) fetch(db int, fl []*flight) {
	brk := u.breakerFor(fl[0].key)         // a cluster fetch's keys share one slot
	c, ctx, err := u.admit(db, false, brk) // breaker.go
	if err != nil {
		u.failFlights(fl, errorText(err), true)
		return
	}
	tracking := u.Mode() == ModeTracking
	if tracking && !u.opt.Cluster {
		u.fetchTracked(ctx, c, db, fl) // no MULTI needed: fetch_tracked.go
		return
	}
	// From here, tracking means a cluster: CLIENT CACHING YES goes inside MULTI, and the
	// transaction carries no slot so that rueidis redirects it whole (cluster.go).
	slotKey := string(fl[0].key)
	cmds := make(rueidis.Commands, 0, 3+2*len(fl))
	b := c.B()
	add := func(cmd rueidis.Completed) {
		if u.opt.Cluster && !tracking {
			cmd = cmd.SetSlot(slotKey)
		}
		cmds = append(cmds, cmd)
	}
	add(b.Multi().Build())
	if tracking {
		add(b.ClientCaching().Yes().Build())
	}
	for _, f := range fl {
		k := string(f.key)
		add(b.Pttl().Key(k).Build()) // the key's slot, also in a cluster
		switch f.fk.kind {
		case kindString:
			add(b.Get().Key(k).Build())
		case kindHash:
			add(b.Hgetall().Key(k).Build())
		}
	}
	add(b.Exec().Build())
	sent := time.Now().UnixMilli()
	u.stats.Reads.Add(int64(len(fl)))
	resps := u.doMulti(ctx, c, brk, cmds...)
	if h := afterReply.Load(); h != nil {
		(*h)(fl[0].key)
	}

	// A failure anywhere (the first in order: MULTI's, a queued command's, EXEC's) answers
	// every key: Redis aborts the whole transaction.
	exec := resps[len(resps)-1]
	vals, execErr := exec.ToArray()
	first := 0 // EXEC's reply to the first PTTL
	if tracking {
		first = 1
	}
	if execErr != nil || len(vals) != first+countQueued(fl) {
		for _, r := range resps {
			if r.Error() != nil {
				u.failFlights(fl, resultErrorText(r), r.NonRedisError() != nil)
				return
			}
		}
		u.failFlights(fl, "ERR "+errMalformed.Error(), false)
		return
	}
	// CLIENT CACHING's failure inside the transaction only prevents the store.
	store := (!tracking || vals[0].Error() == nil) && u.caching()
	j := first
	for _, f := range fl {
		pttl, _ := vals[j].AsInt64()
		j++
		switch f.fk.kind {
		case kindString:
			f.res = stringResult(&vals[j])
			j++
		case kindHash:
			f.res = hashResult(&vals[j])
			j++
		case kindExists:
			f.res = result{tag: tagExists}
			if pttl == -2 {
				f.res.tag = tagAbsent
			}
		}
		if pttl == -2 && f.res.tag != 0 {
			// MULTI made PTTL and the read one instant: a missing key reads as missing.
			f.res = result{tag: tagAbsent}
		}
		if store {
			u.storeResult(db, f, pttl, sent)
		}
		u.land(f)
	}
}

// countQueued is the number of replies EXEC returns for fl: one per queued command.
func countQueued(fl []*flight) int {
	n := 0
	for _, f := range fl {
		n++ // PTTL
		if f.fk.kind != kindExists {
			n++
		}
	}
	return n
}

// failFlights answers every flight with the error reply txt; failure says it was not a
// Redis error but the upstream's absence.
func (u *Upstream) failFlights(fl []*flight, txt string, failure bool) {
	if failure {
		u.stats.Errors.Add(1)
	}
	for _, f := range fl {
		f.res = result{err: txt}
		if failure {
			u.serveStale(f) // stale.go: a held L1 answers while the upstream is unreachable
		}
		u.land(f)
	}
}

// stringResult reads GET's reply inside EXEC.
func stringResult(m *rueidis.RedisMessage) result {
	if m.IsNil() {
		return result{tag: tagAbsent}
	}
	if m.Error() != nil {
		if t := msgErrorText(m); t != errWrongType {
			return result{err: t}
		}
		return result{tag: tagNotString}
	}
	s, err := m.ToString()
	if err != nil {
		return result{err: "ERR " + errMalformed.Error()}
	}
	return result{tag: tagValue, val: []byte(s)}
}

// Hashes larger than this (fields, or bytes of fields and values) are not cached: a
// 'b' entry remembers the hash is big, and its reads pass through until it changes.
const (
	maxHashFields = 1024
	maxHashBytes  = 1 << 20
)

// hashResult reads HGETALL's reply inside EXEC (a map; an array from a RESP2 upstream).
func hashResult(m *rueidis.RedisMessage) result {
	if m.Error() != nil {
		return result{err: msgErrorText(m)}
	}
	b := m.CacheMarshal(nil)
	typ, n, rest, err := header(b[7:])
	if err != nil || (typ != '%' && typ != '*') || n%2 != 0 {
		return result{err: "ERR " + errMalformed.Error()}
	}
	if n == 0 {
		return result{tag: tagAbsent}
	}
	fv := make([][]byte, 0, n)
	size := 0
	for i := int64(0); i < n; i++ {
		t, l, r, err := header(rest)
		if err != nil || (t != '$' && t != '+') {
			return result{err: "ERR " + errMalformed.Error()}
		}
		var s []byte
		if s, rest, err = text(r, l); err != nil {
			return result{err: "ERR " + errMalformed.Error()}
		}
		fv = append(fv, s) // s is b's memory, owned by this result
		size += len(s)
	}
	r := result{tag: tagHash, fields: fv}
	if n/2 > maxHashFields || size > maxHashBytes {
		r.tag = tagBigHash
	}
	return r
}

// storeResult caches f's result in database db if it is still fresh: with the upstream's
// TTL bounded by l1-max-ttl (l1-nil-ttl for a missing key), counted from when the request
// left, so the entry never outlives the upstream's key.
func (u *Upstream) storeResult(db int, f *flight, pttl, sent int64) {
	r := &f.res
	var ttl int64
	switch {
	case r.tag == 0:
		return
	case r.tag == tagAbsent:
		ttl = u.nilTTL.Load()
	case pttl >= 0:
		ttl = min(u.maxTTL.Load(), pttl)
	default:
		ttl = u.maxTTL.Load()
	}
	if ttl <= 0 {
		return
	}
	at := sent + ttl
	now := time.Now().UnixMilli()
	if at <= now {
		return
	}
	d := u.eng.DB(db)
	var stored bool
	ok := u.l1.store(f.key, f.snap, func() {
		stored = putResult(d, f.key, r, at, now)
	})
	switch {
	case !ok:
		u.stats.Refused.Add(1)
	case stored:
		u.stats.Stored.Add(1)
	}
}

// putResult writes r for key into d, replacing whatever is there. Called under the L1's
// store locks.
func putResult(d *engine.DB, key []byte, r *result, at, now int64) bool {
	if r.tag == tagHash {
		d.Delete(key, now)
		if _, err := d.HSet(key, r.fields, false, now); err != nil {
			d.Delete(key, now)
			return false
		}
		d.Expire(key, at, engine.ExpireAlways, now)
		return true
	}
	val := []byte{r.tag}
	if r.tag == tagValue {
		val = make([]byte, 1+len(r.val))
		val[0] = tagValue
		copy(val[1:], r.val)
	}
	_, err := d.Set(key, val, now, engine.SetOptions{ExpireAt: at}, nil)
	return err == nil
}
