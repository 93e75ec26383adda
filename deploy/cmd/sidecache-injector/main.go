// Command sidecache-injector is the mutating admission webhook that adds a sidecache
// sidecar to opted-in pods (see deploy/README.md). It serves HTTPS only: the API server
// calls it with the chart's CA, and kubelet probes use HTTPS too.
//
//	sidecache-injector --config /etc/sidecache-injector/config.yaml \
//	    --tls-cert /etc/sidecache-injector/tls/tls.crt --tls-key /etc/sidecache-injector/tls/tls.key
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/sidecache/sidecache/deploy/injector"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], nil))
}

// run serves until ctx ends, then drains. ln, when not nil, replaces --addr (tests).
func run(ctx context.Context, args []string, ln net.Listener) int {
	fs := flag.NewFlagSet("sidecache-injector", flag.ContinueOnError)
	configPath := fs.String("config", "/etc/sidecache-injector/config.yaml", "sidecar configuration (rendered by the chart)")
	certPath := fs.String("tls-cert", "/etc/sidecache-injector/tls/tls.crt", "serving certificate, PEM; re-read when it changes")
	keyPath := fs.String("tls-key", "/etc/sidecache-injector/tls/tls.key", "serving key, PEM")
	addr := fs.String("addr", ":8443", "HTTPS listen address")
	namespace := fs.String("namespace", os.Getenv("POD_NAMESPACE"), "the injector's own namespace, never injected")
	drain := fs.Duration("shutdown-timeout", 10*time.Second, "on SIGTERM, wait this long for in-flight reviews")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := injector.LoadConfig(*configPath)
	if err != nil {
		log.Error("config", "err", err)
		return 1
	}
	certs := &certReloader{certPath: *certPath, keyPath: *keyPath}
	if _, err := certs.get(nil); err != nil {
		log.Error("certificate", "err", err)
		return 1
	}

	mux := http.NewServeMux()
	mux.Handle("/mutate", &injector.Handler{Config: cfg, OwnNamespace: *namespace, Log: log})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.get},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", *addr); err != nil {
			log.Error("listen", "err", err)
			return 1
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	log.Info("serving", "addr", ln.Addr().String(), "namespace", *namespace, "nativeSidecar", cfg.NativeSidecar)
	select {
	case err := <-served:
		log.Error("serve", "err", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("shutdown", "err", err)
		return 1
	}
	return 0
}

// certReloader serves the key pair on disk, re-reading it when the certificate file's
// modification time changes (cert-manager and the chart rotate it through the Secret).
type certReloader struct {
	certPath, keyPath string

	mu      sync.Mutex
	modTime time.Time
	cert    *tls.Certificate
}

func (c *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	st, err := os.Stat(c.certPath)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert != nil && st.ModTime().Equal(c.modTime) {
		return c.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(c.certPath, c.keyPath)
	if err != nil {
		if c.cert != nil {
			return c.cert, nil // mid-rotation: keep serving the previous pair
		}
		return nil, err
	}
	c.cert, c.modTime = &cert, st.ModTime()
	return c.cert, nil
}
