package inproc

import (
	"strconv"
	"testing"

	"github.com/sidecache/sidecache/loadgen"
)

// benchTarget measures one connection's batches of pipeline commands, 90% GETs of prefilled
// keys: the per-command cost of the tier, without the load generator's scheduling.
func benchTarget(b *testing.B, tg loadgen.Target, pipeline int) {
	c, err := tg.Connect()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const keys = 1024
	val := make([]byte, 100)
	ops := make([]loadgen.Op, keys)
	for i := range ops {
		ops[i] = loadgen.Op{Set: true, Key: []byte("lg:" + strconv.Itoa(i)), Value: val}
	}
	out := make([]loadgen.Reply, keys)
	if err := c.Do(loadgen.Now(), ops, out); err != nil {
		b.Fatal(err)
	}
	for i := range ops {
		ops[i].Set = i%10 == 0
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += pipeline {
		j := i % (keys - pipeline)
		if err := c.Do(loadgen.Now(), ops[j:j+pipeline], out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEngineTarget(b *testing.B) {
	for _, p := range []int{1, 16} {
		b.Run("pipeline="+strconv.Itoa(p), func(b *testing.B) {
			tg, err := NewEngine("engine")
			if err != nil {
				b.Fatal(err)
			}
			defer tg.Close()
			benchTarget(b, tg, p)
		})
	}
}

func BenchmarkProtoTarget(b *testing.B) {
	for _, p := range []int{1, 16} {
		b.Run("pipeline="+strconv.Itoa(p), func(b *testing.B) {
			tg, err := NewProto("proto")
			if err != nil {
				b.Fatal(err)
			}
			defer tg.Close()
			benchTarget(b, tg, p)
		})
	}
}
