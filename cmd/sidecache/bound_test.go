package main

// The RSS bound under a write flood whose value sizes shift (issue 5, "How it is checked"):
// 1 KiB values, then 64 KiB, then 100 B, pipelined, each phase writing twice maxmemory of
// new keys, against sidecache and redis-server at the same maxmemory. The worst RSS of each
// phase is sampled from /proc. A measurement, run only when asked:
//
//	SIDECACHE_FLOOD=1 go test -run TestFloodRSS -v ./cmd/sidecache/

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const floodMaxMemory = 64 << 20

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

func TestFloodRSS(t *testing.T) {
	if os.Getenv("SIDECACHE_FLOOD") == "" {
		t.Skip("a measurement: SIDECACHE_FLOOD=1 runs it")
	}
	phases := []int{1 << 10, 64 << 10, 100}
	var b strings.Builder
	fmt.Fprintf(&b, "\nflood of new keys, maxmemory %d MiB, each phase writes 2x maxmemory, pipelined 64\n", floodMaxMemory>>20)
	fmt.Fprintf(&b, "%-28s %14s %14s %14s %12s %10s\n", "target", "worst RSS 1KiB", "64KiB", "100B", "used_memory", "OOM")
	for _, target := range []string{"sidecache allkeys-lru", "redis-server 7.0 allkeys-lru"} {
		var p *proc
		args := []string{"--maxmemory", strconv.Itoa(floodMaxMemory), "--maxmemory-policy", "allkeys-lru"}
		if strings.HasPrefix(target, "sidecache") {
			p = startSidecache(t, args...)
		} else {
			p = startRedis(t, args...)
		}
		var worst atomic.Int64
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
				if r := floodRSS(p.PID); r > worst.Load() {
					worst.Store(r)
				}
			}
		}()
		c, err := net.DialTimeout("tcp", p.Addr, ioTimeout)
		if err != nil {
			t.Fatal(err)
		}
		br, bw := bufio.NewReaderSize(c, 1<<20), bufio.NewWriterSize(c, 1<<20)
		ooms := 0
		var worstRSS []int64
		key := 0
		for _, size := range phases {
			worst.Store(0)
			val := strings.Repeat("x", size)
			n := 2 * floodMaxMemory / size
			for sent := 0; sent < n; sent += 64 {
				for i := 0; i < 64; i++ {
					key++
					fmt.Fprintf(bw, "*3\r\n$3\r\nSET\r\n$%d\r\nf:%d\r\n$%d\r\n%s\r\n", len(strconv.Itoa(key))+2, key, size, val)
				}
				if err := flushDeadline(c, bw); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 64; i++ {
					rep, err := readReply(br)
					if err != nil {
						t.Fatal(err)
					}
					if rep[0] == '-' {
						ooms++
					}
				}
			}
			time.Sleep(300 * time.Millisecond) // let background work (rebalancing) catch up
			if r := floodRSS(p.PID); r > worst.Load() {
				worst.Store(r)
			}
			worstRSS = append(worstRSS, worst.Load())
		}
		close(done)
		c.Close()
		m := infoMap(t, p, "memory")
		fmt.Fprintf(&b, "%-28s %13dM %13dM %13dM %12s %10d   end: rss %s arena %s index %s go heap %s\n", target, worstRSS[0]>>20, worstRSS[1]>>20, worstRSS[2]>>20,
			m["used_memory"], ooms, m["used_memory_rss"], m["arena_committed"], m["index_bytes"], m["go_heap_inuse"])
		p.stop()
	}
	t.Log(b.String())
}
