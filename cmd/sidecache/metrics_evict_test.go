package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestMetricsCountEvictionsAndLookups: under maxmemory with an evicting policy, /metrics
// counts evictions exactly as INFO does (and keys plus evictions account for every key
// written), and keyspace hits and misses exactly for a known sequence of lookups.
func TestMetricsCountEvictionsAndLookups(t *testing.T) {
	s := startServerEnv(t, nil, "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
	c := dialResp(t, s.Addr)
	const written = 1000
	val := strings.Repeat("v", 8192) // 8 MiB in all: four times maxmemory
	for i := 0; i < written; i++ {
		if r := string(c.Do("SET", fmt.Sprintf("k%04d", i), val)); r != "+OK\r\n" {
			t.Fatalf("SET %d: %q", i, r)
		}
	}
	// The flood counted no lookups. Now 3 misses and 5 hits on the key written last.
	for i := 0; i < 3; i++ {
		c.Do("GET", "nokey")
	}
	c.Do("SET", "h", "1")
	for i := 0; i < 5; i++ {
		if r := string(c.Do("GET", "h")); r != "$1\r\n1\r\n" {
			t.Fatalf("GET h: %q", r)
		}
	}
	stats := string(c.Do("INFO", "stats"))
	evictedInfo := infoInt(t, stats, "evicted_keys")
	keys := infoInt(t, string(c.Do("DBSIZE"))[1:], "")

	status, body := httpGet(t, "http://"+s.admin+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	m := parseProm(t, body)
	get := func(k string) float64 {
		t.Helper()
		v, ok := m[k]
		if !ok {
			t.Fatalf("%s missing", k)
		}
		return v.value
	}
	evicted := get("sidecache_evicted_keys_total")
	if evicted == 0 || evicted != float64(evictedInfo) {
		t.Errorf("evicted: /metrics %v, INFO %d (want equal and > 0)", evicted, evictedInfo)
	}
	if int64(evicted)+keys != written+1 {
		t.Errorf("evicted %v + keys %d != %d keys written", evicted, keys, written+1)
	}
	if got := get(`sidecache_keys{db="0"}`); got != float64(keys) {
		t.Errorf(`sidecache_keys{db="0"} = %v, DBSIZE %d`, got, keys)
	}
	if got := get("sidecache_keyspace_hits_total"); got != 5 {
		t.Errorf("hits = %v, want 5", got)
	}
	if got := get("sidecache_keyspace_misses_total"); got != 3 {
		t.Errorf("misses = %v, want 3", got)
	}
	if got := get("sidecache_keyspace_hit_ratio"); got != 5.0/8 {
		t.Errorf("hit ratio = %v, want %v", got, 5.0/8)
	}
	if used, max := get("sidecache_memory_used_bytes"), get("sidecache_memory_max_bytes"); used > max || max != 2<<20 {
		t.Errorf("used %v, max %v: want used <= max = 2 MiB", used, max)
	}
}

// infoInt reads "name:<int>" from an INFO reply, or, with name "", the whole text as an int.
func infoInt(t *testing.T, text, name string) int64 {
	t.Helper()
	s := strings.TrimSpace(text)
	if name != "" {
		m := regexp.MustCompile(`(?m)^` + name + `:(\d+)\r?$`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %s in:\n%s", name, text)
		}
		s = m[1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return n
}
