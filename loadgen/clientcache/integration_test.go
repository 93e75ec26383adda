package clientcache_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/sidecache/sidecache/command"
	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/loadgen"
	"github.com/sidecache/sidecache/loadgen/clientcache"
	"github.com/sidecache/sidecache/netpoll"
)

// startSidecache runs a real sidecache server in this process (the netpoll, command and
// engine packages, as cmd/sidecache wires them) on a free loopback port and a Unix socket in
// the test's temporary directory; it returns both addresses.
func startSidecache(t *testing.T) (tcp, unix string) {
	t.Helper()
	eng, err := engine.Open(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := command.NewServer(command.Options{Engine: eng, Config: config.New(), Version: "clientcache-test"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp = ln.Addr().String()
	ln.Close()
	unix = filepath.Join(t.TempDir(), "sc.sock")
	s := netpoll.New(cmd, netpoll.Options{TCP: []string{tcp}, UnixSocket: unix, Loops: 1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	select {
	case <-s.Booted():
	case err := <-done:
		t.Fatalf("sidecache: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("sidecache did not boot")
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx, time.Second)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("sidecache did not stop")
		}
		eng.Close()
	})
	return tcp, unix
}

// TestTargetsAgainstSidecache runs both targets for a short time against a real sidecache,
// over the Unix socket and over TCP: after a prefill every GET finds its key, and through the
// cache nearly every GET is answered by the client itself.
func TestTargetsAgainstSidecache(t *testing.T) {
	clientcache.Register()
	tcp, unix := startSidecache(t)
	for _, tc := range []struct {
		spec     string
		cache    bool
		pipeline int
	}{
		{"rueidis-cache+unix://" + unix, true, 1},
		{"rueidis-cache+tcp://" + tcp, true, 1},
		{"batched=rueidis-cache+" + tcp, true, 8},
		{"rueidis+unix://" + unix, false, 1},
		{"batched=rueidis+unix://" + unix, false, 8},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			tg, err := loadgen.ParseTarget(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			// A count of commands, not a duration, so that a slow machine reads as many: of
			// 2000 GETs over 20 keys at most a few per key miss the cache (the first read, and
			// one racing it on the other connection).
			o := loadgen.Options{
				Workload: loadgen.Workload{Keys: 20, ReadRatio: 1, ValueMin: 16, ValueMax: 64, Seed: 3},
				Conns:    2, Pipeline: tc.pipeline, Requests: 2000, Prefill: true,
			}
			r, err := loadgen.Run(context.Background(), tg, o)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			loadgen.PrintTable(&b, r)
			t.Logf("\n%s", b.String())
			if r.Ops == 0 || r.Gets != r.Ops || r.Errors != 0 || r.Prefilled != 20 {
				t.Fatalf("%d ops, %d GETs, %d errors, %d prefilled", r.Ops, r.Gets, r.Errors, r.Prefilled)
			}
			if r.Hits != r.Gets {
				t.Errorf("%d of %d GETs found their key after the prefill", r.Hits, r.Gets)
			}
			if tc.cache && !(r.CacheHitRate > 0.9) {
				t.Errorf("client-side cache hit rate %.3f, want > 0.9", r.CacheHitRate)
			}
			if !tc.cache && r.CacheHits != 0 {
				t.Errorf("%d cache hits without a cache", r.CacheHits)
			}
		})
	}
}

// TestCacheInvalidated checks that the hit rate is of values the server still holds: a key
// deleted by another client stops being answered from the cache once the server's
// invalidation arrives.
func TestCacheInvalidated(t *testing.T) {
	clientcache.Register()
	_, unix := startSidecache(t)
	tg, err := loadgen.ParseTarget("rueidis-cache+unix://" + unix)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	c, err := tg.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := []byte("k")
	out := make([]loadgen.Reply, 1)
	do := func(op loadgen.Op) loadgen.Reply {
		t.Helper()
		if err := c.Do(loadgen.Now(), []loadgen.Op{op}, out); err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	do(loadgen.Op{Set: true, Key: key, Value: []byte("v")})
	if r := do(loadgen.Op{Key: key}); !r.Hit || r.Cached {
		t.Fatalf("first GET: %+v, want a hit from the server", r)
	}
	if r := do(loadgen.Op{Key: key}); !r.Hit || !r.Cached {
		t.Fatalf("second GET: %+v, want a hit from the cache", r)
	}
	if _, err := loadgen.Command("unix", unix, "DEL", "k"); err != nil {
		t.Fatal(err)
	}
	// The invalidation push arrives on the client's own connection after the DEL's reply
	// reached the other one: poll, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := do(loadgen.Op{Key: key})
		if !r.Hit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET after DEL by another client: %+v, still cached", r)
		}
		time.Sleep(time.Millisecond)
	}
}
