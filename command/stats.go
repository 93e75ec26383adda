package command

import (
	"math/bits"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidecache/sidecache/config"
)

// Command statistics: calls, failures, rejections, error replies and latency, kept in
// LoopStats shards (one per event loop) and summed when INFO or /metrics reads them, so the
// hot path never touches a cache line another loop writes.
//
// Timing. Reading the clock costs more than the rest of the bookkeeping (40-60 ns on a VM's
// kvm-clock), so a command is timed only when
//   - it is a batch of its own (ExecTimed: the usual request/response client). netpoll reads
//     the clock at the start of every batch anyway; one more read at the end times it, or
//   - it may run long whatever its arguments say (no "fast" flag and no "denyoom" flag: KEYS,
//     SCAN, FLUSHALL, DEL, INFO, CLIENT LIST, DEBUG ...), or has more than timedArgs
//     arguments, or slowlog-log-slower-than is 0 (Redis then logs every command), or
//   - otherwise (fast commands inside pipelined batches), it is one of every
//     latencySampleEvery such commands of its client: it then counts for latencySampleEvery
//     calls, so sums and histogram counts estimate all calls without bias.
// The first two are timed at weight 1 (exactly). Every timed command is checked against
// slowlog-log-slower-than: a slow fast command in the middle of a pipeline can be missed.
//
// Hence: calls, failed_calls, rejected_calls, errorstats and total_error_replies are exact;
// INFO commandstats usec and usec_per_call, the latency histograms (INFO latencystats,
// LATENCY HISTOGRAM, sidecache_command_duration_seconds) and their counts are exact for
// commands timed at weight 1 and estimates for the sampled ones.

const (
	// latencySampleEvery is how often an eligible command is timed (a power of two).
	latencySampleEvery = 32
	// timedArgs: commands with more arguments are always timed (MGET, MSET, DEL of many keys).
	timedArgs = 16
	// NumLatencyBuckets is the number of latency buckets: bucket i holds durations up to
	// 2^i microseconds (1 us .. 2^24 us, about 16.8 s), the last one everything longer.
	NumLatencyBuckets = 26
)

// LatencyBucketBound returns bucket i's upper bound in microseconds; the last bucket has
// none (+Inf) and returns -1.
func LatencyBucketBound(i int) int64 {
	if i >= NumLatencyBuckets-1 {
		return -1
	}
	return 1 << i
}

// latencyBucket returns the bucket of a duration.
func latencyBucket(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	i := bits.Len64(uint64(d-1) / 1000)
	if i > NumLatencyBuckets-1 {
		i = NumLatencyBuckets - 1
	}
	return i
}

// counter is written by one goroutine (its loop) and read by any. The writer adds with a load
// and a store, not a locked add; shards written by several goroutines use atomic adds.
type counter struct{ v atomic.Uint64 }

func (c *counter) add(shared bool, n uint64) {
	if shared {
		c.v.Add(n)
		return
	}
	c.v.Store(c.v.Load() + n)
}

// cmdCounters are one command's counters in one shard.
type cmdCounters struct {
	calls, failed, rejected, oom counter
	// usecNs is the estimated total run time in ns (every timed call, weighted); histNs and
	// hist are the same for the latency histogram, updated only while latency-tracking is on.
	usecNs, histNs counter
	hist           [NumLatencyBuckets]counter
}

// Error codes counted without a lock; the rest go to Server.errOther.
var knownErrors = [...]string{"ERR", "WRONGTYPE", "OOM", "NOAUTH", "WRONGPASS", "NOPROTO", "EXECABORT", "NOPERM", "BUSY", "LOADING"}

const errOOM = 2 // index of "OOM" in knownErrors

// maxErrorCodes bounds the distinct error codes tracked, as Redis's ERRORSTATS_LIMIT.
const maxErrorCodes = 128

// LoopStats is one shard of the command statistics. netpoll gives each event loop its own
// (Server.NewLoopStats) and hands it to the clients of that loop (Client.SetLoopStats): only
// that loop writes it. Clients without one share a few shards written with atomic adds.
type LoopStats struct {
	shared       bool
	cmds         []cmdCounters // by command.id
	errs         [len(knownErrors)]counter
	errorReplies counter
}

// NewLoopStats returns a shard for one event loop, part of the totals from now on; only that
// loop may run the clients given it.
func (s *Server) NewLoopStats() *LoopStats {
	st := &LoopStats{cmds: make([]cmdCounters, len(s.cmdList))}
	s.loopsMu.Lock()
	s.loops = append(s.loops, st)
	s.loopsMu.Unlock()
	return st
}

// SetLoopStats makes c count into st. Call it before c runs commands, on c's loop.
func (c *Client) SetLoopStats(st *LoopStats) { c.stats = st }

// statsState is the Server's part: the command index, shards, the slow log and the bases of
// CONFIG RESETSTAT.
type statsState struct {
	cmdList []*command // by command.id, sorted by name

	loopsMu sync.Mutex
	loops   []*LoopStats // every shard ever handed out, shared ones included

	sharedStats [4]*LoopStats

	// slowlogThreshold is slowlog-log-slower-than in us (-1 off); timeAll is set when it is
	// 0. tracking mirrors latency-tracking.
	slowlogThreshold atomic.Int64
	timeAll          atomic.Bool
	tracking         atomic.Bool
	debugEnabled     bool
	// noTiming turns timing off altogether; only benchmarks set it, to measure its cost.
	noTiming bool

	errMu    sync.Mutex
	errOther map[string]uint64 // error codes beyond knownErrors, under errMu

	slow slowlog

	// cmdBase and errBase are the totals at the last CONFIG RESETSTAT (INFO shows the
	// difference; /metrics never resets).
	baseMu         sync.Mutex
	cmdBase        []CommandStat
	errBase        map[string]uint64
	errRepliesBase uint64
}

// indexCommands gives every command and subcommand an id, in name order.
func indexCommands(t map[string]*command) []*command {
	var list []*command
	for _, cmd := range t {
		list = append(list, cmd)
		for _, sub := range cmd.subs {
			list = append(list, sub)
		}
	}
	slices.SortFunc(list, func(a, b *command) int {
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	for i, cmd := range list {
		cmd.id = i
	}
	return list
}

// initStats sets up the statistics; NewServer calls it once the table exists.
func (s *Server) initStats() {
	s.cmdList = indexCommands(s.table)
	for i := range s.sharedStats {
		s.sharedStats[i] = s.NewLoopStats()
		s.sharedStats[i].shared = true
	}
	s.errOther = map[string]uint64{}
	s.slowlogThreshold.Store(10000)
	s.tracking.Store(true)
	if s.cfg == nil {
		return
	}
	if s.cfg.Lookup("slowlog-log-slower-than") != nil {
		load := func() {
			v := s.cfg.Int("slowlog-log-slower-than")
			s.slowlogThreshold.Store(v)
			s.timeAll.Store(v == 0)
		}
		load()
		s.cfg.OnChange("slowlog-log-slower-than", func(*config.Config) { load() })
	}
	if s.cfg.Lookup("latency-tracking") != nil {
		load := func() { s.tracking.Store(s.cfg.Bool("latency-tracking")) }
		load()
		s.cfg.OnChange("latency-tracking", func(*config.Config) { load() })
	}
	if s.cfg.Lookup("enable-debug-command") != nil {
		s.debugEnabled = s.cfg.Bool("enable-debug-command")
	}
}

// statsFor returns the shard a new client counts into until SetLoopStats.
func (s *Server) statsFor(id int64) *LoopStats { return s.sharedStats[id&int64(len(s.sharedStats)-1)] }

// timing decides whether this call of cmd is timed, and at which weight (0: not timed).
func (s *Server) timing(c *Client, cmd *command, nargs int) uint64 {
	if s.noTiming {
		return 0
	}
	if cmd.flags&(flagFast|flagDenyOOM) == 0 || nargs > timedArgs || s.timeAll.Load() {
		return 1
	}
	c.tick++
	if c.tick&(latencySampleEvery-1) == 0 {
		return latencySampleEvery
	}
	return 0
}

// afterCall counts one executed call whose reply is reply, timed (weight w) if w > 0.
func (s *Server) afterCall(c *Client, cmd *command, args [][]byte, reply []byte, start time.Time, w uint64) {
	st := c.stats
	cc := &st.cmds[cmd.id]
	cc.calls.add(st.shared, 1)
	if len(reply) > 0 && reply[0] == '-' {
		cc.failed.add(st.shared, 1)
		if s.countError(st, reply) == errOOM {
			cc.oom.add(st.shared, 1)
		}
	}
	if w == 0 {
		return
	}
	d := time.Since(start)
	cc.usecNs.add(st.shared, w*uint64(d))
	if s.tracking.Load() {
		cc.histNs.add(st.shared, w*uint64(d))
		cc.hist[latencyBucket(d)].add(st.shared, w)
	}
	if thr := s.slowlogThreshold.Load(); thr >= 0 && d >= time.Duration(thr)*time.Microsecond && cmd.flags&flagSkipSlowlog == 0 {
		s.slowlogAdd(c, cmd, args, d)
	}
}

// reject counts a call refused before it ran (arity, authentication, protected command) and
// its error reply.
func (s *Server) reject(c *Client, cmd *command, reply []byte) {
	st := c.stats
	cc := &st.cmds[cmd.id]
	cc.rejected.add(st.shared, 1)
	if s.countError(st, reply) == errOOM {
		cc.oom.add(st.shared, 1)
	}
}

// countError counts an error reply ("-CODE message\r\n") in errorstats and returns the index
// of its code in knownErrors, or -1.
func (s *Server) countError(st *LoopStats, reply []byte) int {
	st.errorReplies.add(st.shared, 1)
	code := reply[1:]
	for i, ch := range code {
		if ch == ' ' || ch == '\r' {
			code = code[:i]
			break
		}
	}
	for i, k := range knownErrors {
		if string(code) == k {
			st.errs[i].add(st.shared, 1)
			return i
		}
	}
	s.errMu.Lock()
	if _, ok := s.errOther[string(code)]; ok || len(s.errOther)+len(knownErrors) < maxErrorCodes {
		s.errOther[string(code)]++
	}
	s.errMu.Unlock()
	return -1
}

// CountErrorReply counts an error reply sent outside Exec (a protocol error), for errorstats.
func (s *Server) CountErrorReply(c *Client, msg string) {
	b := make([]byte, 0, len(msg)+1)
	b = append(append(b, '-'), msg...)
	s.countError(c.stats, b)
}

// SlowlogThreshold returns slowlog-log-slower-than (negative: the slow log is off).
func (s *Server) SlowlogThreshold() time.Duration {
	v := s.slowlogThreshold.Load()
	if v < 0 {
		return -1
	}
	return time.Duration(v) * time.Microsecond
}

// CommandStat is one command's totals over every shard.
type CommandStat struct {
	Name                         string // "get", "config|get"
	Calls, Failed, Rejected, OOM uint64
	UsecNs                       uint64 // estimated total run time, ns
	HistNs                       uint64 // estimated total run time of the histogram, ns
	Hist                         [NumLatencyBuckets]uint64
}

// HistCount returns the number of calls the histogram holds (an estimate, see above).
func (st *CommandStat) HistCount() uint64 {
	var n uint64
	for _, v := range st.Hist {
		n += v
	}
	return n
}

// Percentile returns the upper bound in us of the bucket holding the p-th percentile (0 <
// p <= 100) of the histogram; the overflow bucket reports twice the last bound.
func (st *CommandStat) Percentile(p float64) float64 {
	total := st.HistCount()
	if total == 0 {
		return 0
	}
	rank := uint64(p / 100 * float64(total))
	if float64(rank) < p/100*float64(total) {
		rank++
	}
	if rank == 0 {
		rank = 1
	}
	var cum uint64
	for i, v := range st.Hist {
		cum += v
		if cum >= rank {
			if b := LatencyBucketBound(i); b >= 0 {
				return float64(b)
			}
		}
	}
	return float64(LatencyBucketBound(NumLatencyBuckets-2) * 2)
}

// CommandStats returns the totals of every command called, rejected or failed at least
// once, in name order: since start, or since the last CONFIG RESETSTAT if sinceReset.
func (s *Server) CommandStats(sinceReset bool) []CommandStat {
	all := s.sumCommandStats()
	if sinceReset {
		s.baseMu.Lock()
		base := s.cmdBase
		s.baseMu.Unlock()
		for i := range all {
			if i < len(base) {
				all[i].sub(&base[i])
			}
		}
	}
	out := all[:0]
	for _, st := range all {
		if st.Calls+st.Failed+st.Rejected > 0 {
			out = append(out, st)
		}
	}
	return out
}

func (a *CommandStat) sub(b *CommandStat) {
	a.Calls -= b.Calls
	a.Failed -= b.Failed
	a.Rejected -= b.Rejected
	a.OOM -= b.OOM
	a.UsecNs -= b.UsecNs
	a.HistNs -= b.HistNs
	for i := range a.Hist {
		a.Hist[i] -= b.Hist[i]
	}
}

// sumCommandStats sums the shards: one CommandStat per command id.
func (s *Server) sumCommandStats() []CommandStat {
	all := make([]CommandStat, len(s.cmdList))
	for i, cmd := range s.cmdList {
		all[i].Name = cmd.name
	}
	s.loopsMu.Lock()
	loops := s.loops
	s.loopsMu.Unlock()
	for _, l := range loops {
		for i := range l.cmds {
			cc, st := &l.cmds[i], &all[i]
			st.Calls += cc.calls.v.Load()
			st.Failed += cc.failed.v.Load()
			st.Rejected += cc.rejected.v.Load()
			st.OOM += cc.oom.v.Load()
			st.UsecNs += cc.usecNs.v.Load()
			st.HistNs += cc.histNs.v.Load()
			for j := range cc.hist {
				st.Hist[j] += cc.hist[j].v.Load()
			}
		}
	}
	return all
}

// ErrorStat is the number of error replies with one code ("ERR", "WRONGTYPE" ...).
type ErrorStat struct {
	Code  string
	Count uint64
}

// ErrorStats returns the error replies by code, in code order, and their total: since start,
// or since the last CONFIG RESETSTAT if sinceReset.
func (s *Server) ErrorStats(sinceReset bool) (stats []ErrorStat, total uint64) {
	m, total := s.sumErrorStats()
	if sinceReset {
		s.baseMu.Lock()
		for k, v := range s.errBase {
			m[k] -= v
		}
		total -= s.errRepliesBase
		s.baseMu.Unlock()
	}
	for k, v := range m {
		if v > 0 {
			stats = append(stats, ErrorStat{k, v})
		}
	}
	slices.SortFunc(stats, func(a, b ErrorStat) int {
		if a.Code < b.Code {
			return -1
		}
		if a.Code > b.Code {
			return 1
		}
		return 0
	})
	return stats, total
}

func (s *Server) sumErrorStats() (map[string]uint64, uint64) {
	m := map[string]uint64{}
	var total uint64
	s.loopsMu.Lock()
	loops := s.loops
	s.loopsMu.Unlock()
	for _, l := range loops {
		for i := range l.errs {
			if v := l.errs[i].v.Load(); v > 0 {
				m[knownErrors[i]] += v
			}
		}
		total += l.errorReplies.v.Load()
	}
	s.errMu.Lock()
	for k, v := range s.errOther {
		m[k] += v
	}
	s.errMu.Unlock()
	return m, total
}

// resetCommandStats makes INFO's command, error and latency statistics start again from
// zero (CONFIG RESETSTAT).
func (s *Server) resetCommandStats() {
	cmds := s.sumCommandStats()
	errs, total := s.sumErrorStats()
	s.baseMu.Lock()
	s.cmdBase, s.errBase, s.errRepliesBase = cmds, errs, total
	s.baseMu.Unlock()
}

// appendCommandStats writes INFO's Commandstats lines, as Redis:
// cmdstat_get:calls=1,usec=6,usec_per_call=6.00,rejected_calls=0,failed_calls=0
func (s *Server) appendCommandStats(w *infoWriter) {
	for _, st := range s.CommandStats(true) {
		usec := st.UsecNs / 1000
		per := 0.0
		if st.Calls > 0 {
			per = float64(usec) / float64(st.Calls)
		}
		w.b = append(w.b, "cmdstat_"...)
		w.b = append(w.b, st.Name...)
		w.b = strconv.AppendUint(append(w.b, ":calls="...), st.Calls, 10)
		w.b = strconv.AppendUint(append(w.b, ",usec="...), usec, 10)
		w.b = strconv.AppendFloat(append(w.b, ",usec_per_call="...), per, 'f', 2, 64)
		w.b = strconv.AppendUint(append(w.b, ",rejected_calls="...), st.Rejected, 10)
		w.b = strconv.AppendUint(append(w.b, ",failed_calls="...), st.Failed, 10)
		w.b = append(w.b, "\r\n"...)
	}
}

// appendErrorStats writes INFO's Errorstats lines: errorstat_ERR:count=6
func (s *Server) appendErrorStats(w *infoWriter) {
	stats, _ := s.ErrorStats(true)
	for _, e := range stats {
		w.b = append(w.b, "errorstat_"...)
		w.b = append(w.b, e.Code...)
		w.b = strconv.AppendUint(append(w.b, ":count="...), e.Count, 10)
		w.b = append(w.b, "\r\n"...)
	}
}

// appendLatencyStats writes INFO's Latencystats lines:
// latency_percentiles_usec_get:p50=1.000,p99=4.000,p99.9=16.000 (bucket upper bounds).
func (s *Server) appendLatencyStats(w *infoWriter) {
	if !s.tracking.Load() {
		return
	}
	for _, st := range s.CommandStats(true) {
		if st.HistCount() == 0 {
			continue
		}
		w.b = append(w.b, "latency_percentiles_usec_"...)
		w.b = append(w.b, st.Name...)
		w.b = strconv.AppendFloat(append(w.b, ":p50="...), st.Percentile(50), 'f', 3, 64)
		w.b = strconv.AppendFloat(append(w.b, ",p99="...), st.Percentile(99), 'f', 3, 64)
		w.b = strconv.AppendFloat(append(w.b, ",p99.9="...), st.Percentile(99.9), 'f', 3, 64)
		w.b = append(w.b, "\r\n"...)
	}
}

// ErrorReplies returns total_error_replies since the last CONFIG RESETSTAT.
func (s *Server) errorRepliesSinceReset() uint64 {
	_, total := s.ErrorStats(true)
	return total
}
