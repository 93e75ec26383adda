package command

import (
	"testing"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
)

// TestResetStatRebasesNetStats: CONFIG RESETSTAT restarts INFO's counters kept by the network
// layer from 0 (net bytes, rejected_connections, evicted_clients,
// client_output_buffer_limit_disconnections), as Redis's resetServerStats; the network
// layer's own counters go on (they feed /metrics).
func TestResetStatRebasesNetStats(t *testing.T) {
	e, err := engine.Open(engine.Config{Databases: 16, Segments: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	ns := NetStats{InputBytes: 1000, OutputBytes: 2000, RejectedConnections: 3, EvictedClients: 4,
		OutputBufferLimitClosed: 5, ClientMemory: 6000}
	s := NewServer(Options{Engine: e, Config: config.New(), NetStats: func() NetStats { return ns }})
	h := &harness{t: t, e: e, s: s, c: s.NewClient("127.0.0.1:1", "127.0.0.1:2", false), now: testNow}
	f := func(name, want string) {
		t.Helper()
		if got := memInfo(h, "stats", name); got != want {
			t.Errorf("%s: %s, want %s", name, got, want)
		}
	}
	f("evicted_clients", "4")
	f("client_output_buffer_limit_disconnections", "5")
	h.run("config", "resetstat")
	f("total_net_input_bytes", "0")
	f("total_net_output_bytes", "0")
	f("rejected_connections", "0")
	f("evicted_clients", "0")
	f("client_output_buffer_limit_disconnections", "0")
	ns.EvictedClients += 2
	ns.OutputBufferLimitClosed++
	ns.InputBytes += 10
	f("evicted_clients", "2")
	f("client_output_buffer_limit_disconnections", "1")
	f("total_net_input_bytes", "10")
}
