package pubsub

import (
	"fmt"
	"testing"

	"github.com/sidecache/sidecache/protocol"
)

var sinkN int

// BenchmarkPublish is PUBLISH's delivery to n subscribers (half RESP2, half RESP3) and one
// non-matching pattern, each push a no-op: the hub's own cost.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			h := NewHub("message", "pmessage")
			for i := range n {
				h.Subscribe(&nopSub{v: protocol.Version(2 + i%2)}, []byte("channel"))
			}
			h.PSubscribe(&nopSub{v: 3}, []byte("other*"))
			ch, msg := []byte("channel"), []byte("a message of some length")
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				n := 0
				for pb.Next() {
					n += h.Publish(ch, msg)
				}
				sinkN = n
			})
		})
	}
}
