package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A few seconds of the soak against the real binary, so that the tool keeps working: the
// workload runs, kills and reconnects, the figures come back and the server exits 0. The
// keyspace fits in maxmemory here; eviction is the long run's business (make soak).
func TestShortSoak(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sidecache")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/sidecache/sidecache/cmd/sidecache").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg := Config{Bin: bin, Duration: 3 * time.Second, Warmup: time.Second, Report: time.Second,
		Workers: 4, Keys: 200, MaxMemory: 64 << 20, MaxMemoryClients: 32 << 20, Seed: 1, Command: "test"}
	var log strings.Builder
	res, err := Run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Log(log.String())
	if res.Failed() {
		t.Fatalf("failures: %q", res.Failures)
	}
	if res.Ops == 0 || res.Counters["connections"] < int64(cfg.Workers) {
		t.Fatalf("no work done: %d ops, %d connections", res.Ops, res.Counters["connections"])
	}
	readme := filepath.Join(t.TempDir(), "README.md")
	if err := res.WriteReadme(readme); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(readme)
	if !strings.Contains(string(b), "Verdict: **PASS**") {
		t.Fatalf("README:\n%s", b)
	}
}

func TestValueRoundTrip(t *testing.T) {
	f := func(key string, size int) {
		t.Helper()
		v := value(key, size)
		if !validValue(key, []byte(v)) {
			t.Errorf("value(%q, %d) = %q not valid", key, size, v)
		}
		if validValue(key+"x", []byte(v)) || validValue(key, []byte(v[:len(v)-1])) || validValue(key, []byte(v+"x")) {
			t.Errorf("a wrong value for %q, %d passed", key, size)
		}
	}
	f("str:1", 16)
	f("str:99999", 16)
	f("str:5", 100)
	f("str:5", maxValue)
}
