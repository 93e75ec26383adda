package main

// Hit rate under a memory cap (issue 5, "How it is checked"): a cache-aside workload, GET
// then SET on a miss, with Zipf-distributed keys (s = 0.99) over a keyspace several times
// larger than maxmemory and mixed value sizes, run against sidecache and the reference
// redis-server at the same maxmemory, over loopback. It is a measurement, not a check of
// behaviour, so it runs only when asked:
//
//	SIDECACHE_HITRATE=1 go test -run TestHitRate -v ./cmd/sidecache/
//
// SIDECACHE_HITRATE_OPS sets the measured operations (default 2,000,000; as many again warm
// the cache up first).

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	hitKeys      = 400_000 // about 380 MB of values: ~6x maxmemory
	hitZipfS     = 0.99
	hitMaxMemory = "64mb"
	hitBatch     = 128 // commands per pipelined round trip
)

// zipf samples ranks 0..n-1 with P(r) ∝ 1/(r+1)^s by inverting a precomputed CDF (math/rand's
// Zipf needs s > 1).
type zipf struct{ cdf []float64 }

func newZipf(n int, s float64) *zipf {
	z := &zipf{cdf: make([]float64, n)}
	sum := 0.0
	for i := range z.cdf {
		sum += 1 / math.Pow(float64(i+1), s)
		z.cdf[i] = sum
	}
	for i := range z.cdf {
		z.cdf[i] /= sum
	}
	return z
}

func (z *zipf) next(r *rand.Rand) int {
	return sort.SearchFloat64s(z.cdf, r.Float64())
}

// hitValueSize is a key's value size: 60% 64-256 B, 30% 256 B-2 KiB, 10% 2-8 KiB, fixed per
// key (so a key's size never changes between runs).
func hitValueSize(key int) int {
	h := uint64(key)*0x9E3779B97F4A7C15 + 1
	h ^= h >> 29
	u := int(h % 1000)
	switch {
	case u < 600:
		return 64 + u%192
	case u < 900:
		return 256 + (u*7919)%1792
	default:
		return 2048 + (u*104729)%6144
	}
}

type hitResult struct {
	name               string
	hits, gets, ooms   int64
	used, evicted, rss string
	elapsed            time.Duration
}

func TestHitRate(t *testing.T) {
	if os.Getenv("SIDECACHE_HITRATE") == "" {
		t.Skip("a measurement: SIDECACHE_HITRATE=1 runs it")
	}
	ops := 2_000_000
	if v := os.Getenv("SIDECACHE_HITRATE_OPS"); v != "" {
		ops, _ = strconv.Atoi(v)
	}
	z := newZipf(hitKeys, hitZipfS)
	var results []hitResult
	run := func(name string, p *proc) {
		results = append(results, runHitRate(t, name, p, z, ops))
	}
	sc := startSidecache(t, "--maxmemory", hitMaxMemory, "--maxmemory-policy", "allkeys-lfu")
	run("sidecache allkeys-lfu", sc)
	sc.stop()
	sc = startSidecache(t, "--maxmemory", hitMaxMemory, "--maxmemory-policy", "allkeys-lru")
	run("sidecache allkeys-lru", sc)
	sc.stop()
	for _, pol := range []string{"allkeys-lfu", "allkeys-lru"} {
		r := startRedis(t, "--maxmemory", hitMaxMemory, "--maxmemory-policy", pol)
		run("redis-server 7.0 "+pol, r)
		r.stop()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nZipf s=%.2f over %d keys (values 64 B-8 KiB, ~%d MB), maxmemory %s, %d ops measured after %d warm-up, GET then SET on miss, pipelined %d\n",
		hitZipfS, hitKeys, keyspaceBytes()>>20, hitMaxMemory, ops, ops, hitBatch)
	fmt.Fprintf(&b, "%-28s %8s %12s %14s %10s %10s %8s\n", "target", "hit rate", "used_memory", "evicted_keys", "rss", "OOM", "time")
	for _, r := range results {
		fmt.Fprintf(&b, "%-28s %7.2f%% %12s %14s %10s %10d %8s\n", r.name, 100*float64(r.hits)/float64(r.gets), r.used, r.evicted, r.rss, r.ooms, r.elapsed.Round(time.Millisecond))
	}
	t.Log(b.String())
}

func keyspaceBytes() int64 {
	var n int64
	for k := 0; k < hitKeys; k++ {
		n += int64(hitValueSize(k))
	}
	return n
}

func runHitRate(t *testing.T, name string, p *proc, z *zipf, ops int) hitResult {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReaderSize(c, 1<<20)
	bw := bufio.NewWriterSize(c, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2)) // the same key sequence for every target
	val := []byte(strings.Repeat("v", 8192))
	res := hitResult{name: name}
	keys := make([]int, hitBatch)
	miss := make([]bool, hitBatch)
	start := time.Now()
	for done := 0; done < 2*ops; done += hitBatch {
		measure := done >= ops
		for i := range keys {
			keys[i] = z.next(rng)
			fmt.Fprintf(bw, "*2\r\n$3\r\nGET\r\n$%d\r\nkey:%d\r\n", len(strconv.Itoa(keys[i]))+4, keys[i])
		}
		if err := flushDeadline(c, bw); err != nil {
			t.Fatal(err)
		}
		nmiss := 0
		for i := range keys {
			rep, err := readReply(br)
			if err != nil {
				t.Fatalf("%s: GET: %v", name, err)
			}
			miss[i] = string(rep) == "$-1\r\n"
			if rep[0] == '-' {
				t.Fatalf("%s: GET answered %q", name, rep)
			}
			if miss[i] {
				nmiss++
				k := strconv.Itoa(keys[i])
				v := val[:hitValueSize(keys[i])]
				fmt.Fprintf(bw, "*3\r\n$3\r\nSET\r\n$%d\r\nkey:%s\r\n$%d\r\n", len(k)+4, k, len(v))
				bw.Write(v)
				bw.WriteString("\r\n")
			}
		}
		if measure {
			res.gets += int64(len(keys))
			res.hits += int64(len(keys) - nmiss)
		}
		if err := flushDeadline(c, bw); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < nmiss; i++ {
			rep, err := readReply(br)
			if err != nil {
				t.Fatalf("%s: SET: %v", name, err)
			}
			if rep[0] == '-' {
				res.ooms++
			}
		}
	}
	res.elapsed = time.Since(start)
	info := dialResp(t, p.Addr).Do("INFO", "all")
	field := func(n string) string {
		for _, l := range strings.Split(string(info), "\r\n") {
			if v, ok := strings.CutPrefix(l, n+":"); ok {
				return v
			}
		}
		return "?"
	}
	res.used, res.evicted, res.rss = field("used_memory_human"), field("evicted_keys"), field("used_memory_rss_human")
	return res
}

func flushDeadline(c net.Conn, bw *bufio.Writer) error {
	c.SetDeadline(time.Now().Add(ioTimeout))
	return bw.Flush()
}
