package command

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// newHarnessArgs is newHarness with settings loaded as flags ("--name", "value" ...).
func newHarnessArgs(t testing.TB, flags ...string) *harness {
	t.Helper()
	e, err := engine.Open(engine.Config{Databases: 16, Segments: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	cfg, _, err := config.Load(flags, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Options{Engine: e, Config: cfg, Version: "0.0.0-test"})
	c := s.NewClient("127.0.0.1:40000", "127.0.0.1:6379", false)
	return &harness{t: t, e: e, cfg: cfg, s: s, c: c, now: testNow}
}

func TestLatencyBucket(t *testing.T) {
	f := func(d time.Duration, want int) {
		t.Helper()
		if got := latencyBucket(d); got != want {
			t.Errorf("latencyBucket(%v) = %d, want %d", d, got, want)
		}
	}
	f(0, 0)
	f(999, 0)
	f(time.Microsecond, 0)
	f(time.Microsecond+1, 1)
	f(2*time.Microsecond, 1)
	f(2*time.Microsecond+1, 2)
	f(4*time.Microsecond, 2)
	f(1000*time.Microsecond, 10)
	f(1<<24*time.Microsecond, 24)
	f(1<<24*time.Microsecond+1, 25)
	f(time.Hour, 25)
}

// usecRe drops the measured parts of commandstats lines, which differ from run to run.
var usecRe = regexp.MustCompile(`usec=\d+,usec_per_call=[0-9.]+,`)

func infoLines(h *harness, section string) []string {
	raw := h.run("info", section)
	body := raw[strings.Index(raw, "\r\n")+2:]
	var lines []string
	for _, l := range strings.Split(body, "\r\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, usecRe.ReplaceAllString(l, ""))
		}
	}
	return lines
}

// TestCommandStatsCounts: calls, rejected and failed calls and error replies are counted
// exactly, per command, with Redis's rules (checked against redis-server 7.0.15: arity and
// NOAUTH errors are rejected_calls; unknown commands and subcommands count in errorstats
// only; an error reply from a command that ran is a failed call and a call).
func TestCommandStatsCounts(t *testing.T) {
	h := newHarness(t)
	h.run("set", "a", "1")
	for i := 0; i < 40; i++ {
		h.run("get", "a")
	}
	h.run("get")                      // rejected
	h.run("get", "a", "b")            // rejected
	h.run("set", "a", "x")            // ok
	h.run("incr", "a")                // failed: not an integer
	h.run("set", "a", "b", "px", "0") // failed
	h.run("foo")                      // errorstat only
	h.run("client", "nosuch")         // errorstat only
	h.run("config", "get")            // rejected config|get
	want := []string{
		"cmdstat_config|get:calls=0,rejected_calls=1,failed_calls=0",
		"cmdstat_get:calls=40,rejected_calls=2,failed_calls=0",
		"cmdstat_incr:calls=1,rejected_calls=0,failed_calls=1",
		"cmdstat_set:calls=3,rejected_calls=0,failed_calls=1",
	}
	if got := infoLines(h, "commandstats"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commandstats:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := infoLines(h, "errorstats"); strings.Join(got, ",") != "errorstat_ERR:count=7" {
		t.Errorf("errorstats: %q", got)
	}
	if got := h.run("info", "stats"); !strings.Contains(got, "\r\ntotal_error_replies:7\r\n") {
		t.Errorf("total_error_replies missing or wrong:\n%s", got)
	}
	// The histograms hold every call at least once sampled or timed; INFO itself is counted.
	for _, st := range h.s.CommandStats(false) {
		if st.Name == "get" && st.Calls != 40 {
			t.Errorf("get: %+v", st)
		}
	}

	h.run("config", "resetstat")
	if got := infoLines(h, "commandstats"); strings.Join(got, ",") != "cmdstat_config|resetstat:calls=1,rejected_calls=0,failed_calls=0" {
		t.Errorf("after RESETSTAT: %q", got)
	}
	if got := infoLines(h, "errorstats"); len(got) != 0 {
		t.Errorf("errorstats after RESETSTAT: %q", got)
	}
	// /metrics reads the totals since start.
	for _, st := range h.s.CommandStats(false) {
		if st.Name == "get" && (st.Calls != 40 || st.Rejected != 2) {
			t.Errorf("get since start: %+v", st)
		}
	}
}

// TestCommandStatsOOM: an OOM reply counts in errorstats and in the command's OOM counter.
func TestCommandStatsOOM(t *testing.T) {
	h := newHarness(t)
	st := h.c.stats
	// No engine path is needed: count an OOM reply as a command that ran would.
	h.s.afterCall(h.c, lookup(h.s.table, []byte("set")), nil, []byte("-OOM command not allowed when used memory > 'maxmemory'.\r\n"), time.Time{}, 0)
	if got := st.cmds[lookup(h.s.table, []byte("set")).id].oom.v.Load(); got != 1 {
		t.Errorf("oom = %d", got)
	}
	if got := infoLines(h, "errorstats"); strings.Join(got, ",") != "errorstat_OOM:count=1" {
		t.Errorf("errorstats: %q", got)
	}
}

// TestLatencyStatsAllTimed: with slowlog-log-slower-than 0 every command is timed, so the
// histograms count every call exactly; INFO latencystats and LATENCY HISTOGRAM read them.
func TestLatencyStatsAllTimed(t *testing.T) {
	h := newHarnessArgs(t, "--slowlog-log-slower-than", "0")
	for i := 0; i < 5; i++ {
		h.run("set", "k"+strconv.Itoa(i), "v")
	}
	for _, st := range h.s.CommandStats(false) {
		if st.Name == "set" && (st.HistCount() != 5 || st.Calls != 5) {
			t.Errorf("set: calls %d, histogram %d", st.Calls, st.HistCount())
		}
	}
	lines := infoLines(h, "latencystats")
	if len(lines) != 1 || !regexp.MustCompile(`^latency_percentiles_usec_set:p50=\d+\.000,p99=\d+\.000,p99\.9=\d+\.000$`).MatchString(lines[0]) {
		t.Errorf("latencystats: %q", lines)
	}
	got := h.run("latency", "histogram", "SET", "nosuch")
	re := regexp.MustCompile(`^\*2\r\n\$3\r\nset\r\n\*4\r\n\$5\r\ncalls\r\n:5\r\n\$14\r\nhistogram_usec\r\n\*(\d+)\r\n((:\d+\r\n)+)$`)
	m := re.FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("LATENCY HISTOGRAM set: %q", got)
	}
	// Pairs of (bucket bound in us, cumulative count), bounds powers of two, the last count 5.
	nums := strings.Split(strings.TrimSuffix(strings.ReplaceAll(m[2], ":", ""), "\r\n"), "\r\n")
	if n, _ := strconv.Atoi(m[1]); n != len(nums) || nums[len(nums)-1] != "5" {
		t.Errorf("histogram_usec: %q", nums)
	}
	for i := 0; i < len(nums); i += 2 {
		b, _ := strconv.Atoi(nums[i])
		if b&(b-1) != 0 {
			t.Errorf("bound %d is not a power of two", b)
		}
	}
	f := h.f()
	f("latency histogram nosuch", "*0\r\n")
	f("latency latest", "*0\r\n")
	f("latency history command", "*0\r\n")
	f("latency reset", ":0\r\n")
	f("latency graph command", "-ERR No samples available for event 'command'\r\n")
	f("latency history", "-ERR wrong number of arguments for 'latency|history' command\r\n")
	f("latency", "-ERR wrong number of arguments for 'latency' command\r\n")

	h.cfg.Set("latency-tracking", "no")
	if lines := infoLines(h, "latencystats"); len(lines) != 0 {
		t.Errorf("latencystats with latency-tracking no: %q", lines)
	}
}

// TestSampledTimingEstimates: by default a fast command is timed once in latencySampleEvery
// calls, each sample counting for latencySampleEvery calls.
func TestSampledTimingEstimates(t *testing.T) {
	h := newHarness(t)
	for i := 0; i < 10*latencySampleEvery; i++ {
		h.run("get", "a")
	}
	for _, st := range h.s.CommandStats(false) {
		if st.Name == "get" && (st.Calls != 10*latencySampleEvery || st.HistCount() != 10*latencySampleEvery) {
			t.Errorf("get: calls %d, histogram %d", st.Calls, st.HistCount())
		}
	}
}

func TestSlowlog(t *testing.T) {
	h := newHarnessArgs(t, "--slowlog-log-slower-than", "0", "--slowlog-max-len", "3")
	f := h.f()
	f("slowlog reset", "+OK\r\n")
	h.run("client", "setname", "nm")
	h.run("set", "k", "v")
	h.run("auth", "secret")
	got := h.run("slowlog", "get", "2")
	re := regexp.MustCompile(`^\*2\r\n` +
		`\*6\r\n:3\r\n:\d+\r\n:\d+\r\n\*2\r\n\$4\r\nauth\r\n\$10\r\n\(redacted\)\r\n\$15\r\n127\.0\.0\.1:40000\r\n\$2\r\nnm\r\n` +
		`\*6\r\n:2\r\n:\d+\r\n:\d+\r\n\*3\r\n\$3\r\nset\r\n\$1\r\nk\r\n\$1\r\nv\r\n\$15\r\n127\.0\.0\.1:40000\r\n\$2\r\nnm\r\n$`)
	if !re.MatchString(got) {
		t.Errorf("SLOWLOG GET 2: %q", got)
	}
	// The ring keeps the newest 3 (the SLOWLOG GET above is one of them).
	f("slowlog len", ":3\r\n")
	if got := h.run("slowlog", "get", "-1"); strings.Count(got, "*6\r\n") != 3 || !strings.Contains(got, "*6\r\n:4\r\n") {
		t.Errorf("SLOWLOG GET -1: %q", got)
	}
	f("slowlog get -2", "-ERR count should be greater than or equal to -1\r\n")
	f("slowlog get x", "-ERR count should be greater than or equal to -1\r\n")
	f("slowlog len 1", "-ERR wrong number of arguments for 'slowlog|len' command\r\n")
	f("slowlog foo", "-ERR unknown subcommand 'foo'. Try SLOWLOG HELP.\r\n")

	// Long commands: 31 arguments and a marker; long arguments cut at 128 bytes.
	args := []string{"del"}
	for i := 0; i < 40; i++ {
		args = append(args, strings.Repeat("x", 130))
	}
	f("slowlog reset", "+OK\r\n")
	h.run(args...)
	got = h.run("slowlog", "get", "1")
	if !strings.Contains(got, "\r\n*32\r\n$3\r\ndel\r\n$146\r\n"+strings.Repeat("x", 128)+"... (2 more bytes)\r\n") ||
		!strings.Contains(got, "$23\r\n... (10 more arguments)\r\n") {
		t.Errorf("long command: %.300q", got)
	}

	h.cfg.Set("slowlog-log-slower-than", "-1")
	f("slowlog reset", "+OK\r\n")
	h.run("debug", "sleep", "0")
	f("slowlog len", ":0\r\n")
}

func TestDebug(t *testing.T) {
	h := newHarness(t)
	h.f()("debug sleep 0", "-"+errDebugDisabled+"\r\n")
	if got := infoLines(h, "commandstats"); strings.Join(got, ",") != "cmdstat_debug:calls=0,rejected_calls=1,failed_calls=0" {
		t.Errorf("commandstats: %q", got)
	}

	h = newHarnessArgs(t, "--enable-debug-command", "yes", "--slowlog-log-slower-than", "1000")
	f := h.f()
	f("debug sleep 0", "+OK\r\n")
	f("debug sleep x", "+OK\r\n")
	f("debug sleep", "-ERR unknown subcommand or wrong number of arguments for 'sleep'. Try DEBUG HELP.\r\n")
	f("debug nosuch", "-ERR unknown subcommand or wrong number of arguments for 'nosuch'. Try DEBUG HELP.\r\n")
	f("debug", "-ERR wrong number of arguments for 'debug' command\r\n")
	f("slowlog len", ":0\r\n")
	f("debug sleep 0.002", "+OK\r\n") // DEBUG is always timed: the slow log has it
	f("slowlog len", ":1\r\n")
}

// TestExecTimed: a command that is a batch of its own is timed from the batch start, always
// (weight 1), and logged when slow.
func TestExecTimed(t *testing.T) {
	h := newHarness(t)
	args := [][]byte{[]byte("GET"), []byte("k")}
	for i := 0; i < 3; i++ {
		h.s.ExecTimed(h.c, args, h.now, time.Now(), nil)
	}
	h.s.ExecTimed(h.c, args, h.now, time.Now().Add(-20*time.Millisecond), nil)
	for _, st := range h.s.CommandStats(false) {
		if st.Name == "get" && (st.Calls != 4 || st.HistCount() != 4 || st.Hist[latencyBucket(20*time.Millisecond)] != 1) {
			t.Errorf("get: calls %d, histogram %v", st.Calls, st.Hist)
		}
	}
	if got := h.run("slowlog", "get"); !regexp.MustCompile(`^\*1\r\n\*6\r\n:0\r\n:\d+\r\n:2\d{4}\r\n\*2\r\n\$3\r\nGET\r\n`).MatchString(got) {
		t.Errorf("SLOWLOG GET: %q", got)
	}
}

// TestTimedPathAllocs: timing every command, and logging every one in a full slow log, adds
// no allocation to GET (DESIGN invariant 4).
func TestTimedPathAllocs(t *testing.T) {
	h := newHarnessArgs(t, "--slowlog-log-slower-than", "0")
	h.run("set", "k", "value")
	args := [][]byte{[]byte("GET"), []byte("k")}
	out := make([]byte, 0, 256)
	for i := 0; i < 200; i++ { // fill the slow log's ring
		out = h.s.Exec(h.c, args, h.now, out[:0])
	}
	if n := testing.AllocsPerRun(200, func() { out = h.s.Exec(h.c, args, h.now, out[:0]) }); n != 0 {
		t.Errorf("GET timed and logged: %v allocations per run", n)
	}
	h.cfg.Set("slowlog-log-slower-than", "10000")
	if n := testing.AllocsPerRun(200, func() { out = h.s.Exec(h.c, args, h.now, out[:0]) }); n != 0 {
		t.Errorf("GET sampled: %v allocations per run", n)
	}
	if string(out) != "$5\r\nvalue\r\n" {
		t.Errorf("reply %q", out)
	}
}

var _ = protocol.RESP2
