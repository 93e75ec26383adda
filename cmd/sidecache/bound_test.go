package main

// The RSS bound under write floods (issue 5, "How it is checked"): several clients
// pipelining SETs of new keys, value sizes from 16 B to 512 KiB, the mix shifting between
// phases, against sidecache and redis-server at the same maxmemory. Each phase writes twice
// maxmemory of values. While it runs, RSS is sampled from /proc every 20 ms and used_memory
// from INFO every 50 ms; sidecache must stay within 1.1 × maxmemory + maxmemory-clients +
// 32 MiB of RSS and never show used_memory above maxmemory. A measurement, run only when
// asked:
//
//	SIDECACHE_FLOOD=1 go test -run TestFloodRSS -count=1 -v ./cmd/sidecache/

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	floodMaxMemory     = 64 << 20
	floodMaxClients    = 16 << 20
	floodConns         = 4
	floodPipelineBytes = 2 << 20 // a pipeline carries at most this much value data
	floodMaxPipeline   = 64
)

// floodRSS reads VmRSS of pid in bytes.
func floodRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// floodSizes is one phase's value sizes: fixed when lo == hi, else log-uniform in [lo, hi].
type floodSizes struct{ lo, hi int }

func (s floodSizes) String() string {
	if s.lo == s.hi {
		return sizeName(s.lo)
	}
	return sizeName(s.lo) + ".." + sizeName(s.hi)
}

func (s floodSizes) draw(r *rand.Rand) int {
	if s.lo == s.hi {
		return s.lo
	}
	l, h := math.Log(float64(s.lo)), math.Log(float64(s.hi))
	return int(math.Exp(l + r.Float64()*(h-l)))
}

// mean is the expected value size, which sets how many keys a phase writes.
func (s floodSizes) mean() float64 {
	if s.lo == s.hi {
		return float64(s.lo)
	}
	return float64(s.hi-s.lo) / (math.Log(float64(s.hi)) - math.Log(float64(s.lo)))
}

func sizeName(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// floodScenarios shift the value-size mix between phases; every size from 16 B to 512 KiB
// appears, alone and mixed.
var floodScenarios = []struct {
	name   string
	phases []floodSizes
}{
	{"1KiB → 64KiB → 100B", []floodSizes{{1 << 10, 1 << 10}, {64 << 10, 64 << 10}, {100, 100}}},
	{"16B → 512KiB → 16B", []floodSizes{{16, 16}, {512 << 10, 512 << 10}, {16, 16}}},
	{"mixed 16B..512KiB → 100B", []floodSizes{{16, 512 << 10}, {100, 100}}},
	{"512KiB → mixed 16B..4KiB", []floodSizes{{512 << 10, 512 << 10}, {16, 4 << 10}}},
}

// floodResult is what one target showed in one scenario.
type floodResult struct {
	worstRSS   []int64 // per phase
	maxUsed    int64   // largest used_memory sampled
	usedOver   int     // samples with used_memory > maxmemory
	usedSample int
	ooms       int64
	// atWorst is INFO memory's breakdown in the sample with the largest used_memory_rss.
	atWorst string
}

func TestFloodRSS(t *testing.T) {
	if os.Getenv("SIDECACHE_FLOOD") == "" {
		t.Skip("a measurement: SIDECACHE_FLOOD=1 runs it")
	}
	bound := int64(floodMaxMemory)*11/10 + floodMaxClients + 32<<20
	var b, notes strings.Builder
	notes.WriteString("\nINFO memory in the sample with the largest RSS:\n")
	fmt.Fprintf(&b, "\nfloods of new keys: maxmemory %d MiB (sidecache also maxmemory-clients %d MiB; bound %.1f MiB), allkeys-lru, %d connections pipelining up to %d SETs (%d MiB of values), each phase writes 2x maxmemory\n",
		floodMaxMemory>>20, floodMaxClients>>20, float64(bound)/(1<<20), floodConns, floodMaxPipeline, floodPipelineBytes>>20)
	fmt.Fprintf(&b, "| scenario | target | worst RSS per phase (MiB) | worst RSS | max used_memory sampled | samples over maxmemory | OOM replies |\n|---|---|---|--:|--:|--:|--:|\n")
	only := os.Getenv("SIDECACHE_FLOOD_SCENARIO") // a prefix of a scenario's name: that one only
	for _, sc := range floodScenarios {
		if !strings.HasPrefix(sc.name, only) {
			continue
		}
		for _, target := range []string{"sidecache", "redis-server"} {
			args := []string{"--maxmemory", strconv.Itoa(floodMaxMemory), "--maxmemory-policy", "allkeys-lru"}
			var p *proc
			if target == "sidecache" {
				p = startSidecache(t, append(args, "--maxmemory-clients", strconv.Itoa(floodMaxClients))...)
			} else {
				p = startRedis(t, args...)
			}
			r := floodRun(t, p, sc.phases)
			p.stop()
			worst := int64(0)
			per := make([]string, len(r.worstRSS))
			for i, w := range r.worstRSS {
				per[i] = fmt.Sprintf("%s: %.1f", sc.phases[i], float64(w)/(1<<20))
				worst = max(worst, w)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %.1f | %.2f MiB | %d of %d | %d |\n", sc.name, target, strings.Join(per, ", "),
				float64(worst)/(1<<20), float64(r.maxUsed)/(1<<20), r.usedOver, r.usedSample, r.ooms)
			fmt.Fprintf(&notes, "- %s, %s: %s\n", sc.name, target, r.atWorst)
			if target == "sidecache" {
				if worst > bound {
					t.Errorf("%s: sidecache RSS reached %d B, over the bound %d B", sc.name, worst, bound)
				}
				if r.usedOver > 0 {
					t.Errorf("%s: sidecache used_memory over maxmemory in %d samples (max %d)", sc.name, r.usedOver, r.maxUsed)
				}
			}
		}
	}
	t.Log(b.String() + notes.String())
}

// floodRun runs the phases against p and samples RSS and used_memory while they run.
func floodRun(t *testing.T, p *proc, phases []floodSizes) floodResult {
	var res floodResult
	var worst atomic.Int64
	stop := make(chan struct{})
	var samplers sync.WaitGroup
	samplers.Add(2)
	go func() {
		defer samplers.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if r := floodRSS(p.PID); r > worst.Load() {
				worst.Store(r)
			}
		}
	}()
	info, err := net.DialTimeout("tcp", p.Addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer info.Close()
	go func() {
		defer samplers.Done()
		br := bufio.NewReader(info)
		var worstSampled int64
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			info.SetDeadline(time.Now().Add(ioTimeout))
			if _, err := info.Write([]byte("*2\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n")); err != nil {
				return
			}
			rep, err := readReply(br)
			if err != nil {
				return
			}
			fields := map[string]string{}
			for _, l := range strings.Split(string(rep), "\r\n") {
				if k, v, ok := strings.Cut(l, ":"); ok {
					fields[k] = v
				}
				if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					res.usedSample++
					res.maxUsed = max(res.maxUsed, n)
					if n > floodMaxMemory {
						res.usedOver++
					}
				}
			}
			if rss, _ := strconv.ParseInt(fields["used_memory_rss"], 10, 64); rss > worstSampled {
				worstSampled = rss
				res.atWorst = fmt.Sprintf("rss %.1f MiB: used_memory %s, arena_committed %s, index_bytes %s, large_bytes %s, go_heap_inuse %s, client buffers %s",
					float64(rss)/(1<<20), mib(fields["used_memory"]), mib(fields["arena_committed"]), mib(fields["index_bytes"]),
					mib(fields["large_values_bytes"]), mib(fields["go_heap_inuse"]), mib(fields["mem_clients_normal"]))
			}
		}
	}()
	var ooms atomic.Int64
	for _, ph := range phases {
		worst.Store(0)
		keys := int(2 * floodMaxMemory / max(ph.mean(), 64))
		var wg sync.WaitGroup
		errs := make(chan error, floodConns)
		for c := 0; c < floodConns; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- floodConn(p.Addr, c, keys/floodConns, ph, &ooms)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("%s %s: %v", p.Name, ph, err)
			}
		}
		time.Sleep(300 * time.Millisecond) // background work (rebalancing, lazy frees) catches up
		if r := floodRSS(p.PID); r > worst.Load() {
			worst.Store(r)
		}
		res.worstRSS = append(res.worstRSS, worst.Load())
	}
	close(stop)
	samplers.Wait()
	res.ooms = ooms.Load()
	return res
}

// mib shows an INFO byte count in MiB ("-" when the server has no such field).
func mib(v string) string {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// floodConn writes n new keys on one connection, in pipelines bounded by count and bytes.
func floodConn(addr string, id, n int, sizes floodSizes, ooms *atomic.Int64) error {
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	br, bw := bufio.NewReaderSize(c, 1<<16), bufio.NewWriterSize(c, 1<<20)
	rng := rand.New(rand.NewPCG(uint64(id), uint64(n)))
	val := strings.Repeat("x", sizes.hi)
	prefix := fmt.Sprintf("f:%s:%d:%d:", sizes, id, time.Now().UnixNano())
	for sent := 0; sent < n; {
		depth, bytes := 0, 0
		for depth < floodMaxPipeline && bytes < floodPipelineBytes && sent < n {
			size := sizes.draw(rng)
			key := prefix + strconv.Itoa(sent)
			fmt.Fprintf(bw, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(key), key, size, val[:size])
			depth++
			bytes += size
			sent++
		}
		if err := flushDeadline(c, bw); err != nil {
			return err
		}
		for i := 0; i < depth; i++ {
			rep, err := readReply(br)
			if err != nil {
				return err
			}
			if rep[0] == '-' {
				if !strings.HasPrefix(string(rep), "-OOM") {
					return fmt.Errorf("SET: %q", rep)
				}
				ooms.Add(1)
			}
		}
	}
	return nil
}
