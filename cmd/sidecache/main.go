// Command sidecache is a Redis-protocol cache server built to run as a sidecar.
//
//	sidecache [--config FILE] [--name value ...]   serve (Redis's setting names as flags)
//	sidecache ping [--port N | --unixsocket PATH]   exit 0 if the server answers PONG (exec probes)
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sidecache/sidecache/command"
	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/netpoll"
	"github.com/sidecache/sidecache/protocol"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args[1:], os.Environ()))
}

func run(args, environ []string) int {
	cfg, rest, err := config.Load(args, environ)
	switch {
	case errors.Is(err, config.ErrHelp):
		fmt.Println("usage: sidecache [--config FILE] [--setting value ...] [ping]")
		fmt.Println("Every setting is also SIDECACHE_<NAME> in the environment, and a config-file directive.")
		config.Usage(os.Stdout)
		return 0
	case errors.Is(err, config.ErrVersion):
		fmt.Println("sidecache", version)
		return 0
	case err != nil:
		fmt.Fprintln(os.Stderr, "sidecache:", err)
		return 2
	}
	if err := command.CheckConfig(cfg); err != nil { // rename-command needs the command table
		fmt.Fprintln(os.Stderr, "sidecache:", err)
		return 2
	}
	if len(rest) > 0 {
		switch rest[0] {
		case "ping":
			// Flags may also follow the subcommand: sidecache ping --port 7000.
			if len(rest) > 1 {
				before := args[:len(args)-len(rest)]
				if cfg, _, err = config.Load(append(append([]string{}, before...), rest[1:]...), environ); err != nil {
					fmt.Fprintln(os.Stderr, "sidecache ping:", err)
					return 2
				}
			}
			return ping(cfg)
		default:
			fmt.Fprintf(os.Stderr, "sidecache: unknown subcommand %q\n", rest[0])
			return 2
		}
	}
	log := newLogger(cfg)
	if err := serve(cfg, log); err != nil {
		log.Error("exiting", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg *config.Config) *slog.Logger {
	level := slog.LevelInfo
	switch cfg.String("loglevel") {
	case "debug", "verbose":
		level = slog.LevelDebug
	case "warning":
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.String("logformat")
	if format == "auto" {
		format = "json"
		if isTerminal(os.Stderr) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func serve(cfg *config.Config, log *slog.Logger) error {
	// Files this process creates start owner-only: the Unix socket must not be connectable by
	// others between bind and the chmod to unixsocketperm.
	unix.Umask(0o077)

	eng, err := engine.Open(engine.Config{
		Databases:    int(cfg.Int("databases")),
		MaxMemory:    cfg.Int("maxmemory"),
		MaxValueSize: cfg.Int("proto-max-bulk-len"),
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	var srv *netpoll.Server
	// SHUTDOWN starts the same graceful shutdown as SIGTERM.
	shutdownReq := make(chan struct{}, 1)
	cmd := command.NewServer(command.Options{Engine: eng, Config: cfg, Version: version,
		Shutdown: func() {
			select {
			case shutdownReq <- struct{}{}:
			default:
			}
		},
		NetStats: func() command.NetStats {
			in, out := srv.Bytes()
			st := srv.Stats()
			return command.NetStats{InputBytes: in, OutputBytes: out, RejectedConnections: st.Rejected.Load(),
				EvictedClients: st.EvictedClients.Load(), OutputBufferLimitClosed: st.OutputLimitClosed.Load(),
				ClientMemory: srv.ClientMemory()}
		}})
	loops := runtime.GOMAXPROCS(0)
	reserveRuntimeP()                                      // runtimep.go: one P more than loops
	stopUpstream, err := startUpstream(cfg, eng, cmd, log) // upstream.go: off unless --upstream
	if err != nil {
		return err
	}
	defer stopUpstream()
	srv = netpoll.New(cmd, netpoll.Options{
		TCP:              netpoll.TCPAddrs(cfg.String("bind"), int(cfg.Int("port"))),
		UnixSocket:       cfg.String("unixsocket"),
		UnixSocketPerm:   socketPerm(cfg),
		Loops:            loops,
		MaxClients:       int(cfg.Int("maxclients")),
		Limits:           limits(cfg),
		QueryBufferLimit: int(cfg.Int("client-query-buffer-limit")),
		OutputLimit:      outputLimit(cfg),
		IdleTimeout:      time.Duration(cfg.Int("timeout")) * time.Second,
		MaxMemoryClients: maxMemoryClients(cfg),
		ProtectedMode:    cfg.Bool("protected-mode"),
		TCPKeepAlive:     time.Duration(cfg.Int("tcp-keepalive")) * time.Second,
		BackgroundNice:   backgroundNice(cfg),
		Logger:           log,
	})
	for _, name := range []string{"proto-max-bulk-len"} {
		cfg.OnChange(name, func(c *config.Config) { srv.SetLimits(limits(c)) })
	}
	cfg.OnChange("client-output-buffer-limit", func(c *config.Config) { srv.SetOutputLimit(outputLimit(c)) })
	srv.SetPubSubOutputLimit(classLimit(cfg, config.ClassPubSub))
	cfg.OnChange("client-output-buffer-limit", func(c *config.Config) {
		srv.SetPubSubOutputLimit(classLimit(c, config.ClassPubSub))
	})
	cfg.OnChange("timeout", func(c *config.Config) { srv.SetIdleTimeout(time.Duration(c.Int("timeout")) * time.Second) })
	cfg.OnChange("protected-mode", func(c *config.Config) { srv.SetProtectedMode(c.Bool("protected-mode")) })
	cfg.OnChange("maxclients", func(c *config.Config) { srv.SetMaxClients(int(c.Int("maxclients"))) })
	cfg.OnChange("client-query-buffer-limit", func(c *config.Config) {
		srv.SetQueryBufferLimit(int(c.Int("client-query-buffer-limit")))
	})
	for _, name := range []string{"maxmemory-clients", "maxmemory"} {
		cfg.OnChange(name, func(c *config.Config) { srv.SetMaxMemoryClients(maxMemoryClients(c)) })
	}

	admin, err := startAdmin(cfg, log, eng, srv)
	if err != nil {
		return err
	}
	defer admin.Close()

	stopExpire := startActiveExpire(cfg, eng, cmd.Quiesce)
	defer stopExpire()
	stopMemLimit := startMemoryLimit(cfg, eng, log)
	defer stopMemLimit()

	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	select {
	case err := <-served:
		return err
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String())
	case <-shutdownReq:
		log.Info("shutting down", "command", "SHUTDOWN")
	}
	return shutdown(cfg, log, srv, sigs, served)
}

// shutdown follows DESIGN.md's order: /ready fails at once, serving goes on for
// shutdown-delay, then accepting stops and in-flight replies drain for up to
// shutdown-timeout. A second signal cuts the wait short.
func shutdown(cfg *config.Config, log *slog.Logger, srv *netpoll.Server, sigs <-chan os.Signal, served <-chan error) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sigs:
			log.Warn("second signal: closing now")
			cancel()
		case <-ctx.Done():
		}
	}()
	srv.BeginShutdown()
	if d := time.Duration(cfg.Int("shutdown-delay")) * time.Millisecond; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	timeout := time.Duration(cfg.Int("shutdown-timeout")) * time.Millisecond
	if err := srv.Shutdown(ctx, timeout); err != nil {
		return err
	}
	select {
	case err := <-served:
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	case <-time.After(5 * time.Second):
		return errors.New("event loops did not stop")
	}
	log.Info("bye")
	return nil
}

func socketPerm(cfg *config.Config) os.FileMode {
	v, _ := cfg.Get("unixsocketperm")
	var perm uint32
	if _, err := fmt.Sscanf(strings.TrimSpace(v), "%o", &perm); err != nil {
		return 0
	}
	return os.FileMode(perm)
}

// startActiveExpire runs the bounded active-expiry cycle hz times a second, off the event
// loops, using at most a quarter of each period (Redis's ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC),
// then a page-rebalancing slice with the same budget. Expiry runs through quiesce, so never
// inside a transaction (command.Barrier); rebalancing moves entries without changing keys.
func startActiveExpire(cfg *config.Config, eng *engine.Engine, quiesce func(func())) (stop func()) {
	done := make(chan struct{})
	go func() {
		for {
			hz := cfg.Int("hz")
			if hz <= 0 {
				hz = 10
			}
			period := time.Second / time.Duration(hz)
			select {
			case <-done:
				return
			case <-time.After(period):
			}
			quiesce(func() { eng.ActiveExpire(time.Now().UnixMilli(), period/4) })
			eng.Rebalance(period / 4) // pages stranded in one size class go back to the OS
			rebalanceUrgently(eng, period)
		}
	}()
	return func() { close(done) }
}

// rebalanceUrgently gives pages back in back-to-back slices while the keyspace's footprint
// is past its share of the RSS bound (engine.RebalanceUrgent: a value-size shift under a
// write flood empties pages faster than the background quarter returns them), for at most
// three quarters of a period, and stops as soon as a whole round gives nothing back.
func rebalanceUrgently(eng *engine.Engine, period time.Duration) {
	deadline := time.Now().Add(period * 3 / 4)
	released := 0
	for time.Now().Before(deadline) && eng.RebalanceUrgent() {
		released += eng.Rebalance(period / 20)
		if !eng.Rebalancing() {
			if released == 0 {
				return // a round ended with nothing to give back: more rounds will not help
			}
			released = 0
		}
	}
}

// outputLimit is client-output-buffer-limit for normal clients, in netpoll's terms.
func outputLimit(cfg *config.Config) netpoll.OutputLimit { return classLimit(cfg, config.ClassNormal) }

// classLimit is client-output-buffer-limit for one class of clients, in netpoll's terms.
func classLimit(cfg *config.Config, class config.ClientClass) netpoll.OutputLimit {
	l := cfg.OutputBufferLimit(class)
	return netpoll.OutputLimit{Hard: int(l.Hard), Soft: int(l.Soft), SoftFor: time.Duration(l.SoftSeconds) * time.Second}
}

// maxMemoryClients resolves maxmemory-clients to bytes: a percentage is of maxmemory (and
// means no limit while maxmemory is 0), as in Redis. 0 under "maxmemory auto" is the share
// auto sizing reserved for client buffers, so the RSS bound of DESIGN.md invariant 5 holds
// by default; 0 with an explicit maxmemory is no limit, as in Redis.
func maxMemoryClients(cfg *config.Config) int64 {
	n := cfg.Int("maxmemory-clients")
	switch {
	case n > 0:
		return n
	case n < 0:
		return cfg.Int("maxmemory") * -n / 100
	}
	if z, ok := cfg.MemorySizing(); ok {
		return z.Clients
	}
	return 0
}

func limits(cfg *config.Config) protocol.Limits {
	l := protocol.DefaultLimits()
	l.MaxBulkLen = cfg.Int("proto-max-bulk-len")
	return l
}
