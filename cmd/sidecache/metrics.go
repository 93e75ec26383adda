package main

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/sidecache/sidecache/command"
	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/netpoll"
)

// The /metrics families of sidecache itself, in Prometheus text format (version 0.0.4). All
// are computed at scrape time from the counters the engine, the event loops and the command
// layer keep anyway (per-loop, single-writer shards summed here): nothing is maintained for
// the scrape. Conventions: a sidecache_ prefix, base units (seconds, bytes), _total on
// counters. Counters never reset (CONFIG RESETSTAT resets only what INFO shows); without a
// RESETSTAT, INFO and /metrics show the same numbers.
//
// sidecache_command_duration_seconds is a histogram with le buckets (powers of two from 1 us
// to about 16.8 s) fed by the sampled timing described in command/stats.go: its counts and sum
// estimate all calls (each sample weighs for the calls it stands for); calls, failures and
// errors are exact.

// metricsSource is what the scrape reads.
type metricsSource struct {
	cfg   *config.Config
	eng   *engine.Engine
	cmd   *command.Server
	srv   *netpoll.Server
	start time.Time
}

// promWriter writes families with their HELP and TYPE lines once each.
type promWriter struct {
	b bytes.Buffer
}

func (p *promWriter) family(name, typ, help string) {
	p.b.WriteString("# HELP ")
	p.b.WriteString(name)
	p.b.WriteByte(' ')
	p.b.WriteString(help)
	p.b.WriteString("\n# TYPE ")
	p.b.WriteString(name)
	p.b.WriteByte(' ')
	p.b.WriteString(typ)
	p.b.WriteByte('\n')
}

// sample writes one line; labels are name/value pairs.
func (p *promWriter) sample(name string, v float64, labels ...string) {
	p.b.WriteString(name)
	if len(labels) > 0 {
		p.b.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				p.b.WriteByte(',')
			}
			p.b.WriteString(labels[i])
			p.b.WriteString(`="`)
			p.b.WriteString(escapeLabel(labels[i+1]))
			p.b.WriteByte('"')
		}
		p.b.WriteByte('}')
	}
	p.b.WriteByte(' ')
	p.b.WriteString(formatValue(v))
	p.b.WriteByte('\n')
}

func (p *promWriter) one(name, typ, help string, v float64) {
	p.family(name, typ, help)
	p.sample(name, v)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func formatValue(v float64) string {
	if v == float64(int64(v)) && v < 1e15 && v > -1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// leLabels are the le values of the latency buckets, in seconds.
var leLabels = func() []string {
	l := make([]string, command.NumLatencyBuckets)
	for i := range l {
		if b := command.LatencyBucketBound(i); b >= 0 {
			l[i] = strconv.FormatFloat(float64(b)/1e6, 'g', -1, 64)
		} else {
			l[i] = "+Inf"
		}
	}
	return l
}()

// writeMetrics writes sidecache's families to w.
func writeMetrics(w io.Writer, m *metricsSource) {
	var p promWriter
	st := m.eng.Stats()

	p.one("sidecache_keyspace_hits_total", "counter", "Lookups that found their key.", float64(st.KeyspaceHits))
	p.one("sidecache_keyspace_misses_total", "counter", "Lookups that did not find their key.", float64(st.KeyspaceMisses))
	ratio := 0.0
	if n := st.KeyspaceHits + st.KeyspaceMisses; n > 0 {
		ratio = float64(st.KeyspaceHits) / float64(n)
	}
	p.one("sidecache_keyspace_hit_ratio", "gauge", "keyspace hits / (hits + misses) since start.", ratio)
	p.family("sidecache_keys", "gauge", "Keys per database (databases holding keys).")
	for i := 0; i < m.eng.NumDBs(); i++ {
		if n := m.eng.DB(i).Len(); n > 0 {
			p.sample("sidecache_keys", float64(n), "db", strconv.Itoa(i))
		}
	}
	p.family("sidecache_keys_with_expiry", "gauge", "Keys with a TTL per database (databases holding keys).")
	for i := 0; i < m.eng.NumDBs(); i++ {
		if db := m.eng.DB(i); db.Len() > 0 {
			p.sample("sidecache_keys_with_expiry", float64(db.Expires()), "db", strconv.Itoa(i))
		}
	}
	p.one("sidecache_expired_keys_total", "counter", "Keys removed because their TTL passed.", float64(st.ExpiredKeys))
	p.one("sidecache_evicted_keys_total", "counter", "Keys evicted by maxmemory-policy.", float64(st.EvictedKeys))

	rss := command.RSS()
	p.one("sidecache_memory_used_bytes", "gauge", "used_memory: arena chunks as allocated + index + large values.", float64(st.UsedMemory))
	p.one("sidecache_memory_max_bytes", "gauge", "maxmemory (0: no limit).", float64(m.cfg.Int("maxmemory")))
	p.one("sidecache_memory_rss_bytes", "gauge", "Resident set size of the process.", float64(rss))
	p.one("sidecache_arena_committed_bytes", "gauge", "Bytes of 64 KiB arena pages held by segments.", float64(st.ArenaCommitted))
	p.one("sidecache_index_bytes", "gauge", "Bytes of index mappings.", float64(st.IndexBytes))
	p.one("sidecache_large_values_bytes", "gauge", "Bytes of values beyond the largest size class.", float64(st.LargeBytes))
	frag := 0.0
	if st.UsedMemory > 0 {
		frag = float64(rss) / float64(st.UsedMemory)
	}
	p.one("sidecache_memory_fragmentation_ratio", "gauge", "RSS / used_memory, as INFO mem_fragmentation_ratio.", frag)

	ns := m.srv.Stats()
	in, out := m.srv.Bytes()
	p.one("sidecache_connected_clients", "gauge", "Client connections open now.", float64(ns.Connected.Load()))
	p.one("sidecache_connections_accepted_total", "counter", "Client connections accepted.", float64(ns.Accepted.Load()))
	p.one("sidecache_connections_rejected_total", "counter", "Client connections refused (maxclients, shutting down).", float64(ns.Rejected.Load()))
	p.one("sidecache_net_input_bytes_total", "counter", "Bytes read from clients.", float64(in))
	p.one("sidecache_net_output_bytes_total", "counter", "Bytes written to clients.", float64(out))

	cmds := m.cmd.CommandStats(false)
	var total uint64
	for i := range cmds {
		total += cmds[i].Calls
	}
	p.one("sidecache_commands_processed_total", "counter", "Commands executed (rejected ones excluded).", float64(total))
	for _, f := range []struct {
		name, help string
		value      func(*command.CommandStat) uint64
	}{
		{"sidecache_command_calls_total", "Calls per command, as INFO commandstats calls.",
			func(c *command.CommandStat) uint64 { return c.Calls }},
		{"sidecache_command_failed_calls_total", "Calls that ran and answered an error, as failed_calls.",
			func(c *command.CommandStat) uint64 { return c.Failed }},
		{"sidecache_command_rejected_calls_total", "Calls refused before running (arity, auth ...), as rejected_calls.",
			func(c *command.CommandStat) uint64 { return c.Rejected }},
		{"sidecache_command_oom_errors_total", "Calls answered -OOM (over maxmemory).",
			func(c *command.CommandStat) uint64 { return c.OOM }},
	} {
		p.family(f.name, "counter", f.help)
		for i := range cmds {
			p.sample(f.name, float64(f.value(&cmds[i])), "cmd", cmds[i].Name)
		}
	}
	p.family("sidecache_command_duration_seconds", "histogram", "Command run time, from sampled timing (counts and sum estimate all calls).")
	for i := range cmds {
		c := &cmds[i]
		var cum uint64
		for j, v := range c.Hist {
			cum += v
			p.sample("sidecache_command_duration_seconds_bucket", float64(cum), "cmd", c.Name, "le", leLabels[j])
		}
		p.sample("sidecache_command_duration_seconds_sum", float64(c.HistNs)/1e9, "cmd", c.Name)
		p.sample("sidecache_command_duration_seconds_count", float64(cum), "cmd", c.Name)
	}

	errs, errTotal := m.cmd.ErrorStats(false)
	p.one("sidecache_error_replies_total", "counter", "Error replies sent, as INFO total_error_replies.", float64(errTotal))
	p.family("sidecache_errors_total", "counter", "Error replies by error code, as INFO errorstats.")
	for _, e := range errs {
		p.sample("sidecache_errors_total", float64(e.Count), "code", e.Code)
	}
	writeUpstreamMetrics(&p, m.cmd) // upstream.go
	p.one("sidecache_slowlog_length", "gauge", "Entries in the slow log.", float64(m.cmd.SlowlogLen()))

	loops, stalled := m.srv.LoopHealth(livenessMaxAge)
	p.one("sidecache_event_loops", "gauge", "Event loops watched by the heartbeat (those that served a client).", float64(loops))
	p.one("sidecache_event_loops_stalled", "gauge", "Event loops that missed their heartbeat; /health fails while > 0.", float64(stalled))
	p.one("sidecache_uptime_seconds", "gauge", "Seconds since start.", time.Since(m.start).Seconds())
	p.family("sidecache_build_info", "gauge", "Build information.")
	p.sample("sidecache_build_info", 1, "version", version)
	_, _ = w.Write(p.b.Bytes())
}
