package main

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sidecache/sidecache/config"
)

// infoMap reads INFO section from p as name -> value.
func infoMap(t *testing.T, p *proc, section string) map[string]string {
	t.Helper()
	rep := dialResp(t, p.Addr).Do("INFO", section)
	m := map[string]string{}
	for _, l := range strings.Split(string(rep), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = v
		}
	}
	return m
}

func atoi64(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// "maxmemory auto" (the default) is logged at start-up and shown in INFO memory, and its
// numbers keep the RSS bound inside the limit it split.
func TestMaxMemoryAutoReported(t *testing.T) {
	p := startSidecache(t)
	m := infoMap(t, p, "memory")
	if m["maxmemory_source"] != "auto" {
		t.Fatalf("maxmemory_source %q", m["maxmemory_source"])
	}
	limit, clients, over, mm := atoi64(t, m["memory_limit"]), atoi64(t, m["maxmemory_clients_reserved"]),
		atoi64(t, m["memory_overhead_reserved"]), atoi64(t, m["maxmemory"])
	if mm != max((limit-over-clients)*10/11, 1<<20) || over != 32<<20 || clients < 16<<20 {
		t.Fatalf("limit %d clients %d overhead %d maxmemory %d", limit, clients, over, mm)
	}
	if g := atoi64(t, m["go_memory_limit"]); g > limit {
		t.Fatalf("go_memory_limit %d > limit %d", g, limit)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.out.String(), `"msg":"maxmemory","auto":true`) {
		if time.Now().After(deadline) {
			t.Fatalf("no start-up log of the sizing:\n%s", p.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	q := startSidecache(t, "--maxmemory", "64mb")
	if m := infoMap(t, q, "memory"); m["maxmemory_source"] != "explicit" || m["maxmemory"] != strconv.Itoa(64<<20) {
		t.Fatalf("explicit: %q %q", m["maxmemory_source"], m["maxmemory"])
	}
}

// A pipelined write flood over maxmemory: under allkeys-lru every write succeeds and
// used_memory stays within maxmemory; under noeviction writes are refused with Redis's OOM
// error once full, and reads go on.
func TestEvictionEndToEnd(t *testing.T) {
	const maxmem = 8 << 20
	val := strings.Repeat("v", 1000)
	flood := func(p *proc, n int) (oks, ooms int) {
		c := dialResp(t, p.Addr)
		bw := bufio.NewWriter(c.c)
		for start := 0; start < n; start += 500 {
			for i := start; i < start+500; i++ {
				bw.Write(encodeCommand([]string{"SET", "key:" + strconv.Itoa(i), val}))
			}
			c.c.SetWriteDeadline(time.Now().Add(ioTimeout))
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 500; i++ {
				rep, err := c.Read()
				if err != nil {
					t.Fatal(err)
				}
				switch string(rep) {
				case "+OK\r\n":
					oks++
				case "-OOM command not allowed when used memory > 'maxmemory'.\r\n":
					ooms++
				default:
					t.Fatalf("SET answered %q", rep)
				}
			}
		}
		return oks, ooms
	}
	p := startSidecache(t, "--maxmemory", strconv.Itoa(maxmem), "--maxmemory-policy", "allkeys-lru")
	if oks, ooms := flood(p, 30000); oks != 30000 || ooms != 0 {
		t.Fatalf("allkeys-lru: %d OK, %d OOM", oks, ooms)
	}
	m := infoMap(t, p, "all")
	if used := atoi64(t, m["used_memory"]); used > maxmem {
		t.Fatalf("used_memory %d > %d", used, maxmem)
	}
	if atoi64(t, m["evicted_keys"]) < 20000 {
		t.Fatalf("evicted_keys %s", m["evicted_keys"])
	}

	q := startSidecache(t, "--maxmemory", strconv.Itoa(maxmem), "--maxmemory-policy", "noeviction")
	oks, ooms := flood(q, 30000)
	if oks == 0 || ooms == 0 || oks+ooms != 30000 {
		t.Fatalf("noeviction: %d OK, %d OOM", oks, ooms)
	}
	c := dialResp(t, q.Addr)
	if rep := c.Do("GET", "key:0"); string(rep) != "$1000\r\n"+val+"\r\n" {
		t.Fatalf("GET after OOM: %.40q", rep)
	}
	m = infoMap(t, q, "all")
	if used := atoi64(t, m["used_memory"]); used > maxmem || m["evicted_keys"] != "0" {
		t.Fatalf("noeviction: used %d, evicted %s", used, m["evicted_keys"])
	}
}

func TestHeapShare(t *testing.T) {
	z := config.SizeMemory(1<<30, 0)
	if got := heapShare(z, 0); got != 1<<30-heapMargin {
		t.Fatal(got)
	}
	if got := heapShare(z, 200<<20); got != 1<<30-200<<20-heapMargin {
		t.Fatal(got)
	}
	if got := heapShare(z, 1<<30); got != z.Clients+heapMargin {
		t.Fatal(got)
	}
}
