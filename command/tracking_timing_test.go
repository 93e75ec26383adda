package command

import (
	"testing"

	"github.com/sidecache/sidecache/protocol"
)

// BenchmarkTrackedGet is GET by a client that tracks, the key already remembered.
func BenchmarkTrackedGet(b *testing.B) {
	h := newHarness(b)
	h.c.Proto = protocol.RESP3
	h.run("SET", "k", "value")
	h.run("CLIENT", "TRACKING", "on")
	get := [][]byte{[]byte("GET"), []byte("k")}
	out := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		out = h.s.Exec(h.c, get, h.now, out[:0])
	}
}

// BenchmarkTrackedInvalidation is one cycle of client-side caching: a tracking client reads
// a key, another client overwrites it, the invalidation is pushed and drained.
func BenchmarkTrackedInvalidation(b *testing.B) {
	h := newHarness(b)
	w := h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	h.c.Proto = protocol.RESP3
	h.run("CLIENT", "TRACKING", "on")
	get := [][]byte{[]byte("GET"), []byte("k")}
	set := [][]byte{[]byte("SET"), []byte("k"), []byte("value")}
	out := make([]byte, 0, 256)
	push := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		out = h.s.Exec(h.c, get, h.now, out[:0])
		out = h.s.Exec(w, set, h.now, out[:0])
		push = h.c.DrainPush(push[:0])
	}
}

// BenchmarkTrackedInvalidationWake is BenchmarkTrackedInvalidation with a connection's
// wake hook installed, so every invalidation also takes the deferred wake-up path (queued
// under the segment lock, woken after the command: wake.go).
func BenchmarkTrackedInvalidationWake(b *testing.B) {
	h := newHarness(b)
	w := h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	var wakes int
	h.c.SetPushHooks(PushHooks{Wake: func() { wakes++ }})
	h.c.Proto = protocol.RESP3
	h.run("CLIENT", "TRACKING", "on")
	get := [][]byte{[]byte("GET"), []byte("k")}
	set := [][]byte{[]byte("SET"), []byte("k"), []byte("value")}
	out := make([]byte, 0, 256)
	push := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		out = h.s.Exec(h.c, get, h.now, out[:0])
		out = h.s.Exec(w, set, h.now, out[:0])
		push = h.c.DrainPush(push[:0])
	}
	if wakes == 0 {
		b.Fatal("no wake-up")
	}
}

// BenchmarkUntrackedSetWhileTracking is SET by a client that does not track, of a key
// nobody tracks, while another client tracks (the cost tracking adds to everyone else).
func BenchmarkUntrackedSetWhileTracking(b *testing.B) {
	h := newHarness(b)
	w := h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	h.run("CLIENT", "TRACKING", "on")
	h.run("GET", "tracked")
	set := [][]byte{[]byte("SET"), []byte("k"), []byte("value")}
	out := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		out = h.s.Exec(w, set, h.now, out[:0])
	}
}
