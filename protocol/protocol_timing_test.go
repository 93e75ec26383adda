package protocol

import (
	"strconv"
	"testing"
)

// Package-level sinks keep the compiler from dropping the measured work.
var (
	sinkArgs [][]byte
	sinkBuf  []byte
	sinkVal  Value
)

func pipeline16() []byte {
	var batch []byte
	for i := 0; i < 8; i++ {
		batch = AppendCommandString(batch, "SET", "key:"+strconv.Itoa(i), "value-of-sixteen")
		batch = AppendCommandString(batch, "GET", "key:"+strconv.Itoa(i))
	}
	return batch
}

func BenchmarkParsePipeline16(b *testing.B) {
	batch := pipeline16()
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	b.RunParallel(func(pb *testing.PB) {
		p := NewParser(DefaultLimits())
		for pb.Next() {
			for buf := batch; len(buf) > 0; {
				args, n, err := p.Parse(buf)
				if err != nil || n == 0 {
					b.Fatal(n, err)
				}
				sinkArgs = args
				buf = buf[n:]
			}
		}
	})
}

func BenchmarkParseInline(b *testing.B) {
	line := []byte("SET key:1 \"value with spaces\"\r\n")
	p := NewParser(DefaultLimits())
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		args, _, _ := p.Parse(line)
		sinkArgs = args
	}
}

func BenchmarkAppendBulk(b *testing.B) {
	for _, size := range []int{16, 1024} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			val := make([]byte, size)
			dst := make([]byte, 0, 64<<10)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				dst = AppendBulk(dst[:0], val)
			}
			sinkBuf = dst
		})
	}
}

func BenchmarkAppendDouble(b *testing.B) {
	dst := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendDouble(dst[:0], RESP3, 3.14159)
	}
	sinkBuf = dst
}

func BenchmarkReaderReadValue(b *testing.B) {
	var replies []byte
	replies = AppendBulkString(replies, "value-of-sixteen")
	replies = AppendSimple(replies, "OK")
	r := NewReader(&loop{b: replies})
	b.ReportAllocs()
	for b.Loop() {
		v, err := r.ReadValue()
		if err != nil {
			b.Fatal(err)
		}
		sinkVal = v
	}
}
