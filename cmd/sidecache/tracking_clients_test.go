package main

// Client-side caching through client libraries: go-redis v9's client-side cache, and a
// coherence check of rueidis's cache under a continuous writer. (rueidis's basic cached
// read — DoCache twice, the second a cache hit, invalidated by a write from another
// connection — is TestRueidisDefaultOptions/*/client-cache.) TestTrackingInvalidationDelay
// measures the time from a write's acknowledgement to the invalidation's arrival.

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

func TestTrackingGoRedisCache(t *testing.T) {
	p := startSidecache(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cache := redis.NewLocalCache(redis.CacheConfig{MaxEntries: 64})
	c := redis.NewClient(&redis.Options{
		Addr:            p.Addr,
		Protocol:        3,
		ClientSideCache: cache,
		PoolSize:        1, // every read on the one tracking connection
		MaxRetries:      -1,
	})
	t.Cleanup(func() { c.Close() })
	other := dialResp(t, p.Addr)

	key := "gr:cached"
	if rep := other.Do("SET", key, "v1"); string(rep) != "+OK\r\n" {
		t.Fatalf("SET: %q", rep)
	}
	if v, err := c.Get(ctx, key).Result(); err != nil || v != "v1" {
		t.Fatalf("first GET = %q, %v", v, err)
	}
	// The entry lands in the cache once the fetch completes.
	for deadline := time.Now().Add(ioTimeout); cache.Len() < 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the GET's reply was never cached")
		}
		if v, err := c.Get(ctx, key).Result(); err != nil || v != "v1" {
			t.Fatalf("GET = %q, %v", v, err)
		}
	}
	hits := cache.Stats().Hits
	if v, err := c.Get(ctx, key).Result(); err != nil || v != "v1" {
		t.Fatalf("cached GET = %q, %v", v, err)
	}
	if got := cache.Stats().Hits; got != hits+1 {
		t.Fatalf("the second GET was not served from the cache: hits %d -> %d", hits, got)
	}
	info, err := c.Do(ctx, "CLIENT", "INFO").Text()
	if err != nil {
		t.Fatal(err)
	}
	if fl := clientInfoField(info, "flags"); !strings.ContainsRune(fl, 't') {
		t.Fatalf("the caching connection has no tracking flag: %s", info)
	}
	if rep := other.Do("SET", key, "v2"); string(rep) != "+OK\r\n" {
		t.Fatalf("SET: %q", rep)
	}
	// A round trip on the tracking connection takes the invalidation in.
	for deadline := time.Now().Add(ioTimeout); cache.Len() != 0; time.Sleep(10 * time.Millisecond) {
		if err := c.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no invalidation reached go-redis's cache (%d entries)", cache.Len())
		}
	}
	if v, err := c.Get(ctx, key).Result(); err != nil || v != "v2" {
		t.Fatalf("GET after the invalidation = %q, %v", v, err)
	}
}

func clientInfoField(info, name string) string {
	for _, f := range strings.Fields(info) {
		if v, ok := strings.CutPrefix(f, name+"="); ok {
			return v
		}
	}
	return ""
}

// TestTrackingCoherence: a writer bumps a version without pause while rueidis clients read
// it through their caches. An invalidation is queued on a reader's connection before the
// write is acknowledged, so once a reader has made any round trip after the writer's
// acknowledgement of version N, its cache cannot serve a version older than N; and one
// reader never sees the version go back.
func TestTrackingCoherence(t *testing.T) {
	p := startSidecache(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const key = "coherence:version"
	writer := dialResp(t, p.Addr)
	writer.Do("SET", key, "0")

	var acked atomic.Int64 // the last version the writer saw acknowledged
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for v := int64(1); ; v++ {
			select {
			case <-stop:
				return
			default:
			}
			if rep := writer.Do("SET", key, strconv.FormatInt(v, 10)); string(rep) != "+OK\r\n" {
				t.Errorf("SET %d: %q", v, rep)
				return
			}
			acked.Store(v)
			if v%64 == 0 {
				time.Sleep(time.Millisecond) // let readers hit their caches between writes too
			}
		}
	}()

	const readers = 3
	var hits, checks atomic.Int64
	errs := make(chan error, readers)
	for range readers {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{p.Addr}, DisableRetry: true,
			Dialer: net.Dialer{Timeout: 5 * time.Second}, ConnWriteTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		wg.Add(1)
		go func() {
			defer wg.Done()
			get := func() (int64, bool, error) {
				r := c.DoCache(ctx, c.B().Get().Key(key).Cache(), time.Minute)
				v, err := r.AsInt64()
				return v, r.IsCacheHit(), err
			}
			var last int64
			for i := 0; ; i++ {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				floor := int64(-1)
				if i%4 == 0 {
					// Any round trip after the acknowledgement brings the invalidation in.
					floor = acked.Load()
					if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
						errs <- err
						return
					}
				}
				v, hit, err := get()
				if err != nil {
					errs <- err
					return
				}
				if hit {
					hits.Add(1)
				}
				if v < floor {
					errs <- fmt.Errorf("read version %d (cache hit %v) after the writer's acknowledgement of %d and a round trip", v, hit, floor)
					return
				}
				if v < last {
					errs <- fmt.Errorf("version went back from %d to %d (cache hit %v)", last, v, hit)
					return
				}
				last = v
				checks.Add(1)
			}
		}()
	}
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	for range readers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if hits.Load() == 0 {
		t.Fatal("no read was served from a cache: the test checked nothing about caching")
	}
	t.Logf("%d versions written, %d reads checked, %d of them cache hits", acked.Load(), checks.Load(), hits.Load())
}

// TestTrackingInvalidationDelay measures, for sidecache and redis-server, how long after a
// write is acknowledged its invalidation reaches a RESP3 tracking connection (negative:
// before the acknowledgement). The figures are logged, not asserted; every invalidation
// must arrive.
func TestTrackingInvalidationDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	for _, p := range []*proc{startRedis(t), startSidecache(t)} {
		t.Run(p.Name, func(t *testing.T) {
			const rounds = 2000
			probe := dialResp(t, p.Addr)
			probe.Do("HELLO", "3")
			probe.Do("CLIENT", "TRACKING", "on")
			writer := dialResp(t, p.Addr)
			arrived := make(chan time.Time, 1)
			ackToPush := make([]time.Duration, 0, rounds)
			sendToPush := make([]time.Duration, 0, rounds)
			for i := range rounds {
				if rep := probe.Do("GET", "delay:key"); rep[0] == '>' {
					t.Fatalf("unexpected push %q", rep)
				}
				go func() {
					rep, err := probe.Read()
					if err != nil || string(rep) != ">2\r\n$10\r\ninvalidate\r\n*1\r\n$9\r\ndelay:key\r\n" {
						t.Errorf("round %d: push %q, %v", i, rep, err)
					}
					arrived <- time.Now()
				}()
				t0 := time.Now()
				writer.Do("SET", "delay:key", strconv.Itoa(i))
				t1 := time.Now()
				t2 := <-arrived
				if t.Failed() {
					return
				}
				ackToPush = append(ackToPush, t2.Sub(t1))
				sendToPush = append(sendToPush, t2.Sub(t0))
			}
			q := func(d []time.Duration, p float64) time.Duration {
				s := slices.Clone(d)
				slices.Sort(s)
				return s[min(len(s)-1, int(p*float64(len(s))))]
			}
			t.Logf("%s, %d invalidations: ack->push p50 %v p99 %v max %v; write sent->push p50 %v p99 %v",
				p.Name, rounds, q(ackToPush, 0.5), q(ackToPush, 0.99), q(ackToPush, 1), q(sendToPush, 0.5), q(sendToPush, 0.99))
		})
	}
}
