// Command soak runs the sidecache binary under a mixed workload with random client kills for
// a while and checks that nothing leaks and no memory bound is crossed (issue 9).
//
// The server runs with maxmemory set (allkeys-lfu) and maxmemory-clients. Workers over TCP
// and the Unix socket send GET/SET/INCR/DEL/EXPIRE, one at a time or pipelined, with values
// of 16 B to 64 KiB, and reconnect when they are killed: by CLIENT KILL ID from another
// connection, by closing their own socket abruptly (a reset), or by quitting normally.
//
// Phases: a warm-up under load; a pause with every worker disconnected, where the baseline is
// taken (open fds, connected clients, goroutines, Go heap in use after a GC); the measured
// run; then the same pause and the same figures again. It exits non-zero if a figure did not
// come back to the baseline within tolerance, if used_memory ever exceeded maxmemory, if RSS
// ever exceeded 1.1 × maxmemory + maxmemory-clients + 32 MiB, if a reply was wrong or a
// request timed out, or if the server did not exit 0 on SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Config is one soak run.
type Config struct {
	Bin              string
	Duration         time.Duration
	Warmup           time.Duration
	Report           time.Duration // how often a progress line is printed
	Workers          int
	Keys             int
	MaxMemory        int64
	MaxMemoryClients int64
	Seed             uint64
	Out              string // README to write the figures to; "" for none
	Command          string // how the run was started, for the README
}

func main() {
	var cfg Config
	flag.StringVar(&cfg.Bin, "bin", "bin/sidecache", "the sidecache binary")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Minute, "measured run, after the warm-up")
	flag.DurationVar(&cfg.Warmup, "warmup", 30*time.Second, "load before the baseline is taken")
	flag.DurationVar(&cfg.Report, "report", 10*time.Second, "progress line interval")
	flag.IntVar(&cfg.Workers, "workers", 8, "client connections, half on TCP and half on the Unix socket")
	flag.IntVar(&cfg.Keys, "keys", 100000, "string keys (and as many counters)")
	mm := flag.String("maxmemory", "64mb", "the server's maxmemory")
	mmc := flag.String("maxmemory-clients", "32mb", "the server's maxmemory-clients")
	flag.Uint64Var(&cfg.Seed, "seed", uint64(time.Now().UnixNano()), "workload seed")
	flag.StringVar(&cfg.Out, "out", "", "write the figures to this README")
	flag.StringVar(&cfg.Command, "command", "", "the command line to record in the README (default: this one)")
	flag.Parse()
	var err error
	if cfg.MaxMemory, err = parseSize(*mm); err != nil {
		fatal(err)
	}
	if cfg.MaxMemoryClients, err = parseSize(*mmc); err != nil {
		fatal(err)
	}
	if cfg.Command == "" {
		cfg.Command = "go run ./cmd/soak " + strings.Join(os.Args[1:], " ")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg, os.Stdout)
	if res != nil && cfg.Out != "" {
		if werr := res.WriteReadme(cfg.Out); werr != nil {
			fmt.Fprintln(os.Stderr, "soak: write", cfg.Out+":", werr)
		}
	}
	if err != nil {
		fatal(err)
	}
	if res.Failed() {
		fmt.Println("soak: FAIL")
		for _, f := range res.Failures {
			fmt.Println("  -", f)
		}
		os.Exit(1)
	}
	fmt.Println("soak: PASS")
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "soak:", err)
	os.Exit(2)
}

// parseSize reads Redis's memory units: 64mb, 1gb, 512k, bytes.
func parseSize(s string) (int64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// server is the sidecache process under test.
type server struct {
	cmd    *exec.Cmd
	pid    int
	tcp    string // host:port
	unix   string // socket path
	admin  string // host:port
	log    *os.File
	dir    string
	exited chan struct{}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts the binary on loopback ports and a Unix socket in a temporary directory
// and waits until it answers PING.
func startServer(cfg Config) (*server, error) {
	dir, err := os.MkdirTemp("", "soak")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{
		tcp:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		unix:   filepath.Join(dir, "s.sock"),
		admin:  net.JoinHostPort("127.0.0.1", strconv.Itoa(adminPort)),
		dir:    dir,
		exited: make(chan struct{}),
	}
	if s.log, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		return nil, err
	}
	s.cmd = exec.Command(cfg.Bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--unixsocket", s.unix, "--admin-addr", s.admin,
		"--maxmemory", strconv.FormatInt(cfg.MaxMemory, 10),
		"--maxmemory-policy", "allkeys-lfu",
		"--maxmemory-clients", strconv.FormatInt(cfg.MaxMemoryClients, 10))
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.cleanup()
		return nil, err
	}
	s.pid = s.cmd.Process.Pid
	go func() { s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := dial("tcp", s.tcp)
		if err == nil {
			_, err = c.do("PING")
			c.close()
			if err == nil {
				return s, nil
			}
		}
		if s.dead() || time.Now().After(deadline) {
			s.kill()
			return nil, fmt.Errorf("server not ready: %v\n%s", err, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) dead() bool {
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// kill ends the process by PID and removes its directory.
func (s *server) kill() {
	if !s.dead() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cleanup()
}

func (s *server) cleanup() {
	if s.log != nil {
		s.log.Close()
	}
	os.RemoveAll(s.dir)
}

// terminate sends SIGTERM and returns the exit code, or an error if it takes over timeout.
func (s *server) terminate(timeout time.Duration) (int, error) {
	if s.dead() {
		return s.cmd.ProcessState.ExitCode(), errors.New("server had already exited")
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode(), nil
	case <-time.After(timeout):
		return -1, fmt.Errorf("no exit within %v of SIGTERM", timeout)
	}
}

func (s *server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
