package main

import (
	"log/slog"

	"github.com/sidecache/sidecache/command"
	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
	"github.com/sidecache/sidecache/upstream"
)

// upstreamAdapter is an *upstream.Upstream as the command layer sees it (neither package
// imports the other).
type upstreamAdapter struct{ *upstream.Upstream }

func (a upstreamAdapter) Open(deliver func([]byte)) command.UpstreamConn {
	return upstreamConn{a.Upstream.Open(deliver)}
}

// upstreamConn is an *upstream.Conn as the command layer sees it, transactions included
// (command.UpstreamTx).
type upstreamConn struct{ *upstream.Conn }

func (c upstreamConn) Exec(db int, proto protocol.Version, cmds []command.UpstreamTxCmd) {
	tc := make([]upstream.TxCmd, len(cmds))
	for i, x := range cmds {
		tc[i] = upstream.TxCmd(x)
	}
	c.Conn.Exec(db, proto, tc)
}

// startUpstream puts the server in upstream mode when the upstream setting is set; stop
// closes the upstream connections. Nothing happens, and nothing costs, otherwise.
func startUpstream(cfg *config.Config, eng *engine.Engine, cmd *command.Server, log *slog.Logger) (stop func(), err error) {
	raw := cfg.String("upstream")
	if raw == "" {
		return func() {}, nil
	}
	u, tlsConf, err := config.UpstreamConnection(cfg)
	if err != nil {
		return nil, err
	}
	prewarmDBs, err := config.PrewarmDBs(cfg) // checked before any connection is made
	if err != nil {
		return nil, err
	}
	if tlsConf != nil && tlsConf.InsecureSkipVerify {
		log.Warn("INSECURE: upstream-tls-skip-verify yes: the upstream's certificate is not verified; anyone on the path can read and change the traffic, passwords included")
	}
	up, err := upstream.New(upstream.Options{
		Addrs:        u.Addrs,
		Username:     u.Username,
		Password:     u.Password,
		TLSConfig:    tlsConf,
		Cluster:      cfg.Bool("upstream-cluster"),
		MaxTTL:       cfg.Duration("l1-max-ttl"),
		NilTTL:       cfg.Duration("l1-nil-ttl"),
		TTLOnly:      cfg.Bool("l1-ttl-only"),
		Engine:       eng,
		Logger:       log,
		OnInvalidate: cmd.TrackInvalidate,
		OnFlush:      cmd.TrackFlush,
	})
	if err != nil {
		return nil, err
	}
	applyUpstreamResilience(cfg, up) // upstream_breaker.go
	cmd.SetUpstream(upstreamAdapter{up})
	for _, name := range []string{"l1-max-ttl", "l1-nil-ttl"} {
		cfg.OnChange(name, func(c *config.Config) { up.SetTTLs(c.Duration("l1-max-ttl"), c.Duration("l1-nil-ttl")) })
	}
	if n := cfg.Int("prewarm-keys"); n > 0 {
		// Serving starts at once; the prewarm fills L1 meanwhile. Close cancels it.
		up.PrewarmStarting()
		go func() {
			_ = up.Prewarm(upstream.PrewarmOptions{
				Keys:    int(n),
				Timeout: cfg.Duration("prewarm-timeout"),
				Match:   cfg.String("prewarm-match"),
				File:    cfg.String("prewarm-file"),
				Rate:    int(cfg.Int("prewarm-rate")),
				DBs:     prewarmDBs,
			})
		}()
	}
	return up.Close, nil
}

// upstreamReady reports whether upstream mode lets /ready answer ready: with prewarm-ready,
// not before the prewarm ended.
func upstreamReady(cfg *config.Config, cmd *command.Server) bool {
	a, ok := cmd.Upstream().(upstreamAdapter)
	return !ok || !cfg.Bool("prewarm-ready") || a.PrewarmFinished()
}

// writeUpstreamMetrics writes the upstream families when the server is in upstream mode.
func writeUpstreamMetrics(p *promWriter, cmd *command.Server) {
	a, ok := cmd.Upstream().(upstreamAdapter)
	if !ok {
		return
	}
	st := a.Stats()
	for _, f := range []struct {
		name, help string
		v          int64
	}{
		{"sidecache_l1_hits_total", "Cached reads answered from L1.", st.Hits.Load()},
		{"sidecache_l1_misses_total", "Cached reads that waited for the upstream.", st.Misses.Load()},
		{"sidecache_l1_stored_total", "Fetched replies stored in L1.", st.Stored.Load()},
		{"sidecache_l1_refused_stale_total", "Fetched replies not stored: invalidated while in flight.", st.Refused.Load()},
		{"sidecache_l1_flushes_total", "L1 flushes: null pushes, lost upstream connections, flushes through the sidecar.", st.Flushes.Load()},
		{"sidecache_upstream_reads_total", "Keys read from the upstream by tracked fetches.", st.Reads.Load()},
		{"sidecache_upstream_forwarded_total", "Commands passed through to the upstream.", st.Forwarded.Load()},
		{"sidecache_upstream_errors_total", "Replies that were upstream failures (network, closed), not Redis errors.", st.Errors.Load()},
		{"sidecache_invalidations_received_total", "Keys invalidated by upstream pushes.", st.Invalidations.Load()},
		{"sidecache_prewarm_keys_total", "Keys the start-up prewarm read from the upstream.", a.PrewarmedKeys()},
	} {
		p.one(f.name, "counter", f.help, float64(f.v))
	}
	p.family("sidecache_l1_flushes_by_cause_total", "counter", "L1 flushes by cause (upstream: a null push or a lost connection; write: a flush through the sidecar; topology: the cluster's slot map changed; the others: upstream-serve-stale).")
	for c := upstream.FlushCause(0); c < upstream.NumFlushCauses; c++ {
		p.sample("sidecache_l1_flushes_by_cause_total", float64(st.FlushesBy[c].Load()), "cause", c.String())
	}
	p.family("sidecache_l1_slot_drops_total", "counter", "Partial drops of a cluster's L1 by cause (topology: slots changed primary; connection: their primary's connection ended or sent a null push).")
	for c := upstream.DropCause(0); c < upstream.NumDropCauses; c++ {
		p.sample("sidecache_l1_slot_drops_total", float64(st.SlotDrops[c].Load()), "cause", c.String())
	}
	p.family("sidecache_l1_slots_dropped_total", "counter", "Cluster slots dropped from L1 by partial drops, by cause.")
	for c := upstream.DropCause(0); c < upstream.NumDropCauses; c++ {
		p.sample("sidecache_l1_slots_dropped_total", float64(st.SlotsDropped[c].Load()), "cause", c.String())
	}
	writeUpstreamResilienceMetrics(p, a.Upstream) // upstream_breaker.go
}
