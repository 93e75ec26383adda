package main

// The workloads a cache serves, run through real clients against the real binary (or
// redis-server with SIDECACHE_DIFF_TARGET=redis), over TCP and the Unix socket:
//
//	session    HSET a session hash + EXPIRE, HGETALL, HGET, HINCRBY a counter, HDEL, TTL
//	ratelimit  INCR + EXPIRE NX (pipelined), and INCR + PEXPIRE on the first hit: the
//	           limit trips at request rateLimit+1
//	dedup      SET NX EX: first true, second false; SET NX PX short: true again once the
//	           key has expired
//	pipeline   100 mixed commands in one pipeline, replies in order (pipelineScript)
//	tx         MULTI/EXEC with several commands (strings, a hash, EXPIRE)
//	watch      WATCH + a write from another connection between WATCH and EXEC aborts the
//	           transaction; the retry succeeds
//	handshake  what the client sent on connect, seen from the server: CLIENT LIST name=,
//	           resp=, lib-name= (lib-name only where the server has CLIENT SETINFO: the
//	           7.0 reference has not, sidecache must)
//
// This file: go-redis v9, and what every client's test shares. The same scenarios run
// for redis-cli (clients_cli_test.go), rueidis (clients_rueidis_test.go), and ioredis and
// node-redis (clients_node_test.go, testdata/node/scenarios.js).

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	rateLimit      = 5                      // requests allowed per window in the ratelimit scenario
	sessionTTL     = 1800 * time.Second     // the session hash's EXPIRE
	dedupShortTTL  = 100 * time.Millisecond // the dedup key that must expire during the test
	expiryDeadline = 5 * time.Second        // bound on waiting for that key to expire
)

// transport is one way to reach the server under test.
type transport struct {
	name    string // "tcp" or "unix"
	network string
	addr    string // host:port or socket path
}

func transports(p *proc) []transport {
	return []transport{{"tcp", "tcp", p.Addr}, {"unix", "unix", p.Socket}}
}

// pipelineScript returns 100 mixed commands (strings, counters, hashes, a miss) and the
// reply each must get, in order: "OK", an integer, a bulk's contents, or "(nil)".
// Every key starts with prefix, which must be unused.
func pipelineScript(prefix string) (cmds [][]string, want []string) {
	s := func(i int) string { return prefix + "s:" + strconv.Itoa(i) }
	f := func(i int) string { return "f:" + strconv.Itoa(i) }
	ctr, h := prefix+"ctr", prefix+"h"
	var n int64
	for i := 0; i < 100; i++ {
		// groups of ten; every key read was written earlier in the same group
		var c []string
		var w string
		switch i % 10 {
		case 0:
			c, w = []string{"SET", s(i), strconv.Itoa(i)}, "OK"
		case 1:
			c, w = []string{"GET", s(i - 1)}, strconv.Itoa(i-1)
		case 2:
			n++
			c, w = []string{"INCR", ctr}, strconv.FormatInt(n, 10)
		case 3:
			c, w = []string{"HSET", h, f(i), strconv.Itoa(i)}, "1"
		case 4:
			c, w = []string{"HGET", h, f(i - 1)}, strconv.Itoa(i-1)
		case 5:
			c, w = []string{"EXISTS", s(i - 5)}, "1"
		case 6:
			c, w = []string{"GET", prefix + "missing:" + strconv.Itoa(i)}, "(nil)"
		case 7:
			n += 10
			c, w = []string{"INCRBY", ctr, "10"}, strconv.FormatInt(n, 10)
		case 8:
			c, w = []string{"DEL", s(i - 8)}, "1"
		case 9:
			c, w = []string{"HINCRBY", h, f(i - 6), "1"}, strconv.Itoa(i-6+1)
		}
		cmds, want = append(cmds, c), append(want, w)
	}
	return cmds, want
}

// clientListFields returns the CLIENT LIST fields of every connection named name, and the
// whole list for messages. It asks over a connection of its own.
func clientListFields(t *testing.T, p *proc, name string) ([]map[string]string, string) {
	t.Helper()
	c := dialResp(t, p.Addr)
	defer c.Close()
	v, err := parseValue(c.Do("CLIENT", "LIST"))
	if err != nil || v.Kind != '$' {
		t.Fatalf("CLIENT LIST: %v %+v", err, v)
	}
	var found []map[string]string
	for line := range strings.SplitSeq(strings.TrimSpace(v.Str), "\n") {
		fields := map[string]string{}
		for kv := range strings.FieldsSeq(line) {
			k, val, _ := strings.Cut(kv, "=")
			fields[k] = val
		}
		if fields["name"] == name {
			found = append(found, fields)
		}
	}
	return found, v.Str
}

// checkHandshake checks, on the server side, that the connections a client opened carry
// the name it was configured with, the protocol it asked for and its library name.
func checkHandshake(t *testing.T, p *proc, name, libPrefix string, resp int) {
	t.Helper()
	conns, list := clientListFields(t, p, name)
	if len(conns) == 0 {
		t.Fatalf("CLIENT LIST has no connection named %q:\n%s", name, list)
	}
	for _, f := range conns {
		if f["resp"] != strconv.Itoa(resp) {
			t.Errorf("connection %s: resp=%s, want %d", f["id"], f["resp"], resp)
		}
		lib, ok := f["lib-name"]
		if !ok && diffTargetRedis() {
			t.Logf("lib-name not checked: the reference redis-server predates CLIENT SETINFO (7.2)")
			continue
		}
		if !strings.HasPrefix(lib, libPrefix) || f["lib-ver"] == "" {
			t.Errorf("connection %s: lib-name=%q lib-ver=%q, want lib-name %s...", f["id"], lib, f["lib-ver"], libPrefix)
		}
	}
}

// waitExpired polls until key no longer exists, within expiryDeadline.
func waitExpired(t *testing.T, exists func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(expiryDeadline)
	for {
		ok, err := exists()
		if err != nil {
			t.Fatalf("EXISTS: %v", err)
		}
		if !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("key still exists %v after its PX %v", expiryDeadline, dedupShortTTL)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientScenariosGoRedis(t *testing.T) {
	p := startClientTarget(t)
	for _, tr := range transports(p) {
		for _, proto := range []int{3, 2} {
			name := fmt.Sprintf("%s-resp%d", tr.name, proto)
			t.Run(name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				clientName := "goredis-" + name
				rdb := redis.NewClient(&redis.Options{
					Network:      tr.network,
					Addr:         tr.addr,
					Protocol:     proto,
					ClientName:   clientName,
					DialTimeout:  5 * time.Second,
					ReadTimeout:  5 * time.Second,
					WriteTimeout: 5 * time.Second,
					MaxRetries:   -1,
				})
				defer rdb.Close()
				if err := rdb.Ping(ctx).Err(); err != nil {
					t.Fatalf("PING: %v", err)
				}
				k := "gr:" + name + ":"
				t.Run("handshake", func(t *testing.T) { checkHandshake(t, p, clientName, "go-redis", proto) })
				t.Run("session", func(t *testing.T) { goRedisSession(t, ctx, rdb, k) })
				t.Run("ratelimit", func(t *testing.T) { goRedisRateLimit(t, ctx, rdb, k) })
				t.Run("dedup", func(t *testing.T) { goRedisDedup(t, ctx, rdb, k) })
				t.Run("pipeline", func(t *testing.T) { goRedisPipeline(t, ctx, rdb, k) })
				t.Run("tx", func(t *testing.T) { goRedisTx(t, ctx, rdb, k) })
				t.Run("watch", func(t *testing.T) { goRedisWatch(t, ctx, rdb, tr, k) })
			})
		}
	}
}

func goRedisSession(t *testing.T, ctx context.Context, rdb *redis.Client, k string) {
	sess := k + "session:abc"
	if n, err := rdb.HSet(ctx, sess, "user", "42", "name", "ada", "role", "admin", "hits", "0").Result(); err != nil || n != 4 {
		t.Fatalf("HSET = %d, %v; want 4", n, err)
	}
	if ok, err := rdb.Expire(ctx, sess, sessionTTL).Result(); err != nil || !ok {
		t.Fatalf("EXPIRE = %v, %v", ok, err)
	}
	want := map[string]string{"user": "42", "name": "ada", "role": "admin", "hits": "0"}
	if all, err := rdb.HGetAll(ctx, sess).Result(); err != nil || !maps.Equal(all, want) {
		t.Fatalf("HGETALL = %v, %v; want %v", all, err, want)
	}
	if v, err := rdb.HGet(ctx, sess, "name").Result(); err != nil || v != "ada" {
		t.Fatalf("HGET name = %q, %v", v, err)
	}
	if _, err := rdb.HGet(ctx, sess, "nosuch").Result(); err != redis.Nil {
		t.Fatalf("HGET of a missing field: err = %v, want redis.Nil", err)
	}
	if n, err := rdb.HIncrBy(ctx, sess, "hits", 3).Result(); err != nil || n != 3 {
		t.Fatalf("HINCRBY hits 3 = %d, %v", n, err)
	}
	if n, err := rdb.HIncrBy(ctx, sess, "hits", 1).Result(); err != nil || n != 4 {
		t.Fatalf("HINCRBY hits 1 = %d, %v", n, err)
	}
	if _, err := rdb.HIncrBy(ctx, sess, "name", 1).Result(); err == nil || err.Error() != "ERR hash value is not an integer" {
		t.Fatalf("HINCRBY on a non-integer field: err = %v", err)
	}
	if n, err := rdb.HDel(ctx, sess, "role", "nosuch").Result(); err != nil || n != 1 {
		t.Fatalf("HDEL = %d, %v; want 1", n, err)
	}
	want = map[string]string{"user": "42", "name": "ada", "hits": "4"}
	if all, err := rdb.HGetAll(ctx, sess).Result(); err != nil || !maps.Equal(all, want) {
		t.Fatalf("HGETALL after HDEL = %v, %v; want %v", all, err, want)
	}
	if d, err := rdb.TTL(ctx, sess).Result(); err != nil || d <= 0 || d > sessionTTL {
		t.Fatalf("TTL = %v, %v; want (0, %v]", d, err, sessionTTL)
	}
	if all, err := rdb.HGetAll(ctx, k+"session:none").Result(); err != nil || len(all) != 0 {
		t.Fatalf("HGETALL of a missing session = %v, %v", all, err)
	}
}

func goRedisRateLimit(t *testing.T, ctx context.Context, rdb *redis.Client, k string) {
	// fixed window: INCR and EXPIRE NX in one round trip; NX keeps the first hit's window
	key := k + "rl:user42"
	for i := int64(1); i <= rateLimit+1; i++ {
		var incr *redis.IntCmd
		var exp *redis.BoolCmd
		if _, err := rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			incr = pipe.Incr(ctx, key)
			exp = pipe.ExpireNX(ctx, key, time.Minute)
			return nil
		}); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if incr.Val() != i || exp.Val() != (i == 1) {
			t.Fatalf("request %d: INCR = %d, EXPIRE NX = %v; want %d, %v", i, incr.Val(), exp.Val(), i, i == 1)
		}
		if allowed := incr.Val() <= rateLimit; allowed != (i <= rateLimit) {
			t.Fatalf("request %d: allowed = %v", i, allowed)
		}
	}
	if d, err := rdb.TTL(ctx, key).Result(); err != nil || d <= 0 || d > time.Minute {
		t.Fatalf("TTL of the window = %v, %v", d, err)
	}
	// the other idiom: PEXPIRE only when INCR says this is the first hit
	key = k + "rl-px:user42"
	for i := int64(1); i <= rateLimit+1; i++ {
		n, err := rdb.Incr(ctx, key).Result()
		if err != nil || n != i {
			t.Fatalf("request %d: INCR = %d, %v", i, n, err)
		}
		if n == 1 {
			if ok, err := rdb.PExpire(ctx, key, time.Minute).Result(); err != nil || !ok {
				t.Fatalf("PEXPIRE = %v, %v", ok, err)
			}
		}
		if allowed := n <= rateLimit; allowed != (i <= rateLimit) {
			t.Fatalf("request %d: allowed = %v", i, allowed)
		}
	}
	if d, err := rdb.PTTL(ctx, key).Result(); err != nil || d <= 0 || d > time.Minute {
		t.Fatalf("PTTL of the window = %v, %v", d, err)
	}
}

func goRedisDedup(t *testing.T, ctx context.Context, rdb *redis.Client, k string) {
	key := k + "dedup:msg-1"
	for i, want := range []bool{true, false} {
		if ok, err := rdb.SetNX(ctx, key, "seen", time.Minute).Result(); err != nil || ok != want {
			t.Fatalf("SET NX EX attempt %d = %v, %v; want %v", i+1, ok, err, want)
		}
	}
	if d, err := rdb.TTL(ctx, key).Result(); err != nil || d <= 0 || d > time.Minute {
		t.Fatalf("TTL = %v, %v", d, err)
	}
	key = k + "dedup:msg-2"
	for i, want := range []bool{true, false} {
		if ok, err := rdb.SetNX(ctx, key, "seen", dedupShortTTL).Result(); err != nil || ok != want {
			t.Fatalf("SET NX PX attempt %d = %v, %v; want %v", i+1, ok, err, want)
		}
	}
	waitExpired(t, func() (bool, error) {
		n, err := rdb.Exists(ctx, key).Result()
		return n == 1, err
	})
	if ok, err := rdb.SetNX(ctx, key, "seen", dedupShortTTL).Result(); err != nil || !ok {
		t.Fatalf("SET NX PX after expiry = %v, %v; want true", ok, err)
	}
}

func goRedisPipeline(t *testing.T, ctx context.Context, rdb *redis.Client, k string) {
	cmds, want := pipelineScript(k + "pl:")
	pipe := rdb.Pipeline()
	var got []*redis.Cmd
	for _, c := range cmds {
		args := make([]any, len(c))
		for i, a := range c {
			args[i] = a
		}
		got = append(got, pipe.Do(ctx, args...))
	}
	// Exec reports the first failed command; a GET miss (redis.Nil) is one, by design
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		t.Fatalf("pipeline: %v", err)
	}
	for i, c := range got {
		var s string
		switch err := c.Err(); {
		case err == redis.Nil:
			s = "(nil)"
		case err != nil:
			s = "error: " + err.Error()
		default:
			s = fmt.Sprint(c.Val())
		}
		if s != want[i] {
			t.Fatalf("reply %d to %q = %q, want %q", i, cmds[i], s, want[i])
		}
	}
}

func goRedisTx(t *testing.T, ctx context.Context, rdb *redis.Client, k string) {
	a, h := k+"tx:a", k+"tx:h"
	var set *redis.StatusCmd
	var incr, hset *redis.IntCmd
	var exp *redis.BoolCmd
	var get *redis.StringCmd
	if _, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		set = pipe.Set(ctx, a, "1", 0)
		incr = pipe.Incr(ctx, a)
		hset = pipe.HSet(ctx, h, "f", "v")
		exp = pipe.Expire(ctx, a, time.Minute)
		get = pipe.Get(ctx, a)
		return nil
	}); err != nil {
		t.Fatalf("MULTI/EXEC: %v", err)
	}
	if set.Val() != "OK" || incr.Val() != 2 || hset.Val() != 1 || !exp.Val() || get.Val() != "2" {
		t.Fatalf("EXEC replies = %q %d %d %v %q; want OK 2 1 true 2", set.Val(), incr.Val(), hset.Val(), exp.Val(), get.Val())
	}
}

// goRedisWatch is optimistic locking: a write from another connection between WATCH and
// EXEC aborts the transaction.
func goRedisWatch(t *testing.T, ctx context.Context, rdb *redis.Client, tr transport, k string) {
	bal := k + "tx:balance"
	if err := rdb.Set(ctx, bal, "100", 0).Err(); err != nil {
		t.Fatal(err)
	}
	other := dialResp(t, tr.addr)
	defer other.Close()
	withdraw := func(interfere bool) error {
		return rdb.Watch(ctx, func(tx *redis.Tx) error {
			n, err := tx.Get(ctx, bal).Int()
			if err != nil {
				return err
			}
			if interfere {
				if rep := other.Do("SET", bal, "50"); string(rep) != "+OK\r\n" {
					t.Fatalf("SET from the other connection = %q", rep)
				}
				n = 50 // what a retry would read; the transaction must still abort
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.Set(ctx, bal, n-10, 0)
				return nil
			})
			return err
		}, bal)
	}
	if err := withdraw(true); err != redis.TxFailedErr {
		t.Fatalf("EXEC after a concurrent write: err = %v, want redis.TxFailedErr", err)
	}
	if v, err := rdb.Get(ctx, bal).Result(); err != nil || v != "50" {
		t.Fatalf("after the aborted transaction: GET = %q, %v; want 50", v, err)
	}
	if err := withdraw(false); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if v, err := rdb.Get(ctx, bal).Result(); err != nil || v != "40" {
		t.Fatalf("after the retry: GET = %q, %v; want 40", v, err)
	}
}
