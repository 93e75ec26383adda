package command

import (
	"strings"
	"sync"
	"testing"

	"github.com/sidecache/sidecache/protocol"
)

// trackPair is a harness with a second client, the writer.
func trackPair(t *testing.T) (*harness, *Client) {
	h := newHarness(t)
	return h, h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
}

func execOn(h *harness, c *Client, args ...string) string {
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	return string(h.s.Exec(c, bs, h.now, nil))
}

func TestTrackingCommands(t *testing.T) {
	h, w := trackPair(t)
	h.c.Proto = protocol.RESP3
	f := h.f()
	f("CLIENT TRACKING on", "+OK\r\n")
	f("GET k", "_\r\n")
	if got := execOn(h, w, "SET", "k", "1"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	if got := string(h.c.DrainPush(nil)); got != ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n" {
		t.Fatalf("push %q", got)
	}
	// Its own write of a key it tracks: the push is queued, and the network layer drains
	// it after the reply.
	f("GET k", "$1\r\n1\r\n")
	f("SET k 2", "+OK\r\n")
	if got := string(h.c.DrainPush(nil)); got != ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n" {
		t.Fatalf("own push %q", got)
	}
	f("CLIENT TRACKING off", "+OK\r\n")
	f("CLIENT GETREDIR", ":-1\r\n")
	// The writer closing ends its tracking; a redirection to it breaks.
	execOn(h, w, "CLIENT", "TRACKING", "on")
	if h.s.tracker.Clients() != 1 {
		t.Fatalf("tracking_clients %d", h.s.tracker.Clients())
	}
	h.s.ReleaseClient(w)
	if h.s.tracker.Clients() != 0 {
		t.Fatalf("tracking_clients %d after close", h.s.tracker.Clients())
	}
}

// TestTrackingAllocs: a tracking client's reads and the invalidations of other clients'
// writes allocate nothing once warm, and a client that does not track pays nothing
// while others do.
func TestTrackingAllocs(t *testing.T) {
	h, w := trackPair(t)
	h.c.Proto = protocol.RESP3
	h.run("CLIENT", "TRACKING", "on")
	get := [][]byte{[]byte("GET"), []byte("k")}
	set := [][]byte{[]byte("SET"), []byte("k"), []byte("v")}
	other := [][]byte{[]byte("SET"), []byte("other"), []byte("v")}
	out := make([]byte, 0, 256)
	push := make([]byte, 0, 256)
	cycle := func() {
		out = h.s.Exec(h.c, get, h.now, out[:0])
		out = h.s.Exec(w, set, h.now, out[:0])
		push = h.c.DrainPush(push[:0])
	}
	for range 10 {
		cycle()
	}
	if !strings.Contains(string(push), "invalidate") {
		t.Fatalf("no invalidation pushed: %q", push)
	}
	if n := testing.AllocsPerRun(500, cycle); n != 0 {
		t.Errorf("tracked GET + foreign SET + drain: %v allocations", n)
	}
	if n := testing.AllocsPerRun(500, func() {
		out = h.s.Exec(w, other, h.now, out[:0])
		out = h.s.Exec(w, get, h.now, out[:0])
	}); n != 0 {
		t.Errorf("untracked client while another tracks: %v allocations", n)
	}
	h.run("CLIENT", "TRACKING", "on", "NOLOOP")
	if n := testing.AllocsPerRun(500, func() {
		out = h.s.Exec(h.c, get, h.now, out[:0])
		out = h.s.Exec(h.c, set, h.now, out[:0])
	}); n != 0 {
		t.Errorf("NOLOOP GET + own SET: %v allocations", n)
	}
}

// TestTrackingConcurrent runs tracking clients and writers on several goroutines (go test
// -race): reads, writes, NOLOOP, BCAST, flushes, enabling and disabling.
func TestTrackingConcurrent(t *testing.T) {
	h := newHarness(t)
	h.run("CONFIG", "SET", "tracking-table-max-keys", "50")
	var wg sync.WaitGroup
	for g := range 4 {
		c := h.s.NewClient("127.0.0.1:40010", "127.0.0.1:6379", false)
		c.Proto = protocol.RESP3
		wg.Add(1)
		go func() {
			defer wg.Done()
			modes := [][]string{{"on"}, {"on", "NOLOOP"}, {"on", "BCAST", "PREFIX", "k1"}, {"on", "OPTIN"}}
			execOn(h, c, append([]string{"CLIENT", "TRACKING"}, modes[g]...)...)
			var push []byte
			for i := range 2000 {
				k := "k" + string(rune('0'+i%10)) + string(rune('a'+g))
				switch i % 7 {
				case 0, 1, 2:
					execOn(h, c, "GET", k)
				case 3, 4:
					execOn(h, c, "SET", k, "v")
				case 5:
					execOn(h, c, "MGET", k, "k1", "k2")
				case 6:
					if i%700 == 6 {
						execOn(h, c, "FLUSHALL")
					} else if i%350 == 6 {
						execOn(h, c, "CLIENT", "TRACKING", "off")
						execOn(h, c, append([]string{"CLIENT", "TRACKING"}, modes[g]...)...)
					} else {
						execOn(h, c, "CLIENT", "TRACKINGINFO")
					}
				}
				push = c.DrainPush(push[:0])
			}
			h.s.ReleaseClient(c)
		}()
	}
	wg.Wait()
	if n := h.s.tracker.Clients(); n != 0 {
		t.Fatalf("tracking_clients %d after every client closed", n)
	}
	if n := h.s.tracker.Keys(); n > 50 {
		t.Fatalf("tracking_total_keys %d over the limit 50", n)
	}
}
