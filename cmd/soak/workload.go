package main

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	minValue = 16
	maxValue = 64 << 10
)

// padding is the filler of every value.
var padding = strings.Repeat("x", maxValue)

// tally counts what the workload did and what went wrong, by kind.
type tally struct {
	ops        atomic.Int64 // commands answered
	reconnects atomic.Int64
	killedByID atomic.Int64 // CLIENT KILL ID that found its client
	aborted    atomic.Int64 // sockets closed with a reset by their worker
	quit       atomic.Int64 // QUIT, then close

	mu   sync.Mutex
	errs map[string]int64
}

func (t *tally) fail(kind string) {
	t.mu.Lock()
	if t.errs == nil {
		t.errs = map[string]int64{}
	}
	t.errs[kind]++
	t.mu.Unlock()
}

// errors returns the counts by kind, sorted by kind.
func (t *tally) errors() []kindCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []kindCount
	for k, n := range t.errs {
		out = append(out, kindCount{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

type kindCount struct {
	Kind string
	N    int64
}

func formatErrors(e []kindCount) string {
	if len(e) == 0 {
		return "none"
	}
	parts := make([]string, len(e))
	for i, kc := range e {
		parts[i] = kc.Kind + "=" + strconv.FormatInt(kc.N, 10)
	}
	return strings.Join(parts, " ")
}

// worker is one client of the workload; it reconnects whenever its connection ends.
type worker struct {
	network, addr string
	keys          int
	rng           *rand.Rand
	t             *tally
	// id is the server's id of the current connection (CLIENT ID), 0 while there is none;
	// the killer reads it.
	id atomic.Int64
}

// run serves connections one after another until ctx is done, then closes the last one.
func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		c, err := dial(w.network, w.addr)
		if err != nil {
			w.t.fail("dial")
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		w.t.reconnects.Add(1)
		w.session(ctx, c)
	}
}

// session runs one connection for a random number of commands and ends it in one of three
// ways; a connection killed under it ends it early.
func (w *worker) session(ctx context.Context, c *client) {
	defer w.id.Store(0)
	id, err := c.do("CLIENT", "ID")
	if err != nil {
		w.t.fail(errKind(err))
		c.close()
		return
	}
	n, _ := strconv.ParseInt(id, 10, 64)
	w.id.Store(n)
	life := 100 + w.rng.IntN(5000)
	for done := 0; done < life && ctx.Err() == nil; {
		batch := 1
		if w.rng.IntN(4) == 0 {
			batch = 2 + w.rng.IntN(63)
		}
		if err := w.batch(c, batch); err != nil {
			w.t.fail(errKind(err))
			c.close()
			return
		}
		done += batch
	}
	switch w.rng.IntN(3) {
	case 0:
		w.t.aborted.Add(1)
		c.abort()
	case 1:
		w.t.quit.Add(1)
		if _, err := c.do("QUIT"); err != nil {
			w.t.fail(errKind(err))
		}
		c.close()
	default:
		c.close()
	}
}

// op is one command and what its reply must look like.
type op struct {
	kind byte   // 'g' GET, 's' SET, 'i' INCR, 'd' DEL, 'e' EXPIRE
	key  string // for GET: the key whose value it must hold
}

// batch sends n commands at once and checks every reply. A connection error ends the batch;
// error replies and wrong replies are counted and the batch goes on.
func (w *worker) batch(c *client, n int) error {
	ops := make([]op, n)
	for i := range ops {
		ops[i] = w.next(c)
	}
	if err := c.send(); err != nil {
		return err
	}
	for _, o := range ops {
		v, err := c.read()
		if err != nil {
			return err
		}
		w.t.ops.Add(1)
		if v.Kind == '-' {
			w.t.fail(errKind(replyError(v.Str)))
			continue
		}
		ok := false
		switch o.kind {
		case 'g':
			ok = v.Null || (v.Kind == '$' && validValue(o.key, v.Str))
		case 's':
			ok = v.Kind == '+' && string(v.Str) == "OK"
		case 'i', 'd', 'e':
			ok = v.Kind == ':'
		}
		if !ok {
			w.t.fail(errKind(errCorrupt))
		}
	}
	return nil
}

// next queues one random command on c.
func (w *worker) next(c *client) op {
	// Skewed towards low numbers so that LFU has hot keys to keep.
	k := int(float64(w.keys) * math.Pow(w.rng.Float64(), 3))
	str, cnt := "str:"+strconv.Itoa(k), "cnt:"+strconv.Itoa(k)
	switch r := w.rng.IntN(100); {
	case r < 45:
		c.add("GET", str)
		return op{'g', str}
	case r < 75:
		v := value(str, w.valueSize())
		if w.rng.IntN(8) == 0 {
			c.add("SET", str, v, "EX", strconv.Itoa(1+w.rng.IntN(60)))
		} else {
			c.add("SET", str, v)
		}
		return op{kind: 's'}
	case r < 87:
		c.add("INCR", cnt)
		return op{kind: 'i'}
	case r < 94:
		if w.rng.IntN(2) == 0 {
			c.add("DEL", str)
		} else {
			c.add("DEL", cnt)
		}
		return op{kind: 'd'}
	default:
		key := str
		if w.rng.IntN(2) == 0 {
			key = cnt
		}
		c.add("EXPIRE", key, strconv.Itoa(1+w.rng.IntN(30)))
		return op{kind: 'e'}
	}
}

// valueSize is log-uniform over [minValue, maxValue].
func (w *worker) valueSize() int {
	lo, hi := math.Log(minValue), math.Log(maxValue)
	return int(math.Exp(lo + w.rng.Float64()*(hi-lo)))
}

// value is key's value of size bytes: "key;size;" and filler, so a GET can check that it got
// this key's value, whole.
func value(key string, size int) string {
	head := key + ";" + strconv.Itoa(size) + ";"
	return head + padding[:max(size-len(head), 0)]
}

func validValue(key string, v []byte) bool {
	rest, ok := bytes.CutPrefix(v, []byte(key+";"))
	if !ok {
		return false
	}
	i := bytes.IndexByte(rest, ';')
	if i < 0 {
		return false
	}
	size, err := strconv.Atoi(string(rest[:i]))
	if err != nil {
		return false
	}
	want := max(size, len(key)+1+i+1)
	return len(v) == want && bytes.Count(rest[i+1:], []byte("x")) == len(rest)-i-1
}

// killer closes a random worker's connection with CLIENT KILL ID every 0.2 to 2 s.
func killer(ctx context.Context, c *client, ws []*worker, rng *rand.Rand, t *tally) {
	for {
		if !sleep(ctx, time.Duration(200+rng.IntN(1800))*time.Millisecond) {
			return
		}
		id := ws[rng.IntN(len(ws))].id.Load()
		if id == 0 {
			continue
		}
		n, err := c.do("CLIENT", "KILL", "ID", strconv.FormatInt(id, 10))
		if err != nil {
			t.fail("killer:" + errKind(err))
			continue
		}
		if n == "1" {
			t.killedByID.Add(1)
		}
	}
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
