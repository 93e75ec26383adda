package main

import (
	"context"
	"encoding/json"
	"io"
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

// livenessMaxAge is how long an event loop may leave a heartbeat request unanswered before
// /health fails (netpoll asks every loop each second).
const livenessMaxAge = 3 * time.Second

// startAdmin serves /health, /ready, /metrics and (on a loopback address only) pprof, on
// net/http goroutines: never on the event loops. An empty admin-addr disables it; pprof-addr,
// if set, serves /debug/pprof/ on its own listener (and the admin address then never does).
// One http.Server serves both listeners, so Close closes both.
func startAdmin(cfg *config.Config, log *slog.Logger, eng *engine.Engine, srv *netpoll.Server) (*http.Server, error) {
	var adminLn, pprofLn net.Listener
	if a := cfg.String("pprof-addr"); a != "" {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return nil, err
		}
		pprofLn = ln
	}
	if a := cfg.String("admin-addr"); a != "" {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			if pprofLn != nil {
				pprofLn.Close()
			}
			return nil, err
		}
		adminLn = ln
	}
	pprofMux := http.NewServeMux()
	addPprof(pprofMux)
	adminMux := http.NewServeMux()
	if adminLn != nil {
		adminRoutes(adminMux, cfg, eng, srv)
		// pprof only where the pod network cannot reach it: the chart binds the admin
		// address on the pod IP, so profiles there need pprof-addr.
		if tcp, ok := adminLn.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() && pprofLn == nil {
			addPprof(adminMux)
		}
	}
	hs := &http.Server{ReadHeaderTimeout: 5 * time.Second}
	if pprofLn != nil {
		pprofLn = pprofListener{pprofLn}
	}
	// Requests are told apart by the listener that accepted their connection.
	hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if _, ok := c.(pprofConn); ok {
			return context.WithValue(ctx, pprofKey{}, true)
		}
		return ctx
	}
	hs.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(pprofKey{}) != nil {
			pprofMux.ServeHTTP(w, r)
			return
		}
		adminMux.ServeHTTP(w, r)
	})
	for _, l := range []struct {
		name string
		ln   net.Listener
	}{{"admin", adminLn}, {"pprof", pprofLn}} {
		if l.ln == nil {
			continue
		}
		go func() {
			if err := hs.Serve(l.ln); err != nil && err != http.ErrServerClosed {
				log.Error(l.name+" server", "err", err)
			}
		}()
		log.Info(l.name+" endpoint", "addr", l.ln.Addr().String())
	}
	return hs, nil
}

// adminRoutes adds /ready, /health and /metrics.
func adminRoutes(mux *http.ServeMux, cfg *config.Config, eng *engine.Engine, srv *netpoll.Server) {
	src := &metricsSource{cfg: cfg, eng: eng, cmd: srv.Command(), srv: srv, start: time.Now()}
	set := metrics.NewSet()
	set.RegisterMetricsWriter(func(w io.Writer) { writeMetrics(w, src) })

	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !srv.Ready() || !upstreamReady(cfg, srv.Command()) {
			http.Error(w, "not ready\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	// Liveness: every event loop that has served a client answered its last heartbeat within
	// livenessMaxAge (netpoll/loop.go). A stuck loop fails the probe so kubelet restarts us.
	mux.HandleFunc("/health", func(w http.ResponseWriter, _ *http.Request) {
		st := eng.Stats()
		ratio := 0.0
		if n := st.KeyspaceHits + st.KeyspaceMisses; n > 0 {
			ratio = float64(st.KeyspaceHits) / float64(n)
		}
		loops, stalled := srv.LoopHealth(livenessMaxAge)
		status, code := "ok", http.StatusOK
		if stalled > 0 {
			status, code = "event loop stalled", http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{
			"status":            status,
			"entries":           st.Keys,
			"memory_used":       st.UsedMemory,
			"memory_limit":      cfg.Int("maxmemory"),
			"hit_rate":          ratio,
			"uptime_seconds":    int64(time.Since(src.start).Seconds()),
			"connected_clients": srv.Stats().Connected.Load(),
			"event_loops":       loops,
			"stalled_loops":     stalled,
		})
	})
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		set.WritePrometheus(w)
		metrics.WriteProcessMetrics(w)
	})
}

// pprofListener marks the connections of the pprof-addr listener.
type pprofListener struct{ net.Listener }

type pprofConn struct{ net.Conn }

type pprofKey struct{}

func (l pprofListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return pprofConn{c}, nil
}

func addPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	gcHandlers(mux)
}
