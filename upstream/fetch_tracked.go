package upstream

import (
	"context"
	"time"

	"github.com/redis/rueidis"
)

// A standalone upstream with tracking on fetches each key with three commands and no
// transaction, in one DoMulti:
//
//	CLIENT CACHING YES, GET k1, PTTL k1, CLIENT CACHING YES, HGETALL k2, PTTL k2 ...
//
// (a key read only for its existence: CLIENT CACHING YES, PTTL k). Two fewer commands per
// fetch than MULTI, PTTL, GET, EXEC, and replies that need no unwrapping. Why the read and
// its PTTL need no MULTI: doc.go. OPTIN's CLIENT CACHING YES covers the next command only,
// so every read gets its own; the PTTL after it needs none, the read having made the
// connection track the key. A read and its PTTL that disagree on the key's existence (it
// was created or removed between them) answer the read and store nothing.

// fetchTracked reads the flights' keys in database db on c, stores in L1 what is still
// fresh and consistent, and lands the flights.
func (u *Upstream) fetchTracked(ctx context.Context, c rueidis.Client, db int, fl []*flight) {
	b := c.B()
	cmds := make(rueidis.Commands, 0, 3*len(fl))
	for _, f := range fl {
		k := string(f.key)
		cmds = append(cmds, b.ClientCaching().Yes().Build())
		switch f.fk.kind {
		case kindString:
			cmds = append(cmds, b.Get().Key(k).Build())
		case kindHash:
			cmds = append(cmds, b.Hgetall().Key(k).Build())
		}
		cmds = append(cmds, b.Pttl().Key(k).Build())
	}
	sent := time.Now().UnixMilli()
	u.stats.Reads.Add(int64(len(fl)))
	resps := u.doMulti(ctx, c, &u.brk, cmds...) // standalone only: one node
	if h := afterReply.Load(); h != nil {
		(*h)(fl[0].key)
	}
	for _, r := range resps {
		if r.NonRedisError() != nil {
			u.failFlights(fl, resultErrorText(r), true)
			return
		}
	}
	store := u.caching()
	for _, f := range fl {
		cachingOK := resps[0].Error() == nil // else the key is not tracked: no store
		resps = resps[1:]
		var read *rueidis.RedisResult
		if f.fk.kind != kindExists {
			read = &resps[0]
			resps = resps[1:]
		}
		pttl, pttlErr := resps[0].AsInt64()
		pttlText := ""
		if pttlErr != nil {
			pttlText = resultErrorText(resps[0])
		}
		resps = resps[1:]
		var consistent bool
		f.res, consistent = trackedResult(f.fk.kind, read, pttl, pttlText)
		if store && cachingOK && consistent {
			u.storeResult(db, f, pttl, sent)
		}
		u.land(f)
	}
}

// trackedResult is the result of a key's read (nil for existence) and PTTL (pttlErr, an
// error reply's text, or ""); consistent says both saw the key present, or both absent,
// so that the read may be stored with that TTL.
func trackedResult(k kind, read *rueidis.RedisResult, pttl int64, pttlErr string) (r result, consistent bool) {
	if k == kindExists {
		if pttlErr != "" {
			return result{err: pttlErr}, false
		}
		if pttl == -2 {
			return result{tag: tagAbsent}, true
		}
		return result{tag: tagExists}, true
	}
	m, _ := read.ToMessage() // a Redis error reply is in m
	if k == kindHash {
		r = hashResult(&m)
	} else {
		r = stringResult(&m)
	}
	if r.err != "" || pttlErr != "" {
		return r, false
	}
	return r, (r.tag == tagAbsent) == (pttl == -2)
}
