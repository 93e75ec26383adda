package main

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/netpoll"
)

// startAdmin serves /health, /ready, /metrics and (on a loopback address only) pprof, on
// net/http goroutines: never on the event loops. An empty admin-addr disables it.
func startAdmin(cfg *config.Config, log *slog.Logger, eng *engine.Engine, srv *netpoll.Server) (*http.Server, error) {
	addr := cfg.String("admin-addr")
	if addr == "" {
		return &http.Server{}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !srv.Ready() {
			http.Error(w, "not ready\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		st := eng.Stats()
		ratio := 0.0
		if n := st.KeyspaceHits + st.KeyspaceMisses; n > 0 {
			ratio = float64(st.KeyspaceHits) / float64(n)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"status":            "ok",
			"entries":           st.Keys,
			"memory_used":       st.UsedMemory,
			"memory_limit":      cfg.Int("maxmemory"),
			"hit_rate":          ratio,
			"uptime_seconds":    int64(time.Since(start).Seconds()),
			"connected_clients": srv.Stats().Connected.Load(),
		})
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		metrics.WritePrometheus(w, true)
	})
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Error("admin server", "err", err)
		}
	}()
	log.Info("admin endpoint", "addr", ln.Addr().String())
	return hs, nil
}
