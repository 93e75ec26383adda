package loadgen

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// kvServer is a small RESP server over loopback for the tests: GET and SET on a map (SET's
// options are ignored), and, if stallAt > 0, one stall: the stallAt-th command is answered
// after stall. With mute it reads and never answers.
type kvServer struct {
	ln       net.Listener
	stallAt  int64
	stall    time.Duration
	mute     bool
	mu       sync.Mutex
	data     map[string][]byte
	conns    []net.Conn
	cmds     atomic.Int64
	gets     atomic.Int64
	sets     atomic.Int64
	wg       sync.WaitGroup
	stalled  atomic.Bool
	stallEnd atomic.Int64 // Now when the stall ended
}

func startKV(t *testing.T, stallAt int64, stall time.Duration, mute bool) *kvServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &kvServer{ln: ln, stallAt: stallAt, stall: stall, mute: mute, data: map[string][]byte{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go s.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *kvServer) addr() string { return s.ln.Addr().String() }

func (s *kvServer) serve(c net.Conn) {
	defer s.wg.Done()
	defer c.Close()
	p := protocol.NewParser(protocol.DefaultLimits())
	var in, out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if s.mute {
			continue
		}
		in = append(in, buf[:n]...)
		out = out[:0]
		used := 0
		for {
			args, n, err := p.Parse(in[used:])
			if err != nil {
				return
			}
			if n == 0 {
				break
			}
			used += n
			if s.cmds.Add(1) == s.stallAt && s.stalled.CompareAndSwap(false, true) {
				time.Sleep(s.stall)
				s.stallEnd.Store(Now())
			}
			switch strings.ToUpper(string(args[0])) {
			case "GET":
				s.gets.Add(1)
				s.mu.Lock()
				v, ok := s.data[string(args[1])]
				if ok {
					out = protocol.AppendBulk(out, v)
				} else {
					out = append(out, "$-1\r\n"...)
				}
				s.mu.Unlock()
			case "SET":
				s.sets.Add(1)
				s.mu.Lock()
				s.data[string(args[1])] = bytes.Clone(args[2])
				s.mu.Unlock()
				out = append(out, "+OK\r\n"...)
			default:
				out = append(out, "-ERR unknown command\r\n"...)
			}
		}
		in = in[:copy(in, in[used:])]
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func (s *kvServer) keys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.data)
}

// TestOpenLoopShowsStall: one 100 ms stall of a target under an open loop of 1000 commands/s
// delays the ~100 commands intended during it by 100 ms down to 0, i.e. about 5% of the
// commands of a one-second run by 50 ms or more, and 1% by 90 ms or more. Measured from the
// send instead (coordinated omission), the stall would be one slow command in a thousand.
func TestOpenLoopShowsStall(t *testing.T) {
	s := startKV(t, 300, 100*time.Millisecond, false)
	tg, _ := ParseTarget("stall=" + s.addr())
	o := Options{Workload: Workload{Keys: 100, ReadRatio: 0.5}, Rate: 1000, Duration: time.Second}
	r, err := Run(context.Background(), tg, o)
	if err != nil {
		t.Fatal(err)
	}
	if !s.stalled.Load() {
		t.Fatal("the server did not stall")
	}
	h := r.Hist
	ms := func(q float64) float64 { return float64(h.ValueAtQuantile(q)) / 1e6 }
	t.Logf("%d commands; p50 %.2f ms, p93 %.1f ms, p97 %.1f ms, p99 %.1f ms, max %.1f ms; send lag p99 %.1f ms",
		r.Ops, ms(50), ms(93), ms(97), ms(99), ms(100), r.SendLag.P99/1e3)
	if r.Ops < 900 || r.Ops > 1001 {
		t.Errorf("%d commands at 1000/s for 1 s", r.Ops)
	}
	if ms(100) < 100 {
		t.Errorf("max %.1f ms: the stall of 100 ms is missing", ms(100))
	}
	// At least 3% of the commands at 50 ms or more (5% expected: those queued behind the
	// second half of the stall). No upper bound: on a loaded machine the scheduler adds
	// its own delays, and those are the machine's, not the measurement's.
	if ms(97) < 50 {
		t.Errorf("p93 %.1f ms, p97 %.1f ms: want the 50 ms point of the stall near p95", ms(93), ms(97))
	}
	if ms(99) < 80 {
		t.Errorf("p99 %.1f ms: want about 90 ms", ms(99))
	}
	if ms(50) > 10 {
		t.Errorf("p50 %.1f ms: the stall should touch only its own 10%% of the run", ms(50))
	}
	if r.SendLag.Count != r.Ops/int64(max(o.Pipeline, 1)) || r.SendLag.Max < 50e3 {
		t.Errorf("send lag %+v: want one per batch, the stall making later sends late", r.SendLag)
	}

	// Closed loop against the same kind of stall: one slow command among thousands.
	s = startKV(t, 300, 100*time.Millisecond, false)
	tg, _ = ParseTarget(s.addr())
	var prog syncBuf
	o = Options{Workload: Workload{Keys: 100, ReadRatio: 0.5}, Duration: 1200 * time.Millisecond, Progress: &prog}
	if r, err = Run(context.Background(), tg, o); err != nil {
		t.Fatal(err)
	}
	if r.Latency.Max < 100e3 || r.Latency.P99 > 50e3 {
		t.Errorf("closed loop: max %.0f µs, p99 %.0f µs: want the stall as one outlier", r.Latency.Max, r.Latency.P99)
	}
	if !strings.Contains(prog.String(), "ops/s") {
		t.Errorf("no progress line: %q", prog.String())
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunCounts: every command sent is a command measured (no warm-up), across connections
// and partial batches, and the histograms of the connections add up.
func TestRunCounts(t *testing.T) {
	tg, err := ParseTarget("echo")
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	r, err := Run(context.Background(), tg, Options{Conns: 3, Pipeline: 4, Requests: 1001})
	if err != nil {
		t.Fatal(err)
	}
	if n := tg.(*netTarget).echo.Commands(); n != 1001 {
		t.Errorf("the echo server answered %d commands, want 1001", n)
	}
	if r.Ops != 1001 || r.Hist.TotalCount() != 1001 || r.Gets+r.Sets != 1001 || r.Errors != 0 {
		t.Errorf("report: %d ops, %d in the histogram, %d gets + %d sets, %d errors", r.Ops, r.Hist.TotalCount(), r.Gets, r.Sets, r.Errors)
	}

	s := startKV(t, 0, 0, false)
	tg, _ = ParseTarget(s.addr())
	// Warm-up commands reach the server but not the report.
	r, err = Run(context.Background(), tg, Options{Workload: Workload{Keys: 500, ReadRatio: 0.9}, Conns: 2, Prefill: true, Warmup: 100 * time.Millisecond, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if s.keys() != 500 || r.Prefilled != 500 {
		t.Errorf("prefill: server holds %d keys, report says %d", s.keys(), r.Prefilled)
	}
	if sent := s.gets.Load() + s.sets.Load() - 500; r.Ops >= sent || r.Ops == 0 {
		t.Errorf("%d commands measured of %d sent after prefill: warm-up counted?", r.Ops, sent)
	}
	if r.Hits != r.Gets || r.HitRate != 1 {
		t.Errorf("after prefill %d of %d GETs hit", r.Hits, r.Gets)
	}
	if r.Elapsed < 200*time.Millisecond || r.OpsPerSec <= 0 || r.ClientCPUPercent <= 0 {
		t.Errorf("elapsed %v, %.0f ops/s, CPU %.0f%%", r.Elapsed, r.OpsPerSec, r.ClientCPUPercent)
	}

	// Cache-aside: each key misses once, and the miss is followed by its SET.
	s = startKV(t, 0, 0, false)
	tg, _ = ParseTarget(s.addr())
	r, err = Run(context.Background(), tg, Options{Workload: Workload{Keys: 100, ReadRatio: 1, CacheAside: true}, Requests: 3000})
	if err != nil {
		t.Fatal(err)
	}
	misses := r.Gets - r.Hits
	if misses != int64(s.keys()) || r.Sets != misses || r.Sets != s.sets.Load() {
		t.Errorf("cache-aside: %d GETs, %d hits, %d SETs (server %d SETs, %d keys)", r.Gets, r.Hits, r.Sets, s.sets.Load(), s.keys())
	}
}

// TestRunEnds: a run ends with an error when its context ends or its target stops
// answering, and does not wait on the stuck reads.
func TestRunEnds(t *testing.T) {
	s := startKV(t, 0, 0, true)
	tg, _ := ParseTarget(s.addr())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Run(ctx, tg, Options{Duration: time.Hour}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled run: %v", err)
	}

	defer func(g time.Duration) { stallGrace = g }(stallGrace)
	stallGrace = 100 * time.Millisecond
	if _, err := Run(context.Background(), tg, Options{Duration: 100 * time.Millisecond, Rate: 100}); err == nil || !strings.Contains(err.Error(), "no reply") {
		t.Errorf("run against a mute server: %v", err)
	}

	if _, err := Run(context.Background(), &netTarget{label: "gone", network: "tcp", addr: "127.0.0.1:1"}, Options{}); err == nil {
		t.Error("run against a closed port succeeded")
	}
}
