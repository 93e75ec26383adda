// Package clientcache gives the load generator an application's view of a server read
// through rueidis, so that its core does not link a client library:
//
//	rueidis-cache+ADDR  GETs through rueidis's client-side cache (DoCache): the client tracks
//	                    the keys it read (CLIENT TRACKING ON OPTIN), keeps their values in
//	                    its own memory and drops them on the server's invalidation pushes;
//	                    a cache hit is answered without a round trip
//	rueidis+ADDR        the same client with its cache disabled: every GET is a round trip
//
// ADDR is unix:///PATH, tcp://HOST:PORT or HOST:PORT. One rueidis client serves all the
// target's connections, as one client serves all the goroutines of an application, so the
// cache is shared by them too. SETs (prefill, write share of a workload) go through Do.
//
// rueidis allocates per command (its command builder, the key as a string, results); these
// targets measure that client as an application uses it, not an allocation-free path.
package clientcache

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/sidecache/sidecache/loadgen"
)

// CacheTTL bounds how long rueidis keeps a value it cached; the server's own TTL of the key
// bounds it too, and an invalidation ends it at once.
const CacheTTL = time.Hour

// dialTimeout bounds connecting to the server.
const dialTimeout = 5 * time.Second

var once sync.Once

// Register makes loadgen.ParseTarget accept "rueidis+ADDR" and "rueidis-cache+ADDR". It may be
// called more than once.
func Register() {
	once.Do(func() {
		loadgen.RegisterScheme("rueidis", func(label, network, addr string) (loadgen.Target, error) {
			return New(label, network, addr, false)
		})
		loadgen.RegisterScheme("rueidis-cache", func(label, network, addr string) (loadgen.Target, error) {
			return New(label, network, addr, true)
		})
	})
}

// Target reads a server through one rueidis client.
type Target struct {
	label  string
	cache  bool
	client rueidis.Client
}

// New connects a rueidis client to addr on network ("tcp" or "unix"), with its client-side
// cache when cache is set.
func New(label, network, addr string, cache bool) (*Target, error) {
	opt := rueidis.ClientOption{
		InitAddress: []string{addr},
		// A single server: no CLUSTER SLOTS probe.
		ForceSingleClient: true,
		DisableCache:      !cache,
		Dialer:            net.Dialer{Timeout: dialTimeout},
		DialCtxFn: func(ctx context.Context, dst string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
			return d.DialContext(ctx, network, dst)
		},
	}
	if cache {
		// Tracked keys only when read through DoCache, which sends CLIENT CACHING YES.
		opt.ClientTrackingOptions = []string{"OPTIN"}
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, err)
	}
	return &Target{label: label, cache: cache, client: c}, nil
}

func (t *Target) Name() string { return t.label }

func (t *Target) Connect() (loadgen.Conn, error) {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{t: t, ctx: ctx, cancel: cancel}, nil
}

// Close closes the client; the target's Conns must be closed first.
func (t *Target) Close() error {
	t.client.Close()
	return nil
}

// conn is one goroutine of the application. Its batches are cut into runs of GETs and runs of
// SETs, in order, each sent as one rueidis call (DoMultiCache, DoMulti; DoCache, Do for a run
// of one), so that a pipelined batch stays pipelined and a SET still precedes a later GET of
// the same batch.
type conn struct {
	t      *Target
	ctx    context.Context
	cancel context.CancelFunc
	cmds   rueidis.Commands       // a run of SETs, or of GETs without the cache
	cts    []rueidis.CacheableTTL // a run of GETs through the cache
	res    []rueidis.RedisResult  // one-command runs
}

func (c *conn) Do(_ int64, ops []loadgen.Op, out []loadgen.Reply) error {
	for i := 0; i < len(ops); {
		j := i + 1
		for j < len(ops) && ops[j].Set == ops[i].Set {
			j++
		}
		if err := c.run(ops[i:j], out[i:j]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// run sends ops, all GETs or all SETs, as one call and fills out.
func (c *conn) run(ops []loadgen.Op, out []loadgen.Reply) error {
	b := c.t.client.B()
	var res []rueidis.RedisResult
	switch {
	case len(ops) == 1:
		var r rueidis.RedisResult
		switch op := &ops[0]; {
		case op.Set:
			r = c.t.client.Do(c.ctx, set(b, op))
		case c.t.cache:
			r = c.t.client.DoCache(c.ctx, b.Get().Key(string(op.Key)).Cache(), CacheTTL)
		default:
			r = c.t.client.Do(c.ctx, b.Get().Key(string(op.Key)).Build())
		}
		c.res = append(c.res[:0], r)
		res = c.res
	case !ops[0].Set && c.t.cache:
		c.cts = c.cts[:0]
		for i := range ops {
			c.cts = append(c.cts, rueidis.CT(b.Get().Key(string(ops[i].Key)).Cache(), CacheTTL))
		}
		res = c.t.client.DoMultiCache(c.ctx, c.cts...)
	default:
		c.cmds = c.cmds[:0]
		for i := range ops {
			if ops[i].Set {
				c.cmds = append(c.cmds, set(b, &ops[i]))
			} else {
				c.cmds = append(c.cmds, b.Get().Key(string(ops[i].Key)).Build())
			}
		}
		res = c.t.client.DoMulti(c.ctx, c.cmds...)
	}
	at := loadgen.Now()
	for i := range ops {
		rp, err := reply(&res[i])
		if err != nil {
			return err
		}
		rp.At = at
		out[i] = rp
	}
	return nil
}

// set builds SET key value [PX ms]. The value is copied into a string: rueidis may keep a
// command after the call that sent it (a retry), and the value is only borrowed.
func set(b rueidis.Builder, op *loadgen.Op) rueidis.Completed {
	v := b.Set().Key(string(op.Key)).Value(string(op.Value))
	if op.TTLms > 0 {
		return v.PxMilliseconds(op.TTLms).Build()
	}
	return v.Build()
}

// reply reads one result: a value is a hit, a null a miss, an error reply Err; any other
// failure (the connection, a cancelled context) ends the batch.
func reply(r *rueidis.RedisResult) (loadgen.Reply, error) {
	err := r.Error()
	switch {
	case err == nil:
		return loadgen.Reply{Hit: true, Cached: r.IsCacheHit()}, nil
	case rueidis.IsRedisNil(err):
		return loadgen.Reply{Cached: r.IsCacheHit()}, nil
	case r.NonRedisError() == nil:
		return loadgen.Reply{Err: true}, nil
	}
	return loadgen.Reply{}, err
}

// Close ends the connection's context; the shared client stays open until the target closes.
func (c *conn) Close() error {
	c.cancel()
	return nil
}

// Unblock cancels the connection's context: a call in progress, and every later one, fails.
func (c *conn) Unblock() { c.cancel() }
