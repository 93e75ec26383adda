package config

import (
	"os"
	"path/filepath"
	"testing"
)

const mib = 1 << 20

func TestSizeMemory(t *testing.T) {
	f := func(limit, clients, wantMax, wantClients int64) {
		t.Helper()
		z := SizeMemory(limit, clients)
		if z.MaxMemory != wantMax || z.Clients != wantClients {
			t.Fatalf("SizeMemory(%d, %d) = maxmemory %d clients %d, want %d %d", limit, clients, z.MaxMemory, z.Clients, wantMax, wantClients)
		}
		// The bound the split is for: 1.1 x maxmemory + clients + 32 MiB <= limit.
		if wantMax > 1*mib && z.MaxMemory*11/10+z.Clients+autoOverhead > limit {
			t.Fatalf("SizeMemory(%d, %d): bound %d over the limit", limit, clients, z.MaxMemory*11/10+z.Clients+autoOverhead)
		}
		if z.HeapLimit != max(limit-z.MaxMemory, autoOverhead) {
			t.Fatalf("heap limit %d", z.HeapLimit)
		}
	}
	// 1 GiB: clients 5% = 53687091 (> 16 MiB); (1073741824 - 33554432 - 53687091) / 1.1.
	f(1<<30, 0, (1<<30-32*mib-(1<<30)/100*5)*10/11, (1<<30)/100*5)
	// 256 MiB: 5% is 13.4 MiB, below the 16 MiB floor.
	f(256*mib, 0, (256*mib-32*mib-16*mib)*10/11, 16*mib)
	// Explicit bytes.
	f(512*mib, 64*mib, (512*mib-32*mib-64*mib)*10/11, 64*mib)
	// 10% of maxmemory: maxmemory = (limit - 32 MiB) / 1.2.
	f(512*mib, -10, (512*mib-32*mib)*100/120, (512*mib-32*mib)*100/120/10)
	// Too small for the bound: a token 1 MiB keyspace, never 0 (unlimited).
	f(40*mib, 0, 1*mib, 16*mib)
}

// fixture writes files (path relative to dir -> content) and returns dir.
func fixture(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, s := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestMemoryLimitFromFixtures(t *testing.T) {
	defer func(c, p string) { cgroupRoot, procRoot = c, p }(cgroupRoot, procRoot)
	meminfo := "MemTotal:       24683548 kB\nMemFree:        100 kB\n"
	f := func(name string, files map[string]string, want int64, wantSource string) {
		t.Helper()
		root := fixture(t, files)
		cgroupRoot, procRoot = filepath.Join(root, "sys"), filepath.Join(root, "proc")
		got, src := MemoryLimit()
		if got != want || src != wantSource {
			t.Fatalf("%s: MemoryLimit = %d %q, want %d %q", name, got, src, want, wantSource)
		}
	}
	f("cgroup v2 in a namespace", map[string]string{
		"proc/self/cgroup": "0::/\n", "proc/meminfo": meminfo,
		"sys/memory.max": "536870912\n",
	}, 512*mib, "cgroup v2")
	f("cgroup v2 max: physical memory", map[string]string{
		"proc/self/cgroup": "0::/\n", "proc/meminfo": meminfo,
		"sys/memory.max": "max\n",
	}, 24683548<<10/2, "physical memory / 2")
	f("cgroup v2 nested: the smaller parent binds", map[string]string{
		"proc/self/cgroup":                "0::/kubepods/pod1/c1\n",
		"proc/meminfo":                    meminfo,
		"sys/memory.max":                  "max\n",
		"sys/kubepods/pod1/memory.max":    "268435456\n",
		"sys/kubepods/pod1/c1/memory.max": "max\n",
	}, 256*mib, "cgroup v2")
	f("cgroup v1", map[string]string{
		"proc/self/cgroup": "4:memory:/docker/abc\n1:cpu:/\n0::/\n",
		"proc/meminfo":     meminfo,
		"sys/memory/docker/abc/memory.limit_in_bytes": "1073741824\n",
		"sys/memory/memory.limit_in_bytes":            "9223372036854771712\n",
	}, 1<<30, "cgroup v1")
	f("cgroup v1 unlimited", map[string]string{
		"proc/self/cgroup":                 "4:memory:/\n",
		"proc/meminfo":                     meminfo,
		"sys/memory/memory.limit_in_bytes": "9223372036854771712\n",
	}, 24683548<<10/2, "physical memory / 2")
	f("no cgroup files, no meminfo", map[string]string{"proc/x": ""}, 0, "physical memory / 2")

	// "maxmemory auto" through the registry, and a maxmemory-clients loaded with it.
	root := fixture(t, map[string]string{"proc/self/cgroup": "0::/\n", "sys/memory.max": "1073741824\n"})
	cgroupRoot, procRoot = filepath.Join(root, "sys"), filepath.Join(root, "proc")
	c := New()
	z, ok := c.MemorySizing()
	if !ok || c.Int("maxmemory") != SizeMemory(1<<30, 0).MaxMemory || z.Source != "cgroup v2" {
		t.Fatalf("auto: %d %+v %v", c.Int("maxmemory"), z, ok)
	}
	c, _, err := Load([]string{"--maxmemory-clients", "100mb"}, nil)
	if err != nil || c.Int("maxmemory") != SizeMemory(1<<30, 100*mib).MaxMemory {
		t.Fatalf("auto with clients: %v %d", err, c.Int("maxmemory"))
	}
	if err := c.Set("maxmemory", "256mb"); err != nil || c.Int("maxmemory") != 256*mib {
		t.Fatal(err)
	}
	if _, ok := c.MemorySizing(); ok {
		t.Fatal("explicit maxmemory still reports auto sizing")
	}
	if v, _ := c.Get("maxmemory"); v != "268435456" {
		t.Fatalf("CONFIG GET maxmemory = %q", v)
	}
}
