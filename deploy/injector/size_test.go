package injector_test

import (
	"testing"

	"github.com/sidecache/sidecache/deploy/injector"
)

func TestMemoryBound(t *testing.T) {
	f := func(maxmemory, clients string, wantMiB int64) {
		t.Helper()
		got, err := injector.MemoryBound(maxmemory, clients)
		if err != nil || got != wantMiB<<20 {
			t.Fatalf("MemoryBound(%s, %s) = %d MiB, %v; want %d MiB", maxmemory, clients, got>>20, err, wantMiB)
		}
	}
	// ceil((1.1 x maxmemory + clients + 32 MiB) / MiB)
	f("64mb", "16mb", 119)  // 70.4 + 16 + 32 = 118.4
	f("256mb", "16mb", 330) // 281.6 + 48 = 329.6
	f("1gb", "16mb", 1175)  // 1126.4 + 48 = 1174.4
	f("512mb", "5%", 621)   // 563.2 + 25.6 + 32 = 620.8
	f("100mb", "10mb", 152) // exactly 110 + 10 + 32 = 152
	f("100m", "1k", 137)    // Redis decimal units: 110e6 B + 1000 B + 32 MiB = 136.9 MiB
	f("1048576", "1MB", 35) // bytes, and units in any case: 1.1 + 1 + 32 = 34.1 MiB
	bad := func(maxmemory, clients string) {
		t.Helper()
		if _, err := injector.MemoryBound(maxmemory, clients); err == nil {
			t.Fatalf("MemoryBound(%s, %s): no error", maxmemory, clients)
		}
	}
	bad("0", "16mb")
	bad("64mb", "0")
	bad("64mb", "0%")
	bad("64mb", "101%")
	bad("lots", "16mb")
	bad("-1", "16mb")
	bad("1.5gb", "16mb")
	bad("99999999999gb", "16mb")
}
