package loadgen

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// draw returns how often each key index came up in n draws.
func draw(t *testing.T, spec string, keys, n int) []int {
	t.Helper()
	d, err := newKeyDist(spec, keys)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	counts := make([]int, keys)
	for range n {
		k := d.next(r)
		if k >= uint64(keys) {
			t.Fatalf("%s: key %d out of [0, %d)", spec, k, keys)
		}
		counts[k]++
	}
	return counts
}

// TestZipfMatchesExponent checks the generator against the exact distribution: the frequency
// of rank k over that of rank 1 is k^-s, and the whole empirical CDF is within a
// Kolmogorov-Smirnov distance of the exact one that 10^6 draws keep with overwhelming odds.
func TestZipfMatchesExponent(t *testing.T) {
	const keys, n = 1000, 1_000_000
	for _, s := range []float64{0.6, 0.99, 1, 1.3} {
		counts := draw(t, "zipf:"+strconv.FormatFloat(s, 'g', -1, 64), keys, n)
		for _, k := range []int{2, 3, 5, 10, 20} {
			got := float64(counts[k-1]) / float64(counts[0])
			want := math.Pow(float64(k), -s)
			if math.Abs(got/want-1) > 0.06 {
				t.Errorf("s=%v: f(%d)/f(1) = %.4f, want %.4f", s, k, got, want)
			}
		}
		var norm float64
		for k := 1; k <= keys; k++ {
			norm += math.Pow(float64(k), -s)
		}
		var exact, seen, ks float64
		for k := 1; k <= keys; k++ {
			exact += math.Pow(float64(k), -s) / norm
			seen += float64(counts[k-1]) / n
			ks = max(ks, math.Abs(exact-seen))
		}
		if ks > 0.004 {
			t.Errorf("s=%v: Kolmogorov-Smirnov distance %.5f from the exact CDF", s, ks)
		}
	}
}

// TestZipfSlope fits log f(k) = c - s log k over the well-sampled ranks: the slope is -s.
func TestZipfSlope(t *testing.T) {
	const keys, n = 100000, 1_000_000
	for _, s := range []float64{0.8, 1.1} {
		counts := draw(t, "zipf:"+strconv.FormatFloat(s, 'g', -1, 64), keys, n)
		var sx, sy, sxx, sxy, m float64
		for k := 1; k <= 200; k++ {
			x, y := math.Log(float64(k)), math.Log(float64(counts[k-1]))
			sx, sy, sxx, sxy, m = sx+x, sy+y, sxx+x*x, sxy+x*y, m+1
		}
		slope := (m*sxy - sx*sy) / (m*sxx - sx*sx)
		if math.Abs(-slope-s) > 0.03 {
			t.Errorf("s=%v: fitted exponent %.3f", s, -slope)
		}
	}
}

func TestHotSetFractions(t *testing.T) {
	const keys, n = 1000, 1_000_000
	counts := draw(t, "hot:0.1:0.9", keys, n)
	hot, cold := 0, 0
	hotMin, hotMax, coldMin, coldMax := n, 0, n, 0
	for k, c := range counts {
		if k < 100 {
			hot += c
			hotMin, hotMax = min(hotMin, c), max(hotMax, c)
		} else {
			cold += c
			coldMin, coldMax = min(coldMin, c), max(coldMax, c)
		}
	}
	if f := float64(hot) / n; math.Abs(f-0.9) > 0.003 {
		t.Errorf("hot keys got %.4f of the draws, want 0.9", f)
	}
	// Uniform within each part: 9000 per hot key, 111 per cold key on average.
	if hotMin < 8500 || hotMax > 9500 {
		t.Errorf("hot key counts %d .. %d, want about 9000 each", hotMin, hotMax)
	}
	if coldMin < 60 || coldMax > 170 {
		t.Errorf("cold key counts %d .. %d, want about 111 each", coldMin, coldMax)
	}

	counts = draw(t, "uniform", 10, 100000)
	for k, c := range counts {
		if c < 9500 || c > 10500 {
			t.Errorf("uniform: key %d drawn %d times of 100000, want about 10000", k, c)
		}
	}
}

func TestWorkloadNormalize(t *testing.T) {
	f := func(w Workload, wantErr string) {
		t.Helper()
		err := w.Normalize()
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("%+v: %v", w, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("%+v: error %v, want one with %q", w, err, wantErr)
		}
	}
	f(Workload{}, "")
	f(Workload{Dist: "zipf:0.99", ReadRatio: 0.5, ValueMin: 10, ValueMax: 20}, "")
	f(Workload{Dist: "hot:0.2:0.8", TTL: time.Second, TTLMax: time.Minute}, "")
	f(Workload{Dist: "zipf"}, "zipf:S")
	f(Workload{Dist: "zipf:-1"}, "zipf:S")
	f(Workload{Dist: "hot:0.2"}, "hot:")
	f(Workload{Dist: "hot:0:0.5"}, "hot:")
	f(Workload{Dist: "pareto"}, "want uniform")
	f(Workload{ReadRatio: 2}, "read ratio")
	f(Workload{ValueMin: 10, ValueMax: 5}, "value size")
	f(Workload{TTL: time.Minute, TTLMax: time.Second}, "ttl")
	f(Workload{TTL: time.Microsecond}, "at least 1ms")
	f(Workload{TTLMax: time.Second}, "at least 1ms")
	f(Workload{Keys: -1}, "keys")

	w := Workload{}
	w.Normalize()
	if w.Keys != 100000 || w.KeyPrefix != "lg:" || w.Dist != "uniform" || w.ValueMin != 100 || w.ValueMax != 0 {
		t.Errorf("defaults: %+v", w)
	}
}

// TestOpGen checks the commands a connection makes: key names, value sizes, TTLs, the read
// ratio, and that a cache-aside miss is followed by a SET of the same key.
func TestOpGen(t *testing.T) {
	w := Workload{Keys: 50, KeyPrefix: "k:", ReadRatio: 0.5, ValueMin: 8, ValueMax: 16, TTL: time.Second, TTLMax: 2 * time.Second}
	if err := w.Normalize(); err != nil {
		t.Fatal(err)
	}
	d, _ := newKeyDist(w.Dist, w.Keys)
	g := newOpGen(&w, d, 0, 4, nil)
	ops := make([]Op, 4)
	gets := 0
	for range 1000 {
		g.batch(ops)
		for _, op := range ops {
			k, err := strconv.Atoi(strings.TrimPrefix(string(op.Key), "k:"))
			if !strings.HasPrefix(string(op.Key), "k:") || err != nil || k < 0 || k >= 50 {
				t.Fatalf("key %q", op.Key)
			}
			if !op.Set {
				gets++
				continue
			}
			if len(op.Value) < 8 || len(op.Value) > 16 || op.TTLms < 1000 || op.TTLms > 2000 {
				t.Fatalf("SET value of %d bytes, TTL %d ms", len(op.Value), op.TTLms)
			}
		}
	}
	if gets < 1800 || gets > 2200 {
		t.Errorf("%d GETs of 4000 commands at read ratio 0.5", gets)
	}

	w = Workload{Keys: 1000, ReadRatio: 1, CacheAside: true}
	w.Normalize()
	d, _ = newKeyDist(w.Dist, w.Keys)
	g = newOpGen(&w, d, 0, 3, nil)
	ops, out := make([]Op, 3), make([]Reply, 3)
	g.batch(ops)
	missed := string(ops[1].Key)
	out[0].Hit, out[1].Hit, out[2].Hit = true, false, true
	g.done(ops, out)
	g.batch(ops)
	if !ops[0].Set || string(ops[0].Key) != missed || ops[1].Set || ops[2].Set {
		t.Errorf("after a miss of %s: %v %q, %v, %v", missed, ops[0].Set, ops[0].Key, ops[1].Set, ops[2].Set)
	}
}

func TestParseTarget(t *testing.T) {
	f := func(spec, wantName, wantNet, wantAddr string) {
		t.Helper()
		tg, err := ParseTarget(spec)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			return
		}
		defer tg.Close()
		nt, ok := tg.(*netTarget)
		if tg.Name() != wantName || !ok || nt.network != wantNet || (wantAddr != "" && nt.addr != wantAddr) {
			t.Errorf("%s: got %q %+v", spec, tg.Name(), tg)
		}
	}
	f("tcp://127.0.0.1:6379", "tcp://127.0.0.1:6379", "tcp", "127.0.0.1:6379")
	f("localhost:7000", "localhost:7000", "tcp", "localhost:7000")
	f("[::1]:7000", "[::1]:7000", "tcp", "[::1]:7000")
	f("unix:///run/x=y.sock", "unix:///run/x=y.sock", "unix", "/run/x=y.sock")
	f("central=tcp://127.0.0.1:7380", "central", "tcp", "127.0.0.1:7380")
	f("echo", "echo", "tcp", "")
	f("floor=echo-unix", "floor", "unix", "")

	for _, bad := range []string{"", "nope", "tcp://127.0.0.1", "unix://", "x=nope"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// stubTarget is what the scheme of TestParseScheme builds.
type stubTarget struct{ label, network, addr string }

func (s *stubTarget) Name() string           { return s.label }
func (s *stubTarget) Connect() (Conn, error) { return nil, errors.New("stub") }
func (s *stubTarget) Close() error           { return nil }

func TestParseScheme(t *testing.T) {
	RegisterScheme("stub", func(label, network, addr string) (Target, error) {
		return &stubTarget{label, network, addr}, nil
	})
	f := func(spec, wantName, wantNet, wantAddr string) {
		t.Helper()
		tg, err := ParseTarget(spec)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			return
		}
		st, ok := tg.(*stubTarget)
		if !ok || st.label != wantName || st.network != wantNet || st.addr != wantAddr {
			t.Errorf("%s: got %+v", spec, tg)
		}
	}
	f("stub+unix:///run/a+b.sock", "stub+unix:///run/a+b.sock", "unix", "/run/a+b.sock")
	f("stub+tcp://127.0.0.1:6379", "stub+tcp://127.0.0.1:6379", "tcp", "127.0.0.1:6379")
	f("app=stub+[::1]:7000", "app", "tcp", "[::1]:7000")
	// An unregistered scheme is not one: the spec is read as before.
	if tg, err := ParseTarget("unix:///run/a+b.sock"); err != nil || tg.(*netTarget).addr != "/run/a+b.sock" {
		t.Errorf("unix path with '+': %v %+v", err, tg)
	}
	for _, bad := range []string{"stub+", "stub+unix://", "stub+tcp://127.0.0.1", "stub+nope"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestFileName(t *testing.T) {
	f := func(label, want string) {
		t.Helper()
		if got := FileName(label); got != want {
			t.Errorf("FileName(%q) = %q, want %q", label, got, want)
		}
	}
	f("sidecache-tcp", "sidecache-tcp")
	f("tcp://127.0.0.1:6379", "tcp_127.0.0.1_6379")
	f("unix:///tmp/s.sock", "unix_tmp_s.sock")
	f("/", "target")
	f("..", "target")
}
