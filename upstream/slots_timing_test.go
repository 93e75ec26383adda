package upstream

import (
	"strconv"
	"testing"
	"time"

	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

var hitSink []byte

// BenchmarkHit is an L1 hit of GET as the event loop runs it: standalone, with a cluster's
// per-slot epochs (slots.go), and with them while another slot drains.
func BenchmarkHit(b *testing.B) {
	for _, c := range []struct {
		name           string
		perSlot, drain bool
	}{{"standalone", false, false}, {"slots", true, false}, {"slots-draining-other", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			fs := startFake(b)
			fs.set("k", "value")
			u := newTestUpstream(b, fs.addr(), func(o *Options) { o.perSlot = c.perSlot })
			a := newApp(u)
			a.do(b, "GET", "k")
			waitFor(b, "k cached", func() bool { return cached(u, 0, "k") })
			if c.drain {
				holdDrain(b)
				var other slotSet
				other.add(int(keySlot([]byte("k"))+1) % clusterSlots)
				u.dropSlots(&other, DropTopology)
			}
			args := [][]byte{[]byte("GET"), []byte("k")}
			out := make([]byte, 0, 64)
			now := time.Now().UnixMilli()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var deferred bool
				if out, deferred = a.c.Do(0, protocol.RESP2, "get", args, args[1:2], false, now, out[:0]); deferred {
					b.Fatal("missed")
				}
			}
			hitSink = out
		})
	}
}

// BenchmarkDrainRound is one drain round (slots.go) over an L1 of 100 000 strings, one slot
// dropped: the scan visits every key, computing its slot, and deletes the few of that slot.
func BenchmarkDrainRound(b *testing.B) {
	eng, err := engine.Open(engine.Config{Databases: 1, Segments: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	l := &l1{eng: eng, slots: new(slotEpochs)}
	d := eng.DB(0)
	now := time.Now().UnixMilli()
	put := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := d.Set([]byte("key:"+strconv.Itoa(i)), []byte("vvalue"), now, engine.SetOptions{}, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	const n = 100000
	put(0, n)
	var set slotSet
	set.add(int(keySlot([]byte("key:0"))))
	// dropped are the keys a round deletes, put back after each round so that every round
	// drains the same keys.
	var dropped []int
	for i := 0; i < n; i++ {
		if set.has(keySlot([]byte("key:" + strconv.Itoa(i)))) {
			dropped = append(dropped, i)
		}
	}
	var keys []byte
	var lens []int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !l.deleteSlots(&set, &keys, &lens) {
			b.Fatal("closed")
		}
		b.StopTimer()
		for _, k := range dropped {
			put(k, k+1)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/key")
}
