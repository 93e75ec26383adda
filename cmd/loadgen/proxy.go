package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sidecache/sidecache/loadgen"
)

// splitAddr reads "unix:///path", "/path", "tcp://host:port" or "host:port".
func splitAddr(s string) (network, addr string) {
	switch {
	case strings.HasPrefix(s, "unix://"):
		return "unix", strings.TrimPrefix(s, "unix://")
	case strings.HasPrefix(s, "/"):
		return "unix", s
	}
	return "tcp", strings.TrimPrefix(s, "tcp://")
}

func cmdProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:7380", "address to listen on")
	upstream := fs.String("upstream", "127.0.0.1:6379", "address to forward to")
	delay := fs.Duration("delay", 200*time.Microsecond, "one-way delay, each direction")
	jitter := fs.Duration("jitter", 50*time.Microsecond, "uniform jitter added to the delay, in [-jitter, +jitter]")
	stats := fs.String("stats", "", "on exit, write the applied one-way delays (JSON) to this file")
	fs.Parse(args)
	ln, la := splitAddr(*listen)
	un, ua := splitAddr(*upstream)
	p, err := loadgen.StartProxy(ln, la, un, ua, *delay, *jitter)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loadgen proxy: %s -> %s, delay %v ± %v each way\n", p.Addr(), *upstream, *delay, *jitter)
	<-ctx.Done()
	p.Close()
	a := p.Applied()
	fmt.Fprintf(os.Stderr, "loadgen proxy: applied one-way delay p50 %.1fus p99 %.1fus over %d chunks\n", a.P50, a.P99, a.Count)
	if *stats != "" {
		b, _ := json.MarshalIndent(struct {
			Delay   time.Duration       `json:"delay_ns"`
			Jitter  time.Duration       `json:"jitter_ns"`
			Applied loadgen.Percentiles `json:"applied"`
		}{*delay, *jitter, a}, "", "  ")
		return os.WriteFile(*stats, append(b, '\n'), 0o644)
	}
	return nil
}
