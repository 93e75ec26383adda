package command

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func memInfo(h *harness, section, name string) string {
	h.t.Helper()
	for _, l := range infoLines(h, section) {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return v
		}
	}
	h.t.Fatalf("INFO %s has no %s", section, name)
	return ""
}

// The eviction settings reach the engine at start and on CONFIG SET.
func TestMemorySettingsReachEngine(t *testing.T) {
	h := newHarnessArgs(t, "--maxmemory-policy", "volatile-ttl", "--maxmemory", "64mb")
	if p := h.e.Policy().String(); p != "volatile-ttl" || h.e.MaxMemory() != 64<<20 {
		t.Fatalf("policy %s, maxmemory %d", p, h.e.MaxMemory())
	}
	f := h.f()
	f("CONFIG SET maxmemory-policy allkeys-lru", "+OK\r\n")
	if p := h.e.Policy().String(); p != "allkeys-lru" {
		t.Fatal(p)
	}
	if got := memInfo(h, "memory", "maxmemory_policy"); got != "allkeys-lru" {
		t.Fatal(got)
	}
	if got := memInfo(h, "memory", "maxmemory"); got != strconv.Itoa(64<<20) {
		t.Fatal(got)
	}
	f("CONFIG SET lfu-decay-time 0", "+OK\r\n")
	if h.e.LFUDecayTime() != 0 {
		t.Fatal("lfu-decay-time not applied")
	}
}

// OBJECT FREQ through the command layer, and its error when the policy is not LFU.
func TestObjectFreq(t *testing.T) {
	h := newHarnessArgs(t, "--maxmemory-policy", "allkeys-lfu")
	f := h.f()
	f("SET k v", "+OK\r\n")
	f("OBJECT FREQ k", ":5\r\n")
	f("GET k", "$1\r\nv\r\n")
	f("OBJECT FREQ k", ":6\r\n")
	h.now += 3 * 60000
	f("OBJECT FREQ k", ":3\r\n") // decays one per minute
	f("OBJECT FREQ nokey", "$-1\r\n")
	f("CONFIG SET maxmemory-policy volatile-lru", "+OK\r\n")
	f("OBJECT FREQ k", "-"+errNoLFU+"\r\n")
	f("GET k", "$1\r\nv\r\n") // the field held LFU data; a read stamps the LRU clock
	h.now += 180_000
	f("OBJECT IDLETIME k", ":180\r\n")
	f("OBJECT ENCODING k", "$6\r\nembstr\r\n")
	f("MEMORY USAGE nokey", "$-1\r\n")
	if got := h.run("MEMORY", "USAGE", "k"); !strings.HasPrefix(got, ":") || got == ":0\r\n" {
		t.Fatal(got)
	}
}

// Under noeviction over the limit, denyoom commands are refused and counted; reads work.
func TestOOMRefusal(t *testing.T) {
	h := newHarnessArgs(t, "--maxmemory-policy", "noeviction")
	f := h.f()
	f("SET k v", "+OK\r\n")
	f("CONFIG SET maxmemory 1", "+OK\r\n")
	oom := "-" + errOOMText + "\r\n"
	f("SET k v", oom)
	f("INCR n", oom)
	f("GET k", "$1\r\nv\r\n")
	f("DEL k", ":1\r\n")
	if got := infoLines(h, "errorstats"); strings.Join(got, ",") != "errorstat_OOM:count=2" {
		t.Fatal(got)
	}
	f("CONFIG SET maxmemory 0", "+OK\r\n")
	f("SET k v", "+OK\r\n")
}

// CONFIG SET maxmemory lower evicts down to the new limit (one slice at once, the rest in
// the background), and evicted_keys counts it.
func TestConfigSetMaxMemoryShrinks(t *testing.T) {
	h := newHarnessArgs(t, "--maxmemory-policy", "allkeys-lru", "--maxmemory", "0")
	val := strings.Repeat("x", 200)
	for i := 0; i < 20000; i++ {
		h.run("SET", "key:"+strconv.Itoa(i), val)
	}
	used := h.e.UsedMemory()
	limit := used / 4
	if got := h.run("CONFIG", "SET", "maxmemory", strconv.FormatInt(limit, 10)); got != "+OK\r\n" {
		t.Fatal(got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.e.UsedMemory() > limit {
		if time.Now().After(deadline) {
			t.Fatalf("used %d still over %d", h.e.UsedMemory(), limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for h.s.shrinking.Load() { // let the background slice finish before the engine closes
		time.Sleep(time.Millisecond)
	}
	n, _ := strconv.Atoi(memInfo(h, "stats", "evicted_keys"))
	if n < 10000 {
		t.Fatalf("evicted_keys %d", n)
	}
	// Writes now evict to stay within the limit.
	for i := 0; i < 5000; i++ {
		if got := h.run("SET", "new:"+strconv.Itoa(i), val); got != "+OK\r\n" {
			t.Fatal(got)
		}
		if h.e.UsedMemory() > limit {
			t.Fatal("a write went over maxmemory")
		}
	}
}

func TestEvictBudget(t *testing.T) {
	f := func(tenacity string, want time.Duration) {
		t.Helper()
		h := newHarnessArgs(t, "--maxmemory-eviction-tenacity", tenacity)
		if got := h.s.evictBudget(); got != want {
			t.Fatalf("tenacity %s: %v, want %v", tenacity, got, want)
		}
	}
	f("0", 0)
	f("10", 500*time.Microsecond)
	f("11", 575*time.Microsecond)
	f("100", time.Duration(1<<63-1))
}
