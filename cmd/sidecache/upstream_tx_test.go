package main

// Transactions in upstream mode against a real redis-server: MULTI/EXEC/DISCARD/WATCH/
// UNWATCH pinned to one dedicated upstream connection per app client.

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EXEC's reply through the sidecar is the upstream's own, byte for byte, in both protocols
// (keys differ by prefix, values are the same; PING is answered by the sidecar and spliced
// in).
func TestUpstreamTxReplies(t *testing.T) {
	up, sc := startL1(t)
	for _, proto := range []string{"2", "3"} {
		t.Run("resp"+proto, func(t *testing.T) {
			u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
			u.Do("HELLO", proto)
			c.Do("HELLO", proto)
			script := func(r *respConn, p string) []string {
				var got []string
				for _, cmd := range [][]string{
					{"MULTI"},
					{"SET", p + "k", "v"},
					{"INCR", p + "n"},
					{"GET", p + "k"},
					{"PING"},
					{"LPUSH", p + "l", "a", "b"}, // unknown to the command table
					{"ZADD", p + "z", "1.5", "m"},
					{"ZRANGE", p + "z", "0", "-1", "WITHSCORES"},
					{"HSET", p + "h", "f", "1"},
					{"HGETALL", p + "h"},
					{"GET", p + "missing"},
					{"EXEC"},
				} {
					got = append(got, string(r.Do(cmd...)))
				}
				return got
			}
			want := script(u, "up"+proto+":")
			got := script(c, "sc"+proto+":")
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Fatalf("through the sidecar:\n%q\nupstream:\n%q", got, want)
			}
		})
	}
}

// A write inside a transaction is seen by the next read through the sidecar, even of a key
// L1 held; local queuing errors abort as in Redis; DISCARD runs nothing.
func TestUpstreamTxCoherence(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	u.Do("SET", "k", "old")
	c.Do("GET", "k")
	c.Do("GET", "k") // an L1 hit now
	c.Do("MULTI")
	c.Do("SET", "k", "new")
	if r := string(c.Do("EXEC")); r != "*1\r\n+OK\r\n" {
		t.Fatalf("EXEC = %q", r)
	}
	if r := string(c.Do("GET", "k")); r != l1Bulk("new") {
		t.Fatalf("GET after EXEC = %q", r)
	}
	c.Do("MULTI")
	if r := string(c.Do("GET")); !strings.HasPrefix(r, "-ERR wrong number of arguments") {
		t.Fatalf("GET without key inside MULTI = %q", r)
	}
	c.Do("SET", "k", "never")
	if r := string(c.Do("EXEC")); r != "-EXECABORT Transaction discarded because of previous errors.\r\n" {
		t.Fatalf("EXEC after an error = %q", r)
	}
	c.Do("MULTI")
	c.Do("SET", "k", "discarded")
	if r := string(c.Do("DISCARD")); r != "+OK\r\n" {
		t.Fatalf("DISCARD = %q", r)
	}
	if r := string(u.Do("GET", "k")); r != l1Bulk("new") {
		t.Fatalf("upstream GET = %q", r)
	}
	if r := string(c.Do("EXEC")); r != "-ERR EXEC without MULTI\r\n" {
		t.Fatalf("EXEC without MULTI = %q", r)
	}
	c.Do("MULTI")
	if r := string(c.Do("WATCH", "k")); r != "-ERR WATCH inside MULTI is not allowed\r\n" {
		t.Fatalf("WATCH inside MULTI = %q", r)
	}
	if r := string(c.Do("EXEC")); r != "*0\r\n" {
		t.Fatalf("empty EXEC = %q", r)
	}
}

// WATCH: a write on the upstream by someone else makes EXEC fail (null array); without
// one, or after UNWATCH, EXEC runs.
func TestUpstreamTxWatch(t *testing.T) {
	up, sc := startL1(t)
	for _, proto := range []string{"2", "3"} {
		t.Run("resp"+proto, func(t *testing.T) {
			null := "*-1\r\n"
			if proto == "3" {
				null = "_\r\n"
			}
			u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
			c.Do("HELLO", proto)
			u.Do("SET", "w", "0")
			tx := func() string {
				c.Do("MULTI")
				c.Do("INCR", "w")
				return string(c.Do("EXEC"))
			}
			if r := string(c.Do("WATCH", "w")); r != "+OK\r\n" {
				t.Fatalf("WATCH = %q", r)
			}
			u.Do("SET", "w", "10") // the foreign write
			if r := tx(); r != null {
				t.Fatalf("EXEC after a foreign write = %q, want %q", r, null)
			}
			if r := string(c.Do("GET", "w")); r != l1Bulk("10") {
				t.Fatalf("GET = %q", r)
			}
			c.Do("WATCH", "w")
			if r := tx(); r != "*1\r\n:11\r\n" {
				t.Fatalf("EXEC without a foreign write = %q", r)
			}
			c.Do("WATCH", "w")
			c.Do("UNWATCH")
			u.Do("SET", "w", "20")
			if r := tx(); r != "*1\r\n:21\r\n" {
				t.Fatalf("EXEC after UNWATCH = %q", r)
			}
			// The app's own write counts too, as in Redis (it goes on another upstream
			// connection, which Redis counts the same).
			c.Do("WATCH", "w")
			c.Do("SET", "w", "30")
			if r := tx(); r != null {
				t.Fatalf("EXEC after the watcher's own write = %q", r)
			}
			// DISCARD ends the watch.
			c.Do("WATCH", "w")
			c.Do("MULTI")
			c.Do("DISCARD")
			u.Do("SET", "w", "40")
			if r := tx(); r != "*1\r\n:41\r\n" {
				t.Fatalf("EXEC after DISCARD = %q", r)
			}
		})
	}
}

// Dedicated connections go back to the pool: after many watching clients came and went
// (DISCARD, UNWATCH, EXEC, close), the upstream's connection count stays small.
func TestUpstreamTxRelease(t *testing.T) {
	up, sc := startL1(t)
	u := dialResp(t, up.Addr)
	const n = 60
	for i := 0; i < n; i++ {
		c := dialResp(t, sc.Addr)
		c.Do("WATCH", "r"+strconv.Itoa(i))
		switch i % 4 {
		case 0:
			c.Do("MULTI")
			c.Do("DISCARD")
		case 1:
			c.Do("UNWATCH")
		case 2:
			c.Do("MULTI")
			c.Do("SET", "r", "x")
			c.Do("EXEC")
		case 3: // the client closes while watching
		}
		c.Close()
	}
	var clients int64
	l1Eventually(t, "the upstream connections to settle", func() bool {
		raw := string(u.Do("INFO", "clients"))
		for _, line := range strings.Split(raw, "\r\n") {
			if v, ok := strings.CutPrefix(line, "connected_clients:"); ok {
				clients, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		return clients < 20
	})
	t.Logf("upstream connected_clients after %d watching clients: %d", n, clients)
}

// go-redis's optimistic-locking helper (WATCH, GET, MULTI, SET, EXEC) from several clients
// at once through two sidecars: no increment is lost.
func TestUpstreamTxGoRedisWatch(t *testing.T) {
	up := startRedis(t)
	sa := startSidecache(t, "--upstream", "redis://"+up.Addr)
	sb := startSidecache(t, "--upstream", "redis://"+up.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		addr := sa.Addr
		if w%2 == 1 {
			addr = sb.Addr
		}
		wg.Add(1)
		go func(addr string, proto int) {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: proto, MaxRetries: -1, PoolSize: 2})
			defer rdb.Close()
			incr := func(tx *redis.Tx) error {
				n, err := tx.Get(ctx, "counter").Int()
				if err != nil && err != redis.Nil {
					return err
				}
				_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Set(ctx, "counter", n+1, 0)
					return nil
				})
				return err
			}
			for i := 0; i < each; i++ {
				for {
					err := rdb.Watch(ctx, incr, "counter")
					if err == nil {
						break
					}
					if err != redis.TxFailedErr {
						errs <- err
						return
					}
				}
			}
		}(addr, 2+w%2)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	u := dialResp(t, up.Addr)
	if r := string(u.Do("GET", "counter")); r != l1Bulk(strconv.Itoa(workers*each)) {
		t.Fatalf("counter = %q, want %d", r, workers*each)
	}
}

// A command rueidis cannot carry inside a transaction aborts it with an error, not a
// crash; the connection and the server go on.
func TestUpstreamTxUnsendable(t *testing.T) {
	_, sc := startL1(t)
	c := dialResp(t, sc.Addr)
	c.Do("MULTI")
	c.Do("SET", "k", "v")
	c.Do("XSUBSCRIBE", "ch") // unknown to the table and to Redis
	if r := string(c.Do("EXEC")); !strings.HasPrefix(r, "-EXECABORT") {
		t.Fatalf("EXEC = %q", r)
	}
	if r := string(c.Do("GET", "k")); r != "$-1\r\n" {
		t.Fatalf("GET after the aborted transaction = %q", r)
	}
}
