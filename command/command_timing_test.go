package command

import (
	"strconv"
	"testing"

	"github.com/sidecache/sidecache/protocol"
)

// sink keeps the benchmarks' results alive.
var sink []byte

// pipeline returns a batch of n commands alternating SET and GET over 16 keys.
func pipeline(n int) []byte {
	var req []byte
	val := []byte("0123456789abcdef0123456789abcdef")
	for i := 0; i < n; i++ {
		key := []byte("key:" + strconv.Itoa(i%16))
		if i%2 == 0 {
			req = protocol.AppendCommand(req, []byte("SET"), key, val)
		} else {
			req = protocol.AppendCommand(req, []byte("GET"), key)
		}
	}
	return req
}

// BenchmarkPipeline16 parses, executes and encodes a pipelined batch of 16 GET/SET, as one
// read of a pipelining client.
func BenchmarkPipeline16(b *testing.B) {
	h := newHarness(b)
	p := protocol.NewParser(protocol.DefaultLimits())
	req := pipeline(16)
	out := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		out = execAll(b, h.s, h.c, p, req, h.now, out[:0])
	}
	sink = out
}

// BenchmarkPipeline16Parallel runs the batch on one client per goroutine.
func BenchmarkPipeline16Parallel(b *testing.B) {
	h := newHarness(b)
	req := pipeline(16)
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	b.RunParallel(func(pb *testing.PB) {
		c := h.s.NewClient("127.0.0.1:1", "127.0.0.1:6379", false)
		p := protocol.NewParser(protocol.DefaultLimits())
		out := make([]byte, 0, 4096)
		for pb.Next() {
			out = execAll(b, h.s, c, p, req, h.now, out[:0])
		}
		h.s.ReleaseClient(c)
	})
}

func BenchmarkGet(b *testing.B) {
	h := newHarness(b)
	h.run("set", "k", "value")
	args := [][]byte{[]byte("GET"), []byte("k")}
	out := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		out = h.s.Exec(h.c, args, h.now, out[:0])
	}
	sink = out
}
