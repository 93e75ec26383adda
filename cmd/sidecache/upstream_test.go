package main

// Upstream mode (package upstream) against real redis-server processes: read-through,
// coherence through invalidation pushes, read-your-writes, flushes, lost connections,
// pipelining, RESP2/RESP3 replies compared byte for byte with the upstream's own, and
// go-redis as the app client.

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startL1 starts a redis-server and a sidecache in front of it.
func startL1(t *testing.T, args ...string) (up, sc *proc) {
	t.Helper()
	up = startRedis(t)
	sc = startSidecache(t, append([]string{"--upstream", "redis://" + up.Addr}, args...)...)
	return up, sc
}

// upInfo reads an integer field of INFO upstream.
func upInfo(t *testing.T, c *respConn, field string) int64 {
	t.Helper()
	raw := string(c.Do("INFO", "upstream"))
	for _, line := range strings.Split(raw, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("INFO %s: %q", field, v)
			}
			return n
		}
	}
	t.Fatalf("INFO upstream has no %s:\n%s", field, raw)
	return 0
}

// l1Eventually polls cond until it holds (a synchronisation with the upstream's pushes, not a
// timing assertion).
func l1Eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func l1Bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

func TestUpstreamMissThenHit(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	u.Do("SET", "k", "v1")
	if r := string(c.Do("GET", "k")); r != l1Bulk("v1") {
		t.Fatalf("GET (miss) = %q", r)
	}
	if r := string(c.Do("GET", "k")); r != l1Bulk("v1") {
		t.Fatalf("GET (hit) = %q", r)
	}
	if h, m := upInfo(t, c, "l1_hits"), upInfo(t, c, "l1_misses"); h != 1 || m != 1 {
		t.Fatalf("l1_hits %d l1_misses %d, want 1 1", h, m)
	}
	// The hit was served from L1: the upstream saw one GET.
	stats := string(u.Do("INFO", "commandstats"))
	if !strings.Contains(stats, "cmdstat_get:calls=1,") {
		t.Fatalf("upstream GET calls:\n%s", stats)
	}
	// The L1 is the engine's keyspace: INFO keyspace counts the entry.
	if ks := string(c.Do("INFO", "keyspace")); !strings.Contains(ks, "db0:keys=1,") {
		t.Fatalf("INFO keyspace:\n%s", ks)
	}
}

// A write directly on the upstream: the sidecar's next read returns the new value once the
// invalidation arrived. The delay from the write's acknowledgement to the first read of the
// new value through the sidecar is reported (not asserted).
func TestUpstreamInvalidationDelay(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	const n = 1000
	// total: from the write's acknowledgement to the end of the first read of the new value;
	// stale: to the start of that read (the old value was served until then); miss: that
	// read's own time (an L1 miss, fetched from the upstream).
	var total, staleFor, miss []time.Duration
	stale := 0
	u.Do("SET", "k", "0")
	c.Do("GET", "k")
	for i := 1; i <= n; i++ {
		v := strconv.Itoa(i)
		u.Do("SET", "k", v)
		acked := time.Now()
		for {
			start := time.Now()
			r := string(c.Do("GET", "k"))
			if r == l1Bulk(v) {
				end := time.Now()
				total = append(total, end.Sub(acked))
				staleFor = append(staleFor, start.Sub(acked))
				miss = append(miss, end.Sub(start))
				break
			}
			if r != l1Bulk(strconv.Itoa(i-1)) {
				t.Fatalf("write %d: GET = %q", i, r)
			}
			stale++
			if time.Since(acked) > 10*time.Second {
				t.Fatalf("write %d never seen through the sidecar", i)
			}
		}
	}
	pct := func(d []time.Duration) string {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return fmt.Sprintf("p50 %v p99 %v max %v", d[len(d)/2], d[len(d)*99/100], d[len(d)-1])
	}
	t.Logf("%d writes on the upstream, then reads through the sidecar until the new value: total %s; old value served for %s; the read of the new value (a miss) %s; stale reads %d",
		n, pct(total), pct(staleFor), pct(miss), stale)
	if inv := upInfo(t, c, "invalidations_received"); inv < n {
		t.Errorf("invalidations_received %d < %d writes", inv, n)
	}
}

// Read-your-writes inside the pod: a write through the sidecar, then a read through the
// sidecar (on the same connection or another), never returns the old value.
func TestUpstreamReadYourWrites(t *testing.T) {
	_, sc := startL1(t)
	c, other := dialResp(t, sc.Addr), dialResp(t, sc.Addr)
	for i := 0; i < 300; i++ {
		v := strconv.Itoa(i)
		c.Do("GET", "k") // cached
		other.Do("GET", "k")
		if r := string(c.Do("SET", "k", v)); r != "+OK\r\n" {
			t.Fatalf("SET = %q", r)
		}
		if r := string(c.Do("GET", "k")); r != l1Bulk(v) {
			t.Fatalf("write %d: same connection reads %q", i, r)
		}
		if r := string(other.Do("GET", "k")); r != l1Bulk(v) {
			t.Fatalf("write %d: other connection reads %q", i, r)
		}
	}
	c.Do("HSET", "h", "f", "1")
	c.Do("HGET", "h", "f")
	c.Do("HSET", "h", "f", "2")
	if r := string(c.Do("HGET", "h", "f")); r != l1Bulk("2") {
		t.Fatalf("HGET after HSET = %q", r)
	}
	c.Do("DEL", "k")
	if r := string(c.Do("GET", "k")); r != "$-1\r\n" {
		t.Fatalf("GET after DEL = %q", r)
	}
}

func TestUpstreamFlushAll(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	u.Do("SET", "a", "1")
	u.Do("SET", "b", "2")
	c.Do("MGET", "a", "b")
	u.Do("FLUSHALL")
	l1Eventually(t, "the flush", func() bool { return string(c.Do("GET", "a")) == "$-1\r\n" })
	if f := upInfo(t, c, "l1_flushes"); f < 1 {
		t.Fatalf("l1_flushes = %d", f)
	}
	// FLUSHDB through the sidecar flushes L1 too.
	u.Do("SET", "a", "3")
	c.Do("GET", "a")
	c.Do("FLUSHDB")
	if r := string(c.Do("GET", "a")); r != "$-1\r\n" {
		t.Fatalf("GET after FLUSHDB through the sidecar = %q", r)
	}
}

// CLIENT KILL of the sidecar's connections on the upstream: the invalidations they would
// have carried are lost, so L1 is discarded; rueidis reconnects.
func TestUpstreamClientKill(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	u.Do("SET", "k", "v1")
	c.Do("GET", "k")
	before := upInfo(t, c, "l1_flushes")
	if r := string(u.Do("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")); !strings.HasPrefix(r, ":") || r == ":0\r\n" {
		t.Fatalf("CLIENT KILL = %q", r)
	}
	l1Eventually(t, "the flush", func() bool { return upInfo(t, c, "l1_flushes") > before })
	if ks := string(c.Do("INFO", "keyspace")); strings.Contains(ks, "db0:") {
		t.Fatalf("L1 not discarded:\n%s", ks)
	}
	u.Do("SET", "k", "v2")
	l1Eventually(t, "a read after reconnecting", func() bool { return string(c.Do("GET", "k")) == l1Bulk("v2") })
}

// The upstream restarts (an empty dataset on the same port): reads fail while it is away,
// L1 is discarded, and reads resume once it is back.
func TestUpstreamRestart(t *testing.T) {
	r := newRestartableRedis(t)
	up := r.cur
	sc := startSidecache(t, "--upstream", "redis://"+up.Addr)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	u.Do("SET", "k", "v1")
	c.Do("GET", "k")
	up.stop()
	l1Eventually(t, "an error while the upstream is away", func() bool {
		return strings.HasPrefix(string(c.Do("GET", "other")), "-ERR upstream")
	})
	// rueidis answers errors as soon as it sees the connection fail and reports the loss
	// (the flush) when its goroutines have stopped, a moment later.
	l1Eventually(t, "L1 to drop the entries of a lost upstream", func() bool {
		return !strings.Contains(string(c.Do("INFO", "keyspace")), "db0:")
	})
	r.start()
	l1Eventually(t, "a read of the restarted upstream", func() bool { return string(c.Do("GET", "k")) == "$-1\r\n" })
}

func TestUpstreamNilCaching(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	c.Do("GET", "nokey")
	c.Do("GET", "nokey")
	if h := upInfo(t, c, "l1_hits"); h != 1 {
		t.Fatalf("a missing key's second read: l1_hits %d, want 1", h)
	}
	u.Do("SET", "nokey", "now")
	l1Eventually(t, "the invalidation of a key read as missing", func() bool {
		return string(c.Do("GET", "nokey")) == l1Bulk("now")
	})
}

// The L1 entry of a key with a TTL upstream does not outlive it, even without an
// invalidation: l1-ttl-only is not needed for this, but the TTL bound is what keeps the L1
// from serving a key the upstream has expired and not yet invalidated.
func TestUpstreamTTLBound(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	u.Do("SET", "short", "v", "PX", "500")
	u.Do("SET", "long", "v")
	c.Do("MGET", "short", "long")
	ks := string(c.Do("INFO", "keyspace"))
	if !strings.Contains(ks, "db0:keys=2,expires=2,") {
		t.Fatalf("INFO keyspace:\n%s", ks)
	}
	l1Eventually(t, "the short key to leave L1", func() bool {
		return strings.Contains(string(c.Do("INFO", "keyspace")), "db0:keys=1,")
	})
}

// One connection pipelines a miss, a hit, a write and reads: replies in request order.
func TestUpstreamPipelined(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	u.Do("SET", "a", "A")
	u.Do("SET", "b", "B")
	c.Do("GET", "b") // cached
	var batch []byte
	cmds := [][]string{{"GET", "a"}, {"GET", "b"}, {"SET", "c", "C"}, {"GET", "c"}, {"PING"}, {"GET", "a"},
		{"LPUSH", "l", "x"}, {"GET", "b"}, {"MGET", "a", "b", "c", "d"}, {"ECHO", "end"}}
	for _, cmd := range cmds {
		batch = append(batch, encodeCommand(cmd)...)
	}
	if err := c.Send(batch); err != nil {
		t.Fatal(err)
	}
	want := []string{l1Bulk("A"), l1Bulk("B"), "+OK\r\n", l1Bulk("C"), "+PONG\r\n", l1Bulk("A"), ":1\r\n", l1Bulk("B"),
		"*4\r\n" + l1Bulk("A") + l1Bulk("B") + l1Bulk("C") + "$-1\r\n", l1Bulk("end")}
	for i, w := range want {
		r, err := c.Read()
		if err != nil {
			t.Fatal(err)
		}
		if string(r) != w {
			t.Fatalf("reply %d (%v) = %q, want %q", i, cmds[i], r, w)
		}
	}
}

// Replies through the sidecar are the upstream's own, byte for byte, in RESP2 and RESP3:
// cached reads answered from L1 (twice each: miss, then hit) and replies passed through.
func TestUpstreamProtocols(t *testing.T) {
	up, sc := startL1(t)
	setup := dialResp(t, up.Addr)
	for _, cmd := range [][]string{
		{"SET", "s", "value"}, {"SET", "n", "12"}, {"RPUSH", "l", "a", "b", "c"}, {"ZADD", "z", "1", "a", "2.5", "b"},
		{"HSET", "h", "f1", "v1", "f2", "v2"}, {"SADD", "st", "x"}, {"XADD", "x", "1-0", "f", "v"},
		{"GEOADD", "g", "13.361389", "38.115556", "Palermo"}, {"SET", "t", "v", "EX", "1000"},
	} {
		setup.Do(cmd...)
	}
	cmds := [][]string{
		{"GET", "s"}, {"GET", "nokey"}, {"GET", "h"}, {"MGET", "s", "nokey", "h", "n"}, {"STRLEN", "s"},
		{"GETRANGE", "s", "1", "-2"}, {"GETRANGE", "nokey", "0", "1"}, {"GETRANGE", "s", "a", "1"}, {"EXISTS", "s", "nokey", "h", "l"},
		{"HGET", "h", "f1"}, {"HGET", "h", "nof"}, {"HGETALL", "h"}, {"HGETALL", "noh"}, {"HMGET", "h", "f2", "nof"},
		{"HEXISTS", "h", "f1"}, {"HLEN", "h"}, {"HGET", "s", "f"}, {"STRLEN", "h"},
		{"LRANGE", "l", "0", "-1"}, {"ZRANGE", "z", "0", "-1", "WITHSCORES"}, {"ZSCORE", "z", "b"}, {"ZSCORE", "z", "nom"},
		{"SMEMBERS", "st"}, {"LPOP", "nol"}, {"LPOP", "nol", "2"}, {"TYPE", "s"}, {"TTL", "s"}, {"EXISTS", "t"},
		{"XRANGE", "x", "-", "+"}, {"XREAD", "STREAMS", "x", "0"}, {"XREAD", "STREAMS", "x", "1-0"},
		{"GEOPOS", "g", "Palermo", "nowhere"}, {"OBJECT", "ENCODING", "n"}, {"ZRANDMEMBER", "noz"},
		{"INCRBY", "s", "1"}, {"HINCRBYFLOAT", "h", "f1", "1"}, {"NOSUCHCOMMAND", "x"},
	}
	for _, proto := range []string{"2", "3"} {
		direct, via := dialResp(t, up.Addr), dialResp(t, sc.Addr)
		direct.Do("HELLO", proto)
		via.Do("HELLO", proto)
		for _, cmd := range cmds {
			for pass := 0; pass < 2; pass++ {
				want, got := direct.Do(cmd...), via.Do(cmd...)
				if !bytes.Equal(want, got) {
					t.Errorf("RESP%s %v (pass %d): sidecar %q, upstream %q", proto, cmd, pass, got, want)
				}
			}
		}
	}
}

func TestUpstreamSelect(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	u.Do("SELECT", "3")
	u.Do("SET", "k", "in3")
	if r := string(c.Do("GET", "k")); r != "$-1\r\n" {
		t.Fatalf("db0 GET = %q", r)
	}
	c.Do("SELECT", "3")
	if r := string(c.Do("GET", "k")); r != l1Bulk("in3") {
		t.Fatalf("db3 GET = %q", r)
	}
	u.Do("SET", "k", "new")
	l1Eventually(t, "the invalidation in db3", func() bool { return string(c.Do("GET", "k")) == l1Bulk("new") })
	// A transaction runs in the selected database.
	c.Do("MULTI")
	c.Do("SET", "k", "tx")
	if r := string(c.Do("EXEC")); r != "*1\r\n+OK\r\n" {
		t.Fatalf("EXEC in db3 = %q", r)
	}
	if r := string(u.Do("GET", "k")); r != l1Bulk("tx") {
		t.Fatalf("upstream db3 GET = %q", r)
	}
	// WATCH in one database, EXEC in another: the watch cannot be kept on one dedicated
	// connection, so EXEC fails as if a watched key had changed (the app retries).
	c.Do("WATCH", "k")
	c.Do("SELECT", "0")
	c.Do("MULTI")
	c.Do("SET", "k", "db0")
	if r := string(c.Do("EXEC")); r != "*-1\r\n" {
		t.Fatalf("EXEC after WATCH in another db = %q", r)
	}
	// SELECT inside MULTI is refused at EXEC.
	c.Do("MULTI")
	c.Do("SELECT", "3")
	if r := string(c.Do("EXEC")); !strings.HasPrefix(r, "-EXECABORT") {
		t.Fatalf("EXEC with SELECT inside = %q", r)
	}
}

// go-redis as the app client, RESP3 and RESP2, with a pipeline.
func TestUpstreamGoRedis(t *testing.T) {
	up, sc := startL1(t)
	u := dialResp(t, up.Addr)
	for _, proto := range []int{3, 2} {
		t.Run(fmt.Sprintf("resp%d", proto), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rdb := redis.NewClient(&redis.Options{Addr: sc.Addr, Protocol: proto, MaxRetries: -1,
				DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second})
			defer rdb.Close()
			p := strconv.Itoa(proto) + ":"
			if err := rdb.Set(ctx, p+"k", "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				if v, err := rdb.Get(ctx, p+"k").Result(); err != nil || v != "v" {
					t.Fatalf("Get = %q, %v", v, err)
				}
			}
			if _, err := rdb.Get(ctx, p+"missing").Result(); err != redis.Nil {
				t.Fatalf("Get missing: %v", err)
			}
			if err := rdb.HSet(ctx, p+"h", "a", "1", "b", "2").Err(); err != nil {
				t.Fatal(err)
			}
			if m, err := rdb.HGetAll(ctx, p+"h").Result(); err != nil || m["a"] != "1" || m["b"] != "2" || len(m) != 2 {
				t.Fatalf("HGetAll = %v, %v", m, err)
			}
			if s, err := rdb.ZAdd(ctx, p+"z", redis.Z{Score: 1.5, Member: "m"}).Result(); err != nil || s != 1 {
				t.Fatalf("ZAdd = %d, %v", s, err)
			}
			if zs, err := rdb.ZRangeWithScores(ctx, p+"z", 0, -1).Result(); err != nil || len(zs) != 1 || zs[0].Score != 1.5 {
				t.Fatalf("ZRangeWithScores = %v, %v", zs, err)
			}
			pipe := rdb.Pipeline()
			get := pipe.Get(ctx, p+"k")
			set := pipe.Set(ctx, p+"k2", "v2", 0)
			get2 := pipe.Get(ctx, p+"k2")
			mget := pipe.MGet(ctx, p+"k", p+"k2", p+"missing")
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if get.Val() != "v" || set.Val() != "OK" || get2.Val() != "v2" || fmt.Sprint(mget.Val()) != "[v v2 <nil>]" {
				t.Fatalf("pipeline: %q %q %q %v", get.Val(), set.Val(), get2.Val(), mget.Val())
			}
			u.Do("SET", p+"k", "changed")
			l1Eventually(t, "the invalidation", func() bool {
				v, _ := rdb.Get(ctx, p+"k").Result()
				return v == "changed"
			})
		})
	}
}

func TestUpstreamMetrics(t *testing.T) {
	up := startRedis(t)
	s := startServerEnv(t, nil, "--upstream", "redis://"+up.Addr)
	c := dialResp(t, s.Addr)
	c.Do("GET", "k")
	c.Do("GET", "k")
	status, body := httpGet(t, "http://"+s.admin+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	m := parseProm(t, body)
	for key, want := range map[string]float64{
		"sidecache_l1_hits_total": 1, "sidecache_l1_misses_total": 1, "sidecache_upstream_reads_total": 1,
		"sidecache_invalidations_received_total": 0, "sidecache_l1_flushes_total": 0,
	} {
		if got, ok := m[key]; !ok || got.value != want {
			t.Errorf("%s = %v (present %v), want %v", key, got.value, ok, want)
		}
	}
}

// Round-trip times of single GETs on one connection, sequential (reported, not asserted):
// the upstream directly, an L1 hit through the sidecar, and a miss through the sidecar
// (each key read once, so every read is fetched).
func TestUpstreamLatencyReport(t *testing.T) {
	up, sc := startL1(t)
	u, c := dialResp(t, up.Addr), dialResp(t, sc.Addr)
	const n = 2000
	for i := 0; i < n; i++ {
		u.Do("SET", "m"+strconv.Itoa(i), "value")
	}
	u.Do("SET", "hot", "value")
	c.Do("GET", "hot")
	measure := func(conn *respConn, key func(i int) string) string {
		d := make([]time.Duration, n)
		for i := range d {
			start := time.Now()
			if r := string(conn.Do("GET", key(i))); r != l1Bulk("value") {
				t.Fatalf("GET = %q", r)
			}
			d[i] = time.Since(start)
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return fmt.Sprintf("p50 %v p99 %v", d[n/2], d[n*99/100])
	}
	direct := measure(u, func(int) string { return "hot" })
	hit := measure(c, func(int) string { return "hot" })
	miss := measure(c, func(i int) string { return "m" + strconv.Itoa(i) })
	t.Logf("GET round trip, loopback, one connection: upstream directly %s; sidecar L1 hit %s; sidecar miss %s", direct, hit, miss)
	if h := upInfo(t, c, "l1_misses"); h != n+1 {
		t.Errorf("l1_misses %d, want %d", h, n+1)
	}
}

// A one-node Redis Cluster (all slots on one server) as the upstream: reads and writes go
// through the cluster client, multi-key commands across slots answer CROSSSLOT, SELECT is
// refused, invalidations work as in standalone mode.
func TestUpstreamCluster(t *testing.T) {
	up := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	u := dialResp(t, up.Addr)
	if r := string(u.Do("CLUSTER", "ADDSLOTSRANGE", "0", "16383")); r != "+OK\r\n" {
		t.Fatalf("ADDSLOTSRANGE = %q", r)
	}
	l1Eventually(t, "the cluster to be ok", func() bool {
		return strings.Contains(string(u.Do("CLUSTER", "INFO")), "cluster_state:ok")
	})
	sc := startSidecache(t, "--upstream", "redis://"+up.Addr, "--upstream-cluster", "yes")
	c := dialResp(t, sc.Addr)
	if r := string(c.Do("SET", "k", "v")); r != "+OK\r\n" {
		t.Fatalf("SET = %q", r)
	}
	c.Do("GET", "k")
	if r := string(c.Do("GET", "k")); r != l1Bulk("v") {
		t.Fatalf("GET = %q", r)
	}
	if h := upInfo(t, c, "l1_hits"); h != 1 {
		t.Fatalf("l1_hits %d", h)
	}
	if r := string(c.Do("MGET", "a", "b")); r != "-CROSSSLOT Keys in request don't hash to the same slot\r\n" {
		t.Fatalf("MGET across slots = %q", r)
	}
	if r := string(c.Do("MSET", "a", "1", "b", "2")); r != "-CROSSSLOT Keys in request don't hash to the same slot\r\n" {
		t.Fatalf("MSET across slots = %q", r)
	}
	if r := string(c.Do("MGET", "{t}a", "{t}b")); r != "*2\r\n$-1\r\n$-1\r\n" {
		t.Fatalf("MGET in one slot = %q", r)
	}
	if r := string(c.Do("SELECT", "1")); r != "-ERR SELECT is not allowed in cluster mode\r\n" {
		t.Fatalf("SELECT 1 = %q", r)
	}
	u.Do("SET", "k", "v2")
	l1Eventually(t, "the invalidation", func() bool { return string(c.Do("GET", "k")) == l1Bulk("v2") })
	if r := string(c.Do("LPUSH", "l", "x")); r != ":1\r\n" {
		t.Fatalf("LPUSH = %q", r)
	}
}
