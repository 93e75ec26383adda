package main

// The client scenarios (clients_scenarios_test.go) through rueidis, with its command
// builder, over TCP and the Unix socket, in RESP3 and in RESP2 (AlwaysRESP2).
//
// rueidis's default start sends CLUSTER SLOTS (an error from a standalone server makes it
// fall back to a single client) and then HELLO 3 with CLIENT TRACKING ON OPTIN, and it
// gives up when CLIENT TRACKING fails. TestRueidisScenarios sets DisableCache, which
// leaves CLIENT TRACKING out; TestRueidisDefaultOptions uses the defaults and checks
// client-side caching, and is skipped while the server answers CLIENT TRACKING with an
// error.

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// newRueidis connects a rueidis client to tr; it is closed in t.Cleanup.
func newRueidis(t *testing.T, tr transport, opt rueidis.ClientOption) rueidis.Client {
	t.Helper()
	opt.InitAddress = []string{tr.addr}
	opt.Dialer.Timeout = 5 * time.Second
	opt.ConnWriteTimeout = 5 * time.Second
	opt.DisableRetry = true
	if tr.network == "unix" {
		// rueidis dials TCP only; a socket path is given to it as the address
		opt.DialCtxFn = func(ctx context.Context, addr string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
			return d.DialContext(ctx, "unix", addr)
		}
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatalf("rueidis.NewClient(%s): %v", tr.addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestRueidisScenarios(t *testing.T) {
	p := startClientTarget(t)
	for _, tr := range transports(p) {
		for _, proto := range []int{3, 2} {
			name := fmt.Sprintf("%s-resp%d", tr.name, proto)
			t.Run(name, func(t *testing.T) {
				clientName := "rueidis-" + name
				c := newRueidis(t, tr, rueidis.ClientOption{
					ClientName:   clientName,
					DisableCache: true,
					AlwaysRESP2:  proto == 2,
				})
				rueidisScenarios(t, p, c, tr, clientName, proto, "rd:"+name+":")
			})
		}
	}
}

// TestRueidisDefaultOptions connects with rueidis's defaults: CLUSTER SLOTS, HELLO 3,
// CLIENT TRACKING ON OPTIN. Besides the scenarios, a cached read (DoCache) is served from
// the client's cache until a write from another connection invalidates it.
func TestRueidisDefaultOptions(t *testing.T) {
	p := startClientTarget(t)
	probe := dialResp(t, p.Addr)
	probe.Do("HELLO", "3")
	if rep := probe.Do("CLIENT", "TRACKING", "ON", "OPTIN"); len(rep) > 0 && rep[0] == '-' {
		t.Skipf("CLIENT TRACKING ON OPTIN answers %q: rueidis's default options need client-side caching (enable this test when CLIENT TRACKING lands)", strings.TrimSpace(string(rep)))
	}
	probe.Close()
	for _, tr := range transports(p) {
		t.Run(tr.name, func(t *testing.T) {
			clientName := "rueidis-default-" + tr.name
			c := newRueidis(t, tr, rueidis.ClientOption{ClientName: clientName})
			k := "rdc:" + tr.name + ":"
			rueidisScenarios(t, p, c, tr, clientName, 3, k)
			t.Run("tracking-flag", func(t *testing.T) {
				conns, list := clientListFields(t, p, clientName)
				for _, f := range conns {
					if strings.Contains(f["flags"], "t") {
						return
					}
				}
				t.Fatalf("no connection named %q has the tracking flag t:\n%s", clientName, list)
			})
			t.Run("client-cache", func(t *testing.T) { rueidisClientCache(t, c, tr, k) })
		})
	}
}

func rueidisClientCache(t *testing.T, c rueidis.Client, tr transport, k string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := k + "cached"
	if err := c.Do(ctx, c.B().Set().Key(key).Value("v1").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	get := func() rueidis.RedisResult { return c.DoCache(ctx, c.B().Get().Key(key).Cache(), time.Minute) }
	if r := get(); r.IsCacheHit() {
		t.Fatal("the first DoCache GET is a cache hit")
	} else if v, err := r.ToString(); err != nil || v != "v1" {
		t.Fatalf("DoCache GET = %q, %v", v, err)
	}
	if r := get(); !r.IsCacheHit() {
		t.Fatal("the second DoCache GET is not served from the client's cache")
	} else if v, err := r.ToString(); err != nil || v != "v1" {
		t.Fatalf("cached GET = %q, %v", v, err)
	}
	other := dialResp(t, tr.addr)
	defer other.Close()
	if rep := other.Do("SET", key, "v2"); string(rep) != "+OK\r\n" {
		t.Fatalf("SET from the other connection = %q", rep)
	}
	// the invalidation push travels asynchronously: poll, bounded
	deadline := time.Now().Add(ioTimeout)
	for {
		v, err := get().ToString()
		if err != nil {
			t.Fatal(err)
		}
		if v == "v2" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("DoCache GET still %q %v after a write from another connection: no invalidation", v, ioTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rueidisScenarios runs every scenario on c, with keys under prefix k.
func rueidisScenarios(t *testing.T, p *proc, c rueidis.Client, tr transport, clientName string, proto int, k string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if v, err := c.Do(ctx, c.B().Ping().Build()).ToString(); err != nil || v != "PONG" {
		t.Fatalf("PING = %q, %v", v, err)
	}
	t.Run("handshake", func(t *testing.T) { checkHandshake(t, p, clientName, "rueidis", proto) })
	t.Run("session", func(t *testing.T) { rueidisSession(t, ctx, c, k) })
	t.Run("ratelimit", func(t *testing.T) { rueidisRateLimit(t, ctx, c, k) })
	t.Run("dedup", func(t *testing.T) { rueidisDedup(t, ctx, c, k) })
	t.Run("pipeline", func(t *testing.T) { rueidisPipeline(t, ctx, c, k) })
	t.Run("tx", func(t *testing.T) { rueidisTx(t, ctx, c, k) })
	t.Run("watch", func(t *testing.T) { rueidisWatch(t, ctx, c, tr, k) })
}

func rueidisSession(t *testing.T, ctx context.Context, c rueidis.Client, k string) {
	sess := k + "session:abc"
	if n, err := c.Do(ctx, c.B().Hset().Key(sess).FieldValue().FieldValue("user", "42").FieldValue("name", "ada").
		FieldValue("role", "admin").FieldValue("hits", "0").Build()).AsInt64(); err != nil || n != 4 {
		t.Fatalf("HSET = %d, %v; want 4", n, err)
	}
	if ok, err := c.Do(ctx, c.B().Expire().Key(sess).Seconds(int64(sessionTTL/time.Second)).Build()).AsBool(); err != nil || !ok {
		t.Fatalf("EXPIRE = %v, %v", ok, err)
	}
	want := map[string]string{"user": "42", "name": "ada", "role": "admin", "hits": "0"}
	if all, err := c.Do(ctx, c.B().Hgetall().Key(sess).Build()).AsStrMap(); err != nil || !maps.Equal(all, want) {
		t.Fatalf("HGETALL = %v, %v; want %v", all, err, want)
	}
	if v, err := c.Do(ctx, c.B().Hget().Key(sess).Field("name").Build()).ToString(); err != nil || v != "ada" {
		t.Fatalf("HGET name = %q, %v", v, err)
	}
	if err := c.Do(ctx, c.B().Hget().Key(sess).Field("nosuch").Build()).Error(); !rueidis.IsRedisNil(err) {
		t.Fatalf("HGET of a missing field: err = %v, want a nil reply", err)
	}
	if n, err := c.Do(ctx, c.B().Hincrby().Key(sess).Field("hits").Increment(3).Build()).AsInt64(); err != nil || n != 3 {
		t.Fatalf("HINCRBY hits 3 = %d, %v", n, err)
	}
	// rueidis drops the "ERR " of an error reply
	if err := c.Do(ctx, c.B().Hincrby().Key(sess).Field("name").Increment(1).Build()).Error(); err == nil || err.Error() != "hash value is not an integer" {
		t.Fatalf("HINCRBY on a non-integer field: err = %v", err)
	}
	if n, err := c.Do(ctx, c.B().Hdel().Key(sess).Field("role", "nosuch").Build()).AsInt64(); err != nil || n != 1 {
		t.Fatalf("HDEL = %d, %v; want 1", n, err)
	}
	want = map[string]string{"user": "42", "name": "ada", "hits": "3"}
	if all, err := c.Do(ctx, c.B().Hgetall().Key(sess).Build()).AsStrMap(); err != nil || !maps.Equal(all, want) {
		t.Fatalf("HGETALL after HDEL = %v, %v; want %v", all, err, want)
	}
	if ttl, err := c.Do(ctx, c.B().Ttl().Key(sess).Build()).AsInt64(); err != nil || ttl <= 0 || ttl > int64(sessionTTL/time.Second) {
		t.Fatalf("TTL = %d, %v", ttl, err)
	}
}

func rueidisRateLimit(t *testing.T, ctx context.Context, c rueidis.Client, k string) {
	key := k + "rl:user42"
	for i := int64(1); i <= rateLimit+1; i++ {
		res := c.DoMulti(ctx, c.B().Incr().Key(key).Build(), c.B().Expire().Key(key).Seconds(60).Nx().Build())
		n, err := res[0].AsInt64()
		if err != nil {
			t.Fatalf("request %d: INCR: %v", i, err)
		}
		set, err := res[1].AsBool()
		if err != nil {
			t.Fatalf("request %d: EXPIRE NX: %v", i, err)
		}
		if n != i || set != (i == 1) {
			t.Fatalf("request %d: INCR = %d, EXPIRE NX = %v", i, n, set)
		}
		if allowed := n <= rateLimit; allowed != (i <= rateLimit) {
			t.Fatalf("request %d: allowed = %v", i, allowed)
		}
	}
	if ttl, err := c.Do(ctx, c.B().Ttl().Key(key).Build()).AsInt64(); err != nil || ttl <= 0 || ttl > 60 {
		t.Fatalf("TTL of the window = %d, %v", ttl, err)
	}
	key = k + "rl-px:user42"
	for i := int64(1); i <= rateLimit+1; i++ {
		n, err := c.Do(ctx, c.B().Incr().Key(key).Build()).AsInt64()
		if err != nil || n != i {
			t.Fatalf("request %d: INCR = %d, %v", i, n, err)
		}
		if n == 1 {
			if ok, err := c.Do(ctx, c.B().Pexpire().Key(key).Milliseconds(60000).Build()).AsBool(); err != nil || !ok {
				t.Fatalf("PEXPIRE = %v, %v", ok, err)
			}
		}
	}
	if pttl, err := c.Do(ctx, c.B().Pttl().Key(key).Build()).AsInt64(); err != nil || pttl <= 0 || pttl > 60000 {
		t.Fatalf("PTTL of the window = %d, %v", pttl, err)
	}
}

// setNX maps a SET ... NX reply to whether the key was set.
func setNX(t *testing.T, r rueidis.RedisResult) bool {
	t.Helper()
	err := r.Error()
	if rueidis.IsRedisNil(err) {
		return false
	}
	if v, err := r.ToString(); err != nil || v != "OK" {
		t.Fatalf("SET NX = %q, %v", v, err)
	}
	return true
}

func rueidisDedup(t *testing.T, ctx context.Context, c rueidis.Client, k string) {
	key := k + "dedup:msg-1"
	for i, want := range []bool{true, false} {
		if got := setNX(t, c.Do(ctx, c.B().Set().Key(key).Value("seen").Nx().ExSeconds(60).Build())); got != want {
			t.Fatalf("SET NX EX attempt %d = %v, want %v", i+1, got, want)
		}
	}
	key = k + "dedup:msg-2"
	// a built command is recycled once it is done: build one per call
	px := func() rueidis.Completed {
		return c.B().Set().Key(key).Value("seen").Nx().PxMilliseconds(int64(dedupShortTTL / time.Millisecond)).Build()
	}
	for i, want := range []bool{true, false} {
		if got := setNX(t, c.Do(ctx, px())); got != want {
			t.Fatalf("SET NX PX attempt %d = %v, want %v", i+1, got, want)
		}
	}
	waitExpired(t, func() (bool, error) {
		n, err := c.Do(ctx, c.B().Exists().Key(key).Build()).AsInt64()
		return n == 1, err
	})
	if !setNX(t, c.Do(ctx, px())) {
		t.Fatal("SET NX PX after expiry = false, want true")
	}
}

func rueidisPipeline(t *testing.T, ctx context.Context, c rueidis.Client, k string) {
	cmds, want := pipelineScript(k + "pl:")
	built := make(rueidis.Commands, len(cmds))
	for i, a := range cmds {
		built[i] = c.B().Arbitrary(a[0]).Keys(a[1]).Args(a[2:]...).Build()
	}
	for i, r := range c.DoMulti(ctx, built...) {
		var s string
		v, err := r.ToAny()
		switch {
		case rueidis.IsRedisNil(err):
			s = "(nil)"
		case err != nil:
			s = "error: " + err.Error()
		default:
			s = fmt.Sprint(v)
		}
		if s != want[i] {
			t.Fatalf("reply %d to %q = %q, want %q", i, cmds[i], s, want[i])
		}
	}
}

func rueidisTx(t *testing.T, ctx context.Context, c rueidis.Client, k string) {
	a, h := k+"tx:a", k+"tx:h"
	res := c.DoMulti(ctx,
		c.B().Multi().Build(),
		c.B().Set().Key(a).Value("1").Build(),
		c.B().Incr().Key(a).Build(),
		c.B().Hset().Key(h).FieldValue().FieldValue("f", "v").Build(),
		c.B().Expire().Key(a).Seconds(60).Build(),
		c.B().Get().Key(a).Build(),
		c.B().Exec().Build())
	for i, r := range res[:len(res)-1] {
		if v, err := r.ToString(); err != nil || v != [...]string{"OK", "QUEUED"}[min(i, 1)] {
			t.Fatalf("reply %d before EXEC = %q, %v", i, v, err)
		}
	}
	exec, err := res[len(res)-1].ToArray()
	if err != nil || len(exec) != 5 {
		t.Fatalf("EXEC = %v, %v", exec, err)
	}
	var got []string
	for _, m := range exec {
		v, err := m.ToAny()
		if err != nil {
			t.Fatalf("EXEC element: %v", err)
		}
		got = append(got, fmt.Sprint(v))
	}
	if strings.Join(got, " ") != "OK 2 1 1 2" {
		t.Fatalf("EXEC replies = %q, want OK 2 1 1 2", got)
	}
}

// rueidisWatch is optimistic locking on a dedicated connection: a write from another
// connection between WATCH and EXEC aborts the transaction (EXEC answers a null).
func rueidisWatch(t *testing.T, ctx context.Context, c rueidis.Client, tr transport, k string) {
	bal := k + "tx:balance"
	if err := c.Do(ctx, c.B().Set().Key(bal).Value("100").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	other := dialResp(t, tr.addr)
	defer other.Close()
	withdraw := func(interfere bool) (aborted bool) {
		err := c.Dedicated(func(d rueidis.DedicatedClient) error {
			if err := d.Do(ctx, d.B().Watch().Key(bal).Build()).Error(); err != nil {
				return err
			}
			n, err := d.Do(ctx, d.B().Get().Key(bal).Build()).AsInt64()
			if err != nil {
				return err
			}
			if interfere {
				if rep := other.Do("SET", bal, "50"); string(rep) != "+OK\r\n" {
					t.Fatalf("SET from the other connection = %q", rep)
				}
				n = 50
			}
			res := d.DoMulti(ctx,
				d.B().Multi().Build(),
				d.B().Set().Key(bal).Value(strconv.FormatInt(n-10, 10)).Build(),
				d.B().Exec().Build())
			for _, r := range res[:2] {
				if err := r.Error(); err != nil {
					return err
				}
			}
			exec := res[2]
			if rueidis.IsRedisNil(exec.Error()) {
				aborted = true
				return nil
			}
			if v, err := exec.ToArray(); err != nil || len(v) != 1 {
				return fmt.Errorf("EXEC = %v, %v", v, err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("WATCH/MULTI/EXEC: %v", err)
		}
		return aborted
	}
	if !withdraw(true) {
		t.Fatal("EXEC after a concurrent write was not aborted")
	}
	if v, err := c.Do(ctx, c.B().Get().Key(bal).Build()).ToString(); err != nil || v != "50" {
		t.Fatalf("after the aborted transaction: GET = %q, %v; want 50", v, err)
	}
	if withdraw(false) {
		t.Fatal("the retry was aborted")
	}
	if v, err := c.Do(ctx, c.B().Get().Key(bal).Build()).ToString(); err != nil || v != "40" {
		t.Fatalf("after the retry: GET = %q, %v; want 40", v, err)
	}
}
