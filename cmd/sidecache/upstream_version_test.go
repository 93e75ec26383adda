package main

// The versioned writer/reader check of issue 10 through two sidecars (A and B) in front of
// one redis-server: a writer bumps a version number, through A in one run and directly on
// the upstream in the other, while readers through A and B check what they read.
//
//   - The push delay is measured while the check runs, under the same load: per sidecar, a
//     probe writes a key of its own directly on the upstream and reads it through the
//     sidecar until the new value shows; the delay is from the write's acknowledgement to
//     the end of that read (an upper bound of the invalidation's travel). D is the largest
//     delay measured in the run.
//   - A read that started at s is a violation when it returned a version older than one
//     acknowledged before s - D. There must be none.
//   - Writes through A: a read through A that started after a write's acknowledgement must
//     return it or a later version, with no tolerance at all (read-your-writes in the pod:
//     the key leaves A's L1 before the write is sent and again once acknowledged).

import (
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestUpstreamVersionCheck(t *testing.T) {
	for _, via := range []string{"sidecar", "upstream"} {
		t.Run("writes-via-"+via, func(t *testing.T) { versionCheck(t, via == "sidecar") })
	}
}

type versionRead struct {
	start time.Duration // since the run's base
	v     int
	onA   bool
}

func versionCheck(t *testing.T, viaA bool) {
	up := startRedis(t)
	a := startSidecache(t, "--upstream", "redis://"+up.Addr)
	b := startSidecache(t, "--upstream", "redis://"+up.Addr)
	base := time.Now()
	since := func() time.Duration { return time.Since(base) }
	const run = 3 * time.Second
	const maxVersions = 1 << 20

	w := dialResp(t, up.Addr)
	if viaA {
		w = dialResp(t, a.Addr)
	}
	w.Do("SET", "ver", "0")
	acks := make([]time.Duration, 1, maxVersions) // acks[i]: when version i was acknowledged
	var last atomic.Int64                         // the last version acknowledged
	var acksMu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup

	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		for i := 1; i < maxVersions; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if r := string(w.Do("SET", "ver", strconv.Itoa(i))); r != "+OK\r\n" {
				t.Errorf("SET ver %d = %q", i, r)
				return
			}
			at := since()
			acksMu.Lock()
			acks = append(acks, at)
			acksMu.Unlock()
			last.Store(int64(i))
		}
	}()

	var readsMu sync.Mutex
	var reads []versionRead
	ryw := 0 // writes via A: reads through A older than the last write acknowledged before them
	for _, s := range []*proc{a, a, b, b} {
		onA := s == a
		c := dialResp(t, s.Addr)
		wg.Add(1)
		go func() { // a reader
			defer wg.Done()
			var mine []versionRead
			bad := 0
			for {
				select {
				case <-stop:
					readsMu.Lock()
					reads = append(reads, mine...)
					ryw += bad
					readsMu.Unlock()
					return
				default:
				}
				before := last.Load()
				start := since()
				v, err := strconv.Atoi(string(parseBulk(c.Do("GET", "ver"))))
				if err != nil {
					t.Errorf("GET ver: %v", err)
					return
				}
				if viaA && onA && int64(v) < before {
					bad++
				}
				mine = append(mine, versionRead{start: start, v: v, onA: onA})
			}
		}()
	}

	var probeMu sync.Mutex
	var probes []time.Duration
	for i, s := range []*proc{a, b} {
		key := "probe" + strconv.Itoa(i)
		u, c := dialResp(t, up.Addr), dialResp(t, s.Addr)
		wg.Add(1)
		go func() { // the push-delay probe of one sidecar
			defer wg.Done()
			for n := 1; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				want := strconv.Itoa(n)
				u.Do("SET", key, want)
				acked := time.Now()
				for string(parseBulk(c.Do("GET", key))) != want {
					if time.Since(acked) > 10*time.Second {
						t.Errorf("%s never seen through the sidecar", key)
						return
					}
				}
				d := time.Since(acked)
				probeMu.Lock()
				probes = append(probes, d)
				probeMu.Unlock()
				time.Sleep(time.Millisecond) // a probe, not a second load
			}
		}()
	}

	time.Sleep(run)
	close(stop)
	wg.Wait()

	sort.Slice(probes, func(i, j int) bool { return probes[i] < probes[j] })
	if len(probes) == 0 {
		t.Fatal("no push delay measured")
	}
	d := probes[len(probes)-1]
	violations, stale, beyondP99 := 0, 0, 0
	d99 := probes[len(probes)*99/100]
	var staleFor []time.Duration
	for _, r := range reads {
		// newest: the last version acknowledged before the read started (minus D).
		newest := sort.Search(len(acks), func(i int) bool { return acks[i] >= r.start }) - 1
		bound := sort.Search(len(acks), func(i int) bool { return acks[i] >= r.start-d }) - 1
		if r.v < bound {
			violations++
		}
		if r.v < sort.Search(len(acks), func(i int) bool { return acks[i] >= r.start-d99 })-1 {
			beyondP99++ // information only: D is the max, not the p99
		}
		if r.v < newest {
			stale++
			staleFor = append(staleFor, r.start-acks[r.v+1])
		}
	}
	sort.Slice(staleFor, func(i, j int) bool { return staleFor[i] < staleFor[j] })
	pct := func(s []time.Duration, p int) time.Duration {
		if len(s) == 0 {
			return 0
		}
		return s[min(len(s)-1, len(s)*p/100)]
	}
	t.Logf("writes via %s: %d versions written, %d reads (A and B), push delay (write ack to the new value read through a sidecar) p50 %v p99 %v max D=%v over %d probes; reads older than the last acknowledged version: %d, older by p50 %v p99 %v max %v; violations (older than acknowledged before start-D): %d (before start-p99: %d)",
		map[bool]string{true: "sidecar A", false: "the upstream"}[viaA], last.Load(), len(reads),
		pct(probes, 50), pct(probes, 99), d, len(probes), stale, pct(staleFor, 50), pct(staleFor, 99), pct(staleFor, 100), violations, beyondP99)
	if violations != 0 {
		t.Errorf("%d reads returned a version older than the last acknowledged before start-%v", violations, d)
	}
	if viaA && ryw != 0 {
		t.Errorf("read-your-writes through A: %d reads older than a write acknowledged before they started", ryw)
	}
	if last.Load() < 100 || len(reads) < 100 {
		t.Fatalf("too little traffic to check: %d versions, %d reads", last.Load(), len(reads))
	}
}

// parseBulk returns the payload of a bulk string reply ("" for anything else).
func parseBulk(r []byte) []byte {
	v, err := parseValue(r)
	if err != nil {
		return nil
	}
	return []byte(v.Str)
}
