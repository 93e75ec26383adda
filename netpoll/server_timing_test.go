package netpoll

import (
	"bytes"
	"io"
	"testing"
	"time"
)

// BenchmarkPipelinedGET: batches of 100 GETs of a 16-byte value over a real TCP socket,
// with every client limit on (output limit, maxmemory-clients, idle timeout), so the
// per-batch checks and accounting are measured with the rest. Allocations are the whole
// process's, server and client: the client here allocates nothing.
func BenchmarkPipelinedGET(b *testing.B) {
	s := startServer(b, Options{OutputLimit: OutputLimit{Hard: 64 << 20, Soft: 16 << 20, SoftFor: 10 * time.Second},
		MaxMemoryClients: 1 << 30, IdleTimeout: time.Hour})
	c := dial(b, "tcp", s.tcp)
	c.send(cmdBytes("SET", "k", "vvvvvvvvvvvvvvvv"))
	c.read()
	const perBatch = 100
	req := bytes.Repeat(cmdBytes("GET", "k"), perBatch)
	buf := make([]byte, len("$16\r\nvvvvvvvvvvvvvvvv\r\n")*perBatch)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.c.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c.c, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/GET")
}
