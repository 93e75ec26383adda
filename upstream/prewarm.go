package upstream

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Prewarm fills the L1 of the listed databases (DBs, in turn) at start-up, while the server
// already serves: in each, keys listed in a file, then keys a SCAN finds (MATCH pattern); at
// most Keys of them in total across the databases, within Timeout, at most Rate keys a
// second. Each database is read through its own client, the one its misses use. Each
// batch of keys is typed (TYPE, untracked: it caches nothing), then read by the same
// tracked transaction as a miss (fetch.go), so a warmed key is invalidated like any other,
// and a key written meanwhile is refused by its generation. Strings and hashes are warmed;
// other types are not L1's business. The sidecar only reads from the upstream on its own
// behalf, never writes.
//
// In a cluster, SCAN runs on every node rueidis knows (primaries and replicas: a key may
// be read twice, never missed) and each key is fetched on its own (a fetch is one slot).

// PrewarmOptions bound a prewarm.
type PrewarmOptions struct {
	Keys    int           // the most keys warmed; 0: no prewarm
	Timeout time.Duration // 0: no bound but Keys
	Match   string        // SCAN pattern; "" with File set: the file only
	File    string        // a file listing keys, one a line
	Rate    int           // keys a second; 0: unbounded
	DBs     []int         // databases filled in turn; nil: database 0 only
}

// Prewarm states, as INFO shows them.
const (
	prewarmOff int32 = iota
	prewarmRunning
	prewarmDone
	prewarmTimeout
	prewarmFailed
)

var prewarmStates = [...]string{"off", "running", "done", "timeout", "failed"}

// prewarmBatch is the number of keys typed and fetched in one round trip each.
const prewarmBatch = 64

// prewarm is the Upstream's part.
type prewarm struct {
	state atomic.Int32
	keys  atomic.Int64 // keys fetched, across databases
}

// PrewarmStarting marks a prewarm as coming, before the server serves, so readiness can
// wait for it from the first probe.
func (u *Upstream) PrewarmStarting() { u.pw.state.Store(prewarmRunning) }

// PrewarmFinished reports whether no prewarm is running (none, or it ended, however).
func (u *Upstream) PrewarmFinished() bool { return u.pw.state.Load() != prewarmRunning }

// PrewarmedKeys returns the number of keys the prewarm fetched.
func (u *Upstream) PrewarmedKeys() int64 { return u.pw.keys.Load() }

// Prewarm warms the L1 as opt says; it returns when done, out of keys or time, or on the
// first upstream failure.
func (u *Upstream) Prewarm(opt PrewarmOptions) error {
	u.pw.state.Store(prewarmRunning)
	ctx := u.ctx
	if opt.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opt.Timeout)
		defer cancel()
	}
	w := &warmer{u: u, ctx: ctx, opt: opt, start: time.Now()}
	err := w.run()
	state := prewarmDone
	switch {
	case errors.Is(err, errPrewarmFull):
		err = nil
	case ctx.Err() != nil && u.ctx.Err() == nil:
		state, err = prewarmTimeout, nil
	case err != nil:
		state = prewarmFailed
	}
	u.pw.state.Store(state)
	u.log.Info("prewarm", "state", prewarmStates[state], "keys", u.pw.keys.Load(),
		"elapsed", time.Since(w.start).Round(time.Millisecond).String(), "err", err)
	return err
}

var errPrewarmFull = errors.New("prewarm: enough keys")

type warmer struct {
	u     *Upstream
	ctx   context.Context
	opt   PrewarmOptions
	start time.Time
	n     int // keys handed to warm, across databases: Keys and Rate bound the whole
	db    int // the database being filled
	batch []string
}

func (w *warmer) run() error {
	if w.opt.Keys <= 0 {
		return nil
	}
	dbs := w.opt.DBs
	if len(dbs) == 0 {
		dbs = []int{0}
	}
	for _, db := range dbs {
		if err := w.runDB(db); err != nil {
			return err
		}
	}
	return nil
}

// runDB fills database db; errPrewarmFull ends the whole prewarm once db's last batch is in.
func (w *warmer) runDB(db int) error {
	if db < 0 || db >= len(w.u.clients) {
		return errors.New("prewarm: no database " + strconv.Itoa(db))
	}
	w.db = db
	c, err := w.u.client(db)
	if err != nil {
		return err
	}
	err = w.collect(c)
	if err == nil || errors.Is(err, errPrewarmFull) {
		if ferr := w.flush(c); ferr != nil {
			return ferr
		}
	}
	return err
}

// collect hands the keys of the file, then of the SCAN, to add.
func (w *warmer) collect(c rueidis.Client) error {
	if w.opt.File != "" {
		if err := w.fromFile(c); err != nil {
			return err
		}
	}
	if w.opt.Match != "" || w.opt.File == "" {
		match := w.opt.Match
		if match == "" {
			match = "*"
		}
		return w.scan(c, match)
	}
	return nil
}

// fromFile reads the file's keys: one a line, a trailing CR dropped, empty lines skipped.
func (w *warmer) fromFile(c rueidis.Client) error {
	f, err := os.Open(w.opt.File)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		k := strings.TrimSuffix(sc.Text(), "\r")
		if k == "" {
			continue
		}
		if err := w.add(c, k); err != nil {
			return err
		}
	}
	return sc.Err()
}

// scan walks SCAN MATCH on every node (one in a single server).
func (w *warmer) scan(c rueidis.Client, match string) error {
	nodes := map[string]rueidis.Client{"": c}
	if w.u.opt.Cluster {
		nodes = c.Nodes()
	}
	for _, n := range nodes {
		cursor := uint64(0)
		for {
			e, err := n.Do(w.ctx, n.B().Scan().Cursor(cursor).Match(match).Count(prewarmBatch*4).Build()).AsScanEntry()
			if err != nil {
				return err
			}
			for _, k := range e.Elements {
				if err := w.add(c, k); err != nil {
					return err
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// add queues key for warming and warms a full batch.
func (w *warmer) add(c rueidis.Client, key string) error {
	if w.n >= w.opt.Keys {
		return errPrewarmFull
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	w.n++
	w.batch = append(w.batch, key)
	if len(w.batch) < prewarmBatch {
		return nil
	}
	return w.flush(c)
}

// flush types the batch's keys and fetches the strings and hashes, then waits as long as
// the rate asks.
func (w *warmer) flush(c rueidis.Client) error {
	if len(w.batch) == 0 {
		return nil
	}
	keys := w.batch
	w.batch = w.batch[:0]
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.B().Type().Key(k).Build()
	}
	var strs, hashes []*flight
	for i, r := range c.DoMulti(w.ctx, cmds...) {
		typ, err := r.ToString()
		if err != nil {
			if r.NonRedisError() != nil {
				return r.NonRedisError()
			}
			continue
		}
		var k kind
		switch typ {
		case "string":
			k = kindString
		case "hash":
			k = kindHash
		default:
			continue
		}
		f := &flight{fk: flightKey{db: w.db, kind: k, key: keys[i]}, key: []byte(keys[i])}
		f.snap = w.u.l1.snapshot(f.key)
		if k == kindString {
			strs = append(strs, f)
		} else {
			hashes = append(hashes, f)
		}
	}
	for _, fl := range [][]*flight{strs, hashes} {
		if len(fl) == 0 {
			continue
		}
		if w.u.opt.Cluster { // a fetch is one slot
			for _, f := range fl {
				w.u.fetch(w.db, []*flight{f})
			}
		} else {
			w.u.fetch(w.db, fl)
		}
		w.u.pw.keys.Add(int64(len(fl)))
	}
	if w.opt.Rate > 0 {
		due := time.Duration(float64(w.n) / float64(w.opt.Rate) * float64(time.Second))
		if wait := due - time.Since(w.start); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-w.ctx.Done():
				return w.ctx.Err()
			}
		}
	}
	return w.ctx.Err()
}
