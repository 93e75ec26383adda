package command

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// NetStats are the counters netpoll keeps; INFO reports them when Options.NetStats is set.
type NetStats struct {
	InputBytes          int64
	OutputBytes         int64
	RejectedConnections int64
	// EvictedClients counts clients closed by maxmemory-clients, OutputBufferLimitClosed
	// clients closed by client-output-buffer-limit; ClientMemory is the bytes all client
	// buffers hold now.
	EvictedClients          int64
	OutputBufferLimitClosed int64
	ClientMemory            int64
}

func cmdTime(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	t := time.Now()
	var num [20]byte
	out = protocol.AppendArrayLen(out, 2)
	out = protocol.AppendBulk(out, strconv.AppendInt(num[:0], t.Unix(), 10))
	return protocol.AppendBulk(out, strconv.AppendInt(num[:0], int64(t.Nanosecond()/1000), 10))
}

// info sections in the order Redis prints them.
const (
	secServer = 1 << iota
	secClients
	secMemory
	secPersistence
	secStats
	secReplication
	secCPU
	secModules
	secCommandstats
	secErrorstats
	secLatencystats
	secCluster
	secKeyspace
	secUpstream // upstream mode only (upstream.go)

	secDefault = secServer | secClients | secMemory | secPersistence | secStats | secReplication |
		secCPU | secModules | secErrorstats | secCluster | secKeyspace | secUpstream
	secAll = secDefault | secCommandstats | secLatencystats
)

var sectionNames = []struct {
	name string
	bit  int
}{
	{"server", secServer}, {"clients", secClients}, {"memory", secMemory},
	{"persistence", secPersistence}, {"stats", secStats}, {"replication", secReplication},
	{"cpu", secCPU}, {"modules", secModules}, {"commandstats", secCommandstats},
	{"errorstats", secErrorstats}, {"latencystats", secLatencystats}, {"cluster", secCluster},
	{"keyspace", secKeyspace}, {"upstream", secUpstream},
}

// cmdInfo answers INFO [section ...]: "default" (no argument), "all", "everything" or
// section names, case-insensitive; unknown names add nothing. The text uses CRLF line ends
// and a blank line between sections; RESP3 gets a verbatim "txt" string.
func cmdInfo(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	sections := 0
	if len(args) == 1 {
		sections = secDefault
	}
	for _, a := range args[1:] {
		switch {
		case eqFold(a, "default"):
			sections |= secDefault
		case eqFold(a, "all"), eqFold(a, "everything"):
			sections |= secAll
		default:
			for _, sn := range sectionNames {
				if eqFold(a, sn.name) {
					sections |= sn.bit
				}
			}
		}
	}
	buf := s.AppendInfo(c.scratch[:0], sections, now)
	out = protocol.AppendVerbatim(out, c.Proto, "txt", buf)
	c.keepScratch(buf)
	return out
}

// infoWriter builds INFO text.
type infoWriter struct {
	b     []byte
	count int
}

func (w *infoWriter) section(name string) {
	if w.count > 0 {
		w.b = append(w.b, "\r\n"...)
	}
	w.count++
	w.b = append(w.b, "# "...)
	w.b = append(w.b, name...)
	w.b = append(w.b, "\r\n"...)
}

func (w *infoWriter) str(k, v string) {
	w.b = append(w.b, k...)
	w.b = append(w.b, ':')
	w.b = append(w.b, v...)
	w.b = append(w.b, "\r\n"...)
}

func (w *infoWriter) int(k string, v int64) {
	w.b = append(w.b, k...)
	w.b = append(w.b, ':')
	w.b = strconv.AppendInt(w.b, v, 10)
	w.b = append(w.b, "\r\n"...)
}

// float writes v with prec decimals, as C's "%.<prec>f".
func (w *infoWriter) float(k string, v float64, prec int) {
	w.b = append(w.b, k...)
	w.b = append(w.b, ':')
	w.b = strconv.AppendFloat(w.b, v, 'f', prec, 64)
	w.b = append(w.b, "\r\n"...)
}

// bytesToHuman is Redis's bytesToHuman: B below 1 KiB, else two decimals and K/M/G/T/P.
func bytesToHuman(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	units := "KMGTP"
	d := float64(n) / 1024
	i := 0
	for d >= 1024 && i < len(units)-1 {
		d /= 1024
		i++
	}
	return strconv.FormatFloat(d, 'f', 2, 64) + units[i:i+1]
}

// runID is this process's run_id, 40 hex characters as Redis's.
var runID = func() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// cfgGet returns a setting's CONFIG GET value, or def if it is not registered.
func (s *Server) cfgGet(name, def string) string {
	if s.cfg == nil {
		return def
	}
	if v, ok := s.cfg.Get(name); ok {
		return v
	}
	return def
}

// stats returns the engine's counters minus those at the last CONFIG RESETSTAT.
func (s *Server) stats() engine.Stats {
	st := s.eng.Stats()
	s.statsMu.Lock()
	b := s.statsBase
	s.statsMu.Unlock()
	st.ExpiredKeys -= b.ExpiredKeys
	st.EvictedKeys -= b.EvictedKeys
	st.KeyspaceHits -= b.KeyspaceHits
	st.KeyspaceMisses -= b.KeyspaceMisses
	return st
}

// TotalCommands returns the number of commands executed since start (or RESETSTAT).
func (s *Server) TotalCommands() int64 {
	s.clientsMu.Lock()
	n := s.releasedCommands
	for _, c := range s.clients {
		n += c.commands.Load()
	}
	s.clientsMu.Unlock()
	s.statsMu.Lock()
	n -= s.commandsBase
	s.statsMu.Unlock()
	return n
}

// RSS returns the process's resident set size in bytes, 0 if unknown: INFO's
// used_memory_rss and the admin server's /metrics read the same figure.
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// AppendInfo appends the INFO text of the given sections (a mask of sec* bits).
func (s *Server) AppendInfo(dst []byte, sections int, now int64) []byte {
	w := infoWriter{b: dst}
	var st engine.Stats
	if sections&(secMemory|secStats|secKeyspace) != 0 {
		st = s.stats()
	}
	if sections&secServer != 0 {
		up := time.Since(s.started)
		exe, _ := os.Executable()
		w.section("Server")
		w.str("redis_version", redisVersion)
		w.str("sidecache_version", s.version)
		w.str("redis_git_sha1", "00000000")
		w.str("redis_git_dirty", "0")
		w.str("redis_build_id", "0")
		w.str("redis_mode", "standalone")
		w.str("os", runtime.GOOS+" "+runtime.GOARCH)
		w.int("arch_bits", strconv.IntSize)
		w.str("monotonic_clock", "POSIX clock_gettime")
		w.str("multiplexing_api", "epoll")
		w.str("atomicvar_api", "c11-builtin")
		w.str("go_version", runtime.Version())
		w.int("process_id", int64(os.Getpid()))
		w.str("process_supervised", "no")
		w.str("run_id", runID)
		w.str("tcp_port", s.cfgGet("port", "6379"))
		w.int("server_time_usec", now*1000)
		w.int("uptime_in_seconds", int64(up/time.Second))
		w.int("uptime_in_days", int64(up/(24*time.Hour)))
		w.str("hz", s.cfgGet("hz", "10"))
		w.str("configured_hz", s.cfgGet("hz", "10"))
		w.int("lru_clock", (now/1000)&(1<<24-1))
		w.str("executable", exe)
		w.str("config_file", s.cfgGet("config-file", ""))
		w.str("io_threads_active", "0")
	}
	if sections&secClients != 0 {
		w.section("Clients")
		w.int("connected_clients", int64(s.Clients()))
		w.str("cluster_connections", "0")
		w.str("maxclients", s.cfgGet("maxclients", "10000"))
		w.str("client_recent_max_input_buffer", "0")
		w.str("client_recent_max_output_buffer", "0")
		w.int("blocked_clients", s.blockedClients())
		w.int("tracking_clients", s.tracker.Clients())
		w.str("clients_in_timeout_table", "0")
	}
	if sections&secMemory != 0 {
		r := RSS()
		peak := s.notePeak(st.UsedMemory)
		maxmemN := s.eng.MaxMemory()
		w.section("Memory")
		w.int("used_memory", st.UsedMemory)
		w.str("used_memory_human", bytesToHuman(st.UsedMemory))
		w.int("used_memory_rss", r)
		w.str("used_memory_rss_human", bytesToHuman(r))
		w.int("used_memory_peak", peak)
		w.str("used_memory_peak_human", bytesToHuman(peak))
		perc := 0.0
		if peak > 0 {
			perc = float64(st.UsedMemory) * 100 / float64(peak)
		}
		w.b = strconv.AppendFloat(append(w.b, "used_memory_peak_perc:"...), perc, 'f', 2, 64)
		w.b = append(w.b, "%\r\n"...)
		w.int("used_memory_overhead", st.IndexBytes)
		w.str("used_memory_startup", "0") // the arena starts empty
		w.int("used_memory_dataset", st.UsedMemory-st.IndexBytes)
		dperc := 0.0
		if st.UsedMemory > 0 {
			dperc = float64(st.UsedMemory-st.IndexBytes) * 100 / float64(st.UsedMemory)
		}
		w.b = strconv.AppendFloat(append(w.b, "used_memory_dataset_perc:"...), dperc, 'f', 2, 64)
		w.b = append(w.b, "%\r\n"...)
		sysMem := totalSystemMemory()
		w.int("total_system_memory", sysMem)
		w.str("total_system_memory_human", bytesToHuman(sysMem))
		w.int("arena_committed", st.ArenaCommitted)
		w.int("index_bytes", st.IndexBytes)
		w.int("large_values_bytes", st.LargeBytes)
		w.int("maxmemory", maxmemN)
		w.str("maxmemory_human", bytesToHuman(maxmemN))
		w.str("maxmemory_policy", s.eng.Policy().String())
		s.appendMemorySizing(&w)
		frag := 0.0
		if st.UsedMemory > 0 {
			frag = float64(r) / float64(st.UsedMemory)
		}
		w.float("mem_fragmentation_ratio", frag, 2)
		w.int("mem_fragmentation_bytes", r-st.UsedMemory)
		// No AOF, replicas or cluster links hold memory here.
		w.str("mem_not_counted_for_evict", "0")
		w.str("mem_replication_backlog", "0")
		w.str("mem_total_replication_buffers", "0")
		w.str("mem_clients_slaves", "0")
		w.int("mem_clients_normal", s.clientMemory())
		w.str("mem_cluster_links", "0")
		w.str("mem_aof_buffer", "0")
		w.str("mem_allocator", "sidecache-arena")
		w.str("active_defrag_running", "0")
		w.str("lazyfree_pending_objects", "0")
		w.str("lazyfreed_objects", "0")
	}
	if sections&secPersistence != 0 {
		// Redis 7.0's fields for a server that never saved, forked or loaded (no RDB, no AOF);
		// the last save time is the start, as LASTSAVE reports.
		w.section("Persistence")
		for _, f := range []string{"loading", "async_loading", "current_cow_peak", "current_cow_size",
			"current_cow_size_age"} {
			w.str(f, "0")
		}
		w.str("current_fork_perc", "0.00")
		w.str("current_save_keys_processed", "0")
		w.str("current_save_keys_total", "0")
		w.str("rdb_changes_since_last_save", "0")
		w.str("rdb_bgsave_in_progress", "0")
		w.int("rdb_last_save_time", s.started.Unix())
		w.str("rdb_last_bgsave_status", "ok")
		w.str("rdb_last_bgsave_time_sec", "-1")
		w.str("rdb_current_bgsave_time_sec", "-1")
		for _, f := range []string{"rdb_saves", "rdb_last_cow_size", "rdb_last_load_keys_expired",
			"rdb_last_load_keys_loaded", "aof_enabled", "aof_rewrite_in_progress", "aof_rewrite_scheduled"} {
			w.str(f, "0")
		}
		w.str("aof_last_rewrite_time_sec", "-1")
		w.str("aof_current_rewrite_time_sec", "-1")
		w.str("aof_last_bgrewrite_status", "ok")
		w.str("aof_rewrites", "0")
		w.str("aof_rewrites_consecutive_failures", "0")
		w.str("aof_last_write_status", "ok")
		for _, f := range []string{"aof_last_cow_size", "module_fork_in_progress", "module_fork_last_cow_size"} {
			w.str(f, "0")
		}
	}
	if sections&secStats != 0 {
		var ns NetStats
		if s.netStats != nil {
			ns = s.netStatsSinceReset()
		}
		w.section("Stats")
		w.int("total_connections_received", s.connectionsReceived.Load())
		w.int("total_commands_processed", s.TotalCommands())
		w.str("instantaneous_ops_per_sec", "0")
		w.int("total_net_input_bytes", ns.InputBytes)
		w.int("total_net_output_bytes", ns.OutputBytes)
		w.str("total_net_repl_input_bytes", "0") // no replication
		w.str("total_net_repl_output_bytes", "0")
		w.str("instantaneous_input_repl_kbps", "0.00")
		w.str("instantaneous_output_repl_kbps", "0.00")
		w.int("rejected_connections", ns.RejectedConnections)
		w.str("sync_full", "0")
		w.str("sync_partial_ok", "0")
		w.str("sync_partial_err", "0")
		w.int("expired_keys", st.ExpiredKeys)
		w.int("evicted_keys", st.EvictedKeys)
		w.int("evicted_clients", ns.EvictedClients)
		w.int("keyspace_hits", st.KeyspaceHits)
		w.int("keyspace_misses", st.KeyspaceMisses)
		w.int("pubsub_channels", int64(s.channels.NumChannels()))
		w.int("pubsub_patterns", int64(s.channels.NumPatterns()))
		w.int("pubsubshard_channels", int64(s.shardChs.NumChannels()))
		// Nothing forks, migrates, defragments or replicates here.
		for _, f := range []string{"latest_fork_usec", "total_forks", "migrate_cached_sockets",
			"slave_expires_tracked_keys", "active_defrag_hits", "active_defrag_misses",
			"active_defrag_key_hits", "active_defrag_key_misses", "total_active_defrag_time",
			"current_active_defrag_time"} {
			w.str(f, "0")
		}
		w.int("tracking_total_keys", s.tracker.Keys())
		w.int("tracking_total_items", s.tracker.Items())
		w.int("tracking_total_prefixes", s.tracker.Prefixes())
		w.str("unexpected_error_replies", "0")
		w.int("total_error_replies", int64(s.errorRepliesSinceReset()))
		w.str("dump_payload_sanitizations", "0") // no RESTORE
		w.str("io_threaded_reads_processed", "0")
		w.str("io_threaded_writes_processed", "0")
		// Redis 7.2's ACL counters.
		w.int("acl_access_denied_auth", s.deniedAuth.Load())
		w.int("acl_access_denied_cmd", s.deniedCmd.Load())
		w.int("acl_access_denied_key", s.deniedKey.Load())
		w.int("acl_access_denied_channel", s.deniedChannel.Load())
		// Redis 7.4's name; 7.0 has no such counter.
		w.int("client_output_buffer_limit_disconnections", ns.OutputBufferLimitClosed)
	}
	if sections&secReplication != 0 {
		w.section("Replication")
		w.str("role", "master")
		w.str("connected_slaves", "0")
		w.str("master_failover_state", "no-failover")
		w.str("master_replid", runID)
		w.str("master_replid2", "0000000000000000000000000000000000000000")
		w.str("master_repl_offset", "0")
		w.str("second_repl_offset", "-1")
		w.str("repl_backlog_active", "0")
		w.str("repl_backlog_size", "1048576")
		w.str("repl_backlog_first_byte_offset", "0")
		w.str("repl_backlog_histlen", "0")
	}
	if sections&secCPU != 0 {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		w.section("CPU")
		w.b = appendTimeval(append(w.b, "used_cpu_sys:"...), ru.Stime)
		w.b = appendTimeval(append(w.b, "used_cpu_user:"...), ru.Utime)
		w.str("used_cpu_sys_children", "0.000000")
		w.str("used_cpu_user_children", "0.000000")
	}
	if sections&secModules != 0 {
		w.section("Modules")
	}
	if sections&secCommandstats != 0 {
		w.section("Commandstats")
		s.appendCommandStats(&w)
	}
	if sections&secErrorstats != 0 {
		w.section("Errorstats")
		s.appendErrorStats(&w)
	}
	if sections&secLatencystats != 0 {
		w.section("Latencystats")
		s.appendLatencyStats(&w)
	}
	if sections&secCluster != 0 {
		w.section("Cluster")
		w.str("cluster_enabled", "0")
	}
	if sections&secUpstream != 0 && s.up != nil {
		w.section("Upstream")
		w.b = s.up.AppendInfo(w.b)
	}
	if sections&secKeyspace != 0 {
		w.section("Keyspace")
		for i := 0; i < s.eng.NumDBs(); i++ {
			db := s.eng.DB(i)
			keys := db.Len()
			if keys == 0 {
				continue
			}
			w.b = append(w.b, "db"...)
			w.b = strconv.AppendInt(w.b, int64(i), 10)
			w.b = append(w.b, ":keys="...)
			w.b = strconv.AppendInt(w.b, keys, 10)
			w.b = append(w.b, ",expires="...)
			w.b = strconv.AppendInt(w.b, db.Expires(), 10)
			w.b = append(w.b, ",avg_ttl="...)
			w.b = strconv.AppendInt(w.b, db.AvgTTL(), 10)
			w.b = append(w.b, "\r\n"...)
		}
	}
	return w.b
}

// appendTimeval appends tv as "%ld.%06ld" and a CRLF.
func appendTimeval(dst []byte, tv syscall.Timeval) []byte {
	dst = strconv.AppendInt(dst, int64(tv.Sec), 10)
	dst = append(dst, '.')
	us := strconv.AppendInt(nil, int64(tv.Usec), 10)
	for i := len(us); i < 6; i++ {
		dst = append(dst, '0')
	}
	dst = append(dst, us...)
	return append(dst, "\r\n"...)
}
