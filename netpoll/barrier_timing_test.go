package netpoll

import (
	"fmt"
	"testing"

	"github.com/sidecache/sidecache/command"
	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
)

// The per-batch lock alone, uncontended, as each loop takes it.
func BenchmarkBatchLock(b *testing.B) {
	var l batchLock
	b.ReportAllocs()
	for b.Loop() {
		l.Lock()
		l.Unlock()
	}
}

// BenchmarkBatchLockCost: a batch of one GET through the command layer as OnTraffic runs
// it, without and with the loop's batch lock around it (compare with benchstat -col /lock).
func BenchmarkBatchLockCost(b *testing.B) {
	eng, err := engine.Open(engine.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	cmd := command.NewServer(command.Options{Engine: eng, Config: config.New(), Version: "test"})
	cl := cmd.NewClient("127.0.0.1:1", "127.0.0.1:2", false)
	set := [][]byte{[]byte("SET"), []byte("k"), []byte("vvvvvvvvvvvvvvvv")}
	get := [][]byte{[]byte("GET"), []byte("k")}
	out := cmd.Exec(cl, set, 0, make([]byte, 0, 256))
	var l batchLock
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("lock=%v", on), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if on {
					l.Lock()
				}
				out = cmd.Exec(cl, get, 0, out[:0])
				if on {
					l.Unlock()
				}
			}
		})
	}
}

// BenchmarkPingPong: one command per batch, the case where the per-batch lock weighs most.
func BenchmarkPingPong(b *testing.B) {
	s := startServer(b, Options{})
	c := dial(b, "unix", s.unix)
	req := cmdBytes("GET", "k")
	buf := make([]byte, len("$-1\r\n"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := c.c.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
}
