package main

// End-to-end tests of the admin endpoint: /metrics after a known command mix (exact counts,
// valid Prometheus text, the same numbers as INFO), INFO commandstats/errorstats against
// redis-server, /health failing while an event loop is stalled, pprof placement.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// httpGet returns the status and body of url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// promSample is one sample line of the text format.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	promName  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	promLabel = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,\s*|$)`)
)

// parseProm parses the Prometheus text exposition format (0.0.4) strictly enough to catch
// what scrapers reject: bad names and labels, unparsable values, a TYPE repeated or coming
// after its family's samples, histogram buckets that are not cumulative or whose +Inf is not
// _count. It returns the samples by "name{sorted labels}".
func parseProm(t *testing.T, text string) map[string]promSample {
	t.Helper()
	out := map[string]promSample{}
	typed := map[string]string{}
	seen := map[string]bool{} // families with samples so far
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fail := func(why string) { t.Fatalf("/metrics line %d: %s: %q", n, why, line) }
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[1] == "TYPE" {
				if len(f) != 4 || !promName.MatchString(f[2]) {
					fail("bad TYPE")
				}
				switch f[3] {
				case "counter", "gauge", "histogram", "summary", "untyped":
				default:
					fail("unknown type")
				}
				if typed[f[2]] != "" || seen[f[2]] {
					fail("TYPE repeated or after samples")
				}
				typed[f[2]] = f[3]
			}
			continue
		}
		i := strings.IndexAny(line, "{ ")
		if i < 0 {
			fail("no value")
		}
		s := promSample{name: line[:i], labels: map[string]string{}}
		if !promName.MatchString(s.name) {
			fail("bad name")
		}
		rest := line[i:]
		if rest[0] == '{' {
			j := strings.Index(rest, "} ")
			if j < 0 {
				fail("unterminated labels")
			}
			ls := rest[1:j]
			for ls != "" {
				m := promLabel.FindStringSubmatch(ls)
				if m == nil {
					fail("bad label")
				}
				s.labels[m[1]] = m[2]
				ls = ls[len(m[0]):]
			}
			rest = rest[j+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 1 || len(f) > 2 {
			fail("bad value")
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			fail("bad value")
		}
		s.value = v
		fam := s.name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b := strings.TrimSuffix(fam, suf); b != fam && typed[b] == "histogram" {
				fam = b
			}
		}
		seen[fam] = true
		key := sampleKey(s.name, s.labels)
		if _, dup := out[key]; dup {
			fail("duplicate sample")
		}
		out[key] = s
	}
	// Histograms: cumulative buckets, +Inf == _count.
	for key, s := range out {
		if !strings.HasSuffix(s.name, "_count") || typed[strings.TrimSuffix(s.name, "_count")] != "histogram" {
			continue
		}
		base := strings.TrimSuffix(s.name, "_count")
		var buckets []promSample
		for _, b := range out {
			if b.name == base+"_bucket" && sameExcept(b.labels, s.labels, "le") {
				buckets = append(buckets, b)
			}
		}
		le := func(b promSample) float64 {
			if b.labels["le"] == "+Inf" {
				return math.Inf(1)
			}
			v, err := strconv.ParseFloat(b.labels["le"], 64)
			if err != nil {
				t.Fatalf("%s: bad le %q", key, b.labels["le"])
			}
			return v
		}
		for i := range buckets {
			for j := range buckets {
				if le(buckets[i]) < le(buckets[j]) && buckets[i].value > buckets[j].value {
					t.Fatalf("%s: buckets not cumulative", key)
				}
			}
		}
		inf := sampleKey(base+"_bucket", with(s.labels, "le", "+Inf"))
		if out[inf].value != s.value {
			t.Fatalf("%s = %v but %s = %v", key, s.value, inf, out[inf].value)
		}
	}
	return out
}

func sameExcept(a, b map[string]string, except string) bool {
	for k, v := range a {
		if k != except && b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if k != except && a[k] != v {
			return false
		}
	}
	return true
}

func with(m map[string]string, k, v string) map[string]string {
	c := map[string]string{k: v}
	for a, b := range m {
		if a != k {
			c[a] = b
		}
	}
	return c
}

// sampleKey is "name{a="x",b="y"}" with labels sorted.
func sampleKey(name string, labels map[string]string) string {
	if len(labels) == 0 {
		return name
	}
	var ks []string
	for k := range labels {
		ks = append(ks, k)
	}
	sortStrings(ks)
	var b strings.Builder
	b.WriteString(name + "{")
	for i, k := range ks {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, labels[k])
	}
	b.WriteString("}")
	return b.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// commandMix runs a known mix of commands: each its own batch, so every one is timed.
func commandMix(c *respConn) {
	c.Do("CONFIG", "RESETSTAT")
	c.Do("SET", "a", "1")
	c.Do("SET", "b", "x")
	for i := 0; i < 10; i++ {
		c.Do("GET", "a")
	}
	for i := 0; i < 3; i++ {
		c.Do("GET", "missing")
	}
	c.Do("INCR", "a")
	c.Do("INCR", "b")                // failed: not an integer
	c.Do("GET")                      // rejected: arity
	c.Do("SET", "a", "b", "PX", "0") // failed
	c.Do("LPUSH", "b", "x")          // sidecache: unknown command; redis: WRONGTYPE
	c.Do("NOSUCHCOMMAND")            // errorstats only
	c.Do("CONFIG", "GET")            // rejected config|get
	c.Do("EXISTS", "a", "b", "missing")
}

// TestMetricsAfterCommandMix: /metrics parses as Prometheus text and counts a known mix of
// commands exactly, with the same numbers as INFO.
func TestMetricsAfterCommandMix(t *testing.T) {
	s := startServerEnv(t, nil)
	c := dialResp(t, s.Addr)
	commandMix(c)
	info := string(c.Do("INFO", "commandstats"))
	stats := string(c.Do("INFO", "stats"))
	status, body := httpGet(t, "http://"+s.admin+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	m := parseProm(t, body)
	f := func(key string, want float64) {
		t.Helper()
		got, ok := m[key]
		if !ok {
			t.Errorf("%s missing", key)
			return
		}
		if got.value != want {
			t.Errorf("%s = %v, want %v", key, got.value, want)
		}
	}
	f(`sidecache_command_calls_total{cmd="get"}`, 13)
	f(`sidecache_command_rejected_calls_total{cmd="get"}`, 1)
	f(`sidecache_command_failed_calls_total{cmd="get"}`, 0)
	f(`sidecache_command_calls_total{cmd="set"}`, 3)
	f(`sidecache_command_failed_calls_total{cmd="set"}`, 1)
	f(`sidecache_command_calls_total{cmd="incr"}`, 2)
	f(`sidecache_command_failed_calls_total{cmd="incr"}`, 1)
	f(`sidecache_command_rejected_calls_total{cmd="config|get"}`, 1)
	f(`sidecache_command_calls_total{cmd="exists"}`, 1)
	f(`sidecache_command_oom_errors_total{cmd="set"}`, 0)
	// Each command was a batch of its own, so every call was timed: the histogram is exact.
	f(`sidecache_command_duration_seconds_count{cmd="get"}`, 13)
	f(`sidecache_command_duration_seconds_bucket{cmd="get",le="+Inf"}`, 13)
	f(`sidecache_command_duration_seconds_count{cmd="set"}`, 3)
	f(`sidecache_errors_total{code="ERR"}`, 6)
	f(`sidecache_error_replies_total`, 6)
	f(`sidecache_keys{db="0"}`, 2)
	f(`sidecache_connected_clients`, 1)
	f(`sidecache_event_loops_stalled`, 0)
	for _, k := range []string{
		"sidecache_keyspace_misses_total", "sidecache_keyspace_hit_ratio", "sidecache_memory_used_bytes",
		"sidecache_memory_max_bytes", "sidecache_memory_rss_bytes", "sidecache_arena_committed_bytes",
		"sidecache_memory_fragmentation_ratio", "sidecache_expired_keys_total", "sidecache_evicted_keys_total",
		"sidecache_connections_accepted_total", "sidecache_connections_rejected_total",
		"sidecache_net_input_bytes_total", "sidecache_net_output_bytes_total", "sidecache_commands_processed_total",
		"go_goroutines", "process_resident_memory_bytes", "process_cpu_seconds_total",
	} {
		if _, ok := m[k]; !ok {
			t.Errorf("%s missing", k)
		}
	}
	// INFO commandstats shows the same counts (the counters never reset in /metrics, and the
	// mix began with CONFIG RESETSTAT: commands before it are the harness's PINGs).
	re := regexp.MustCompile(`cmdstat_([a-z|]+):calls=(\d+),usec=\d+,usec_per_call=[0-9.]+,rejected_calls=(\d+),failed_calls=(\d+)`)
	for _, g := range re.FindAllStringSubmatch(info, -1) {
		if g[1] == "ping" {
			continue
		}
		for i, fam := range []string{"calls", "rejected_calls", "failed_calls"} {
			want, _ := strconv.ParseFloat(g[2+i], 64)
			f(`sidecache_command_`+fam+`_total{cmd="`+g[1]+`"}`, want)
		}
	}
	for _, k := range []string{"keyspace_hits", "keyspace_misses", "total_error_replies"} {
		m := regexp.MustCompile(`\r\n` + k + `:(\d+)\r\n`).FindStringSubmatch(stats)
		if m == nil {
			t.Errorf("INFO stats lacks %s", k)
			continue
		}
		want, _ := strconv.ParseFloat(m[1], 64)
		name := "sidecache_" + k + "_total"
		if k == "total_error_replies" {
			name = "sidecache_error_replies_total"
		}
		f(name, want)
	}
	if !strings.Contains(info, "cmdstat_get:calls=13,") {
		t.Errorf("INFO commandstats:\n%s", info)
	}
}

// TestCommandStatsLikeRedis: INFO commandstats and errorstats count the same as
// redis-server 7.0.15 for the same commands (usec fields masked: they are measured).
func TestCommandStatsLikeRedis(t *testing.T) {
	mix := func(addr string) (string, string) {
		c := dialResp(t, addr)
		commandMix(c)
		c.Do("DEL", "b")
		c.Do("LPUSH", "b", "x") // a list key on Redis is fine; sidecache: unknown command
		// Leave the commands both servers know.
		cs := string(c.Do("INFO", "commandstats"))
		es := string(c.Do("INFO", "errorstats"))
		return cs, es
	}
	sc := startSidecache(t)
	rd := startRedis(t)
	scCmd, scErr := mix(sc.Addr)
	rdCmd, rdErr := mix(rd.Addr)
	norm := func(s string) []string {
		var lines []string
		for _, l := range strings.Split(s, "\r\n") {
			if !strings.HasPrefix(l, "cmdstat_") && !strings.HasPrefix(l, "errorstat_") {
				continue
			}
			if strings.HasPrefix(l, "cmdstat_lpush") {
				continue // sidecache has no lists yet
			}
			lines = append(lines, regexp.MustCompile(`usec=\d+,usec_per_call=[0-9.]+,`).ReplaceAllString(l, ""))
		}
		sortStrings(lines)
		return lines
	}
	if a, b := strings.Join(norm(scCmd), "\n"), strings.Join(norm(rdCmd), "\n"); a != b {
		t.Errorf("commandstats differ\nsidecache:\n%s\nredis:\n%s", a, b)
	}
	// LPUSH (twice): unknown-command ERRs on sidecache, one WRONGTYPE on Redis; the rest of
	// the error replies match.
	scE, rdE := norm(scErr), norm(rdErr)
	if strings.Join(scE, ",") != "errorstat_ERR:count=7" || strings.Join(rdE, ",") != "errorstat_ERR:count=5,errorstat_WRONGTYPE:count=1" {
		t.Errorf("errorstats: sidecache %q, redis %q", scE, rdE)
	}
}

// TestHealthFailsWhileLoopStalled: /health answers 503 while an event loop is blocked (DEBUG
// SLEEP, enabled only with enable-debug-command yes) and 200 again once it runs.
func TestHealthFailsWhileLoopStalled(t *testing.T) {
	s := startServerEnv(t, nil, "--enable-debug-command", "yes")
	health := func() (int, map[string]any) {
		code, body := httpGet(t, "http://"+s.admin+"/health")
		var h map[string]any
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatalf("/health body %q: %v", body, err)
		}
		return code, h
	}
	c := dialResp(t, s.Addr)
	c.Do("PING")
	if code, h := health(); code != 200 || h["status"] != "ok" {
		t.Fatalf("/health before: %d %v", code, h)
	}
	// The loop sleeps far longer than the liveness limit (3s) plus a heartbeat period (1s).
	if err := c.Send(encodeCommand([]string{"DEBUG", "SLEEP", "8"})); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	for {
		code, h := health()
		if code == http.StatusServiceUnavailable {
			if h["status"] != "event loop stalled" || h["stalled_loops"] != float64(1) {
				t.Fatalf("/health while stalled: %v", h)
			}
			break
		}
		if time.Since(sent) > 15*time.Second {
			t.Fatal("/health never failed while the loop slept")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The admin server and /ready are not on the loops: they still answer.
	if code := httpStatus(t, "http://"+s.admin+"/ready"); code != 200 {
		t.Errorf("/ready while stalled: %d", code)
	}
	if rep, err := c.Read(); err != nil || string(rep) != "+OK\r\n" {
		t.Fatalf("DEBUG SLEEP: %q %v", rep, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := health()
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/health did not recover")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The slow command is in the slow log and in the metrics.
	if got := string(c.Do("SLOWLOG", "LEN")); got != ":1\r\n" {
		t.Errorf("SLOWLOG LEN: %q", got)
	}
}

// TestDebugDisabledByDefault: DEBUG is refused unless enable-debug-command is yes.
func TestDebugDisabledByDefault(t *testing.T) {
	s := startSidecache(t)
	c := dialResp(t, s.Addr)
	if got := string(c.Do("DEBUG", "SLEEP", "0")); !strings.HasPrefix(got, "-ERR DEBUG command not allowed.") {
		t.Errorf("DEBUG SLEEP: %q", got)
	}
}

// TestPprofPlacement: pprof is on a loopback admin address, and only on pprof-addr when that
// is set (never on the admin address then).
func TestPprofPlacement(t *testing.T) {
	s := startServerEnv(t, nil)
	if code, _ := httpGet(t, "http://"+s.admin+"/debug/pprof/"); code != 200 {
		t.Errorf("pprof on loopback admin: %d", code)
	}
	pp := "127.0.0.1:" + strconv.Itoa(freePort(t))
	s2 := startServerEnv(t, nil, "--pprof-addr", pp)
	if code, _ := httpGet(t, "http://"+s2.admin+"/debug/pprof/"); code != 404 {
		t.Errorf("pprof on admin with pprof-addr set: %d", code)
	}
	if code, _ := httpGet(t, "http://"+pp+"/debug/pprof/"); code != 200 {
		t.Errorf("pprof on pprof-addr: %d", code)
	}
	if code, _ := httpGet(t, "http://"+pp+"/metrics"); code != 404 {
		t.Errorf("/metrics on pprof-addr: %d", code)
	}
	if code, _ := httpGet(t, "http://"+s2.admin+"/metrics"); code != 200 {
		t.Errorf("/metrics on admin: %d", code)
	}
	// /debug/pprof/gc runs a full collection (results/gc-latency forces GCs with it): the
	// runtime's forced-cycle counter must move, and it lives where pprof lives.
	forced := func() string {
		_, body := httpGet(t, "http://"+s.admin+"/metrics")
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "go_gc_forced_count ") {
				return l
			}
		}
		t.Fatal("no go_gc_forced_count in /metrics")
		return ""
	}
	before := forced()
	if code, _ := httpGet(t, "http://"+s.admin+"/debug/pprof/gc"); code != http.StatusNoContent {
		t.Errorf("/debug/pprof/gc: %d", code)
	}
	if after := forced(); after == before {
		t.Errorf("/debug/pprof/gc did not force a collection: %q before and after", after)
	}
	if code, _ := httpGet(t, "http://"+s2.admin+"/debug/pprof/gc"); code != 404 {
		t.Errorf("/debug/pprof/gc on admin with pprof-addr set: %d", code)
	}
}
