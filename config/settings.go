package config

import (
	"errors"
	"math"
	"net"
)

// Bounds Redis 7 uses (src/config.c), so CONFIG SET accepts and refuses the same values.
const (
	intMax  = math.MaxInt32
	uintMax = math.MaxUint32
	llMax   = math.MaxInt64
	mb      = 1 << 20
)

// MaxMemoryPolicies are the valid maxmemory-policy values; Int("maxmemory-policy") is an
// index into this list (Redis's order).
var MaxMemoryPolicies = []string{"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
	"allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"}

// LogLevels are the valid loglevel values (Redis 7.0's), least severe first.
var LogLevels = []string{"debug", "verbose", "notice", "warning"}

// LogFormats are the valid logformat values: auto is JSON unless stderr is a terminal.
var LogFormats = []string{"auto", "json", "text"}

// registry lists every setting with its default, as a config file would write it.
// immutable settings are fixed once the process has loaded its configuration.
func registry() []*Setting {
	return append([]*Setting{
		// Network.
		{name: "port", def: "6379", immutable: true, parse: intValue(0, 65535),
			help: "TCP port for RESP; 0 disables TCP"},
		{name: "bind", def: "127.0.0.1", immutable: true, multiArg: true, parse: bindValue,
			help: "addresses to listen on, space separated (loopback by default)"},
		{name: "unixsocket", def: "", immutable: true, parse: stringValue,
			help: "path of a Unix socket to listen on as well; empty: none"},
		{name: "unixsocketperm", def: "700", immutable: true, parse: octalValue,
			help: "permissions of the Unix socket, octal"},
		{name: "protected-mode", def: "yes", parse: boolValue,
			help: "refuse non-loopback clients when no password is set"},
		{name: "tcp-keepalive", def: "300", parse: intValue(0, intMax),
			help: "TCP keepalive period, seconds; 0 disables"},
		{name: "timeout", def: "0", parse: intValue(0, intMax),
			help: "close a client idle this many seconds; 0 never"},
		{name: "maxclients", def: "10000", parse: intValue(1, uintMax),
			help: "maximum connected clients"},
		{name: "io-threads", def: "1", immutable: true, parse: intValue(1, 128),
			help: "accepted for Redis compatibility and ignored (event loops follow GOMAXPROCS)"},
		{name: "background-nice", def: "auto", immutable: true, parse: niceValue,
			help: "nice value above the event loops' for every other thread (garbage collector, timers, admin HTTP, upstream client), so they yield the CPU to the loops; 0 off; auto: 10, or 0 with upstream (its invalidations must not wait behind the loops)"},

		// Memory and eviction.
		{name: "maxmemory", def: "auto", parse: maxMemoryValue,
			help: "keyspace memory limit: bytes/size, 0 unlimited, auto = (memory limit - 32mb - maxmemory-clients) / 1.1"},
		{name: "maxmemory-policy", def: "allkeys-lfu", parse: enumValue(MaxMemoryPolicies...),
			help: "eviction policy when maxmemory is reached"},
		{name: "maxmemory-samples", def: "5", parse: intValue(1, intMax),
			help: "keys sampled per eviction"},
		{name: "maxmemory-eviction-tenacity", def: "10", parse: intValue(0, 100),
			help: "eviction effort per write, 0..100"},
		{name: "lfu-log-factor", def: "10", parse: intValue(0, intMax),
			help: "LFU counter logarithm factor"},
		{name: "lfu-decay-time", def: "1", parse: intValue(0, intMax),
			help: "minutes after which an LFU counter halves"},
		{name: "maxmemory-clients", def: "0", parse: memoryOrPercentValue,
			help: "limit on all client buffers together: bytes, N% of maxmemory, 0 none"},
		{name: "active-expire-effort", def: "1", parse: intValue(1, 10),
			help: "active expiry effort, 1..10"},
		{name: "databases", def: "16", immutable: true, parse: intValue(1, intMax),
			help: "number of databases"},
		{name: "hash-max-listpack-entries", alias: "hash-max-ziplist-entries", def: "512", parse: intValue(0, llMax),
			help: "a hash with more fields than this is stored as a table (OBJECT ENCODING hashtable)"},
		{name: "hash-max-listpack-value", alias: "hash-max-ziplist-value", def: "64", parse: sizeValue(0, llMax),
			help: "a hash with a longer field or value is stored as a table"},

		// Limits.
		{name: "proto-max-bulk-len", def: "512mb", parse: sizeValue(mb, llMax),
			help: "largest bulk string accepted"},
		{name: "client-query-buffer-limit", def: "1gb", parse: sizeValue(mb, llMax),
			help: "largest query buffer of one client"},
		// Redis leaves normal clients unlimited; a sidecar cannot afford that (one client that
		// pipelines GETs of a 1 MiB value without reading took 606 MiB of RSS in 4 s). 64mb
		// hard bounds one client's backlog to a fraction of a typical sidecar's memory limit
		// while leaving room for large MGET/GET replies; a backlog that stays over 16mb for
		// 10 s is a client not keeping up, not a burst. Values larger than the hard limit
		// cannot be read by a normal client unless it is raised.
		{name: "client-output-buffer-limit", def: "normal 64mb 16mb 10 replica 256mb 64mb 60 pubsub 32mb 8mb 60",
			multiArg: true, parse: outputBufferLimitValue,
			help: "reply buffer limits: class hard soft seconds, per class"},

		// Security.
		{name: "requirepass", def: "", secret: true, parse: stringValue,
			help: "password of the default user; CONFIG GET shows (redacted)"},
		{name: "enable-debug-command", def: "no", immutable: true, parse: boolValue,
			help: "allow the DEBUG command"},

		// Housekeeping and observability.
		{name: "hz", def: "10", parse: hzValue,
			help: "background task frequency, clamped to 1..500"},
		{name: "slowlog-log-slower-than", def: "10000", parse: intValue(-1, llMax),
			help: "microseconds; -1 disables the slow log, 0 logs every command"},
		{name: "slowlog-max-len", def: "128", parse: intValue(0, llMax),
			help: "entries kept in the slow log"},
		{name: "latency-tracking", def: "yes", parse: boolValue,
			help: "per-command latency histograms"},
		{name: "tracking-table-max-keys", def: "1000000", parse: intValue(0, llMax),
			help: "keys the client-side caching table remembers; past it, random ones are invalidated; 0 unlimited"},
		{name: "loglevel", def: "notice", parse: enumValue(LogLevels...),
			help: "log verbosity"},
		{name: "logformat", def: "auto", immutable: true, parse: enumValue(LogFormats...),
			help: "log format: json, text, auto (json unless stderr is a terminal)"},
		{name: "admin-addr", def: "127.0.0.1:9121", immutable: true, parse: addrValue,
			help: "host:port of the admin HTTP server (/health, /ready, /metrics); empty: off"},
		{name: "pprof-addr", def: "", immutable: true, parse: addrValue,
			help: "host:port serving /debug/pprof/; empty: off"},

		// Persistence: sidecache does not persist; these exist because clients read them.
		{name: "appendonly", def: "no", parse: boolValue,
			help: "accepted for Redis compatibility; sidecache never persists"},
		{name: "save", def: "", multiArg: true, parse: saveValue,
			help: "accepted for Redis compatibility; sidecache never persists"},

		// L1 in front of a central Redis/Valkey (package upstream). Off while upstream is
		// empty: the server is then the cache itself and none of the others apply.
		{name: "upstream", def: "", immutable: true, secret: true, parse: upstreamValue,
			help: "redis[s]://[user:password@]host:port[,host:port...] of a central Redis/Valkey (rediss: TLS, see upstream-tls-*); sidecache becomes its coherent L1; empty: off"},
		{name: "upstream-cluster", def: "no", immutable: true, parse: boolValue,
			help: "the upstream is a Redis Cluster (the hosts are seeds); SELECT is refused, multi-key commands must hash to one slot"},
		{name: "l1-max-ttl", def: "60s", parse: durationValue,
			help: "longest an L1 entry lives (bounded by the upstream's own TTL); a backstop, invalidation removes changed keys at once; 0 disables L1 (pure pass-through)"},
		{name: "l1-nil-ttl", def: "5s", parse: durationValue,
			help: "how long L1 remembers that a key does not exist upstream; 0 does not cache missing keys"},
		{name: "l1-ttl-only", def: "no", immutable: true, parse: boolValue,
			help: "when the upstream refuses CLIENT TRACKING, keep L1 anyway, stale for up to l1-max-ttl (default: L1 off, pure pass-through)"},
		{name: "upstream-timeout", def: "5s", parse: durationValue,
			help: "longest wait for an upstream reply (blocking commands excepted); past it the app gets an error and the breaker counts a failure; 0: no limit"},
		{name: "upstream-breaker-failures", def: "5", parse: intValue(0, intMax),
			help: "consecutive upstream failures (refused, reset, timed out; not error replies) that open the circuit breaker: requests then fail at once; 0: never opens"},
		{name: "upstream-breaker-cooldown", def: "1s", parse: durationValue,
			help: "how long an open breaker fails requests at once before it lets one through as a probe; the probe's success closes it"},
		{name: "upstream-serve-stale", def: "0", parse: intValue(0, intMax),
			help: "seconds L1 is kept after a lost upstream connection, served only while the upstream is unreachable, flushed when it answers again; 0: a lost connection flushes L1"},

		// Shutdown.
		{name: "shutdown-delay", def: "0", parse: durationValue,
			help: "after SIGTERM, keep serving this long before closing listeners (10s, 500ms, seconds)"},
		{name: "shutdown-timeout", def: "10s", parse: durationValue,
			help: "after listeners close, wait this long for in-flight replies"},
	}, append(prewarmSettings(), upstreamConnSettings()...)...) // upstream.go, upstream_tls.go
}

// addrValue is empty (off) or host:port.
func addrValue(_ *Setting, v string) (value, error) {
	if v != "" {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return value{}, errors.New("argument must be host:port or empty")
		}
	}
	return value{text: v}, nil
}
