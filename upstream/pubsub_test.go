package upstream

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// relaySink collects what the relay delivers.
type relaySink struct {
	mu   sync.Mutex
	msgs []string
}

func (s *relaySink) deliver(kind int, pattern, channel, msg []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, strconv.Itoa(kind)+" "+string(pattern)+" "+string(channel)+" "+string(msg))
}

func (s *relaySink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs
	s.msgs = nil
	return m
}

// plainClient is a client of the test's own, straight to the upstream.
func plainClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func numSub(t *testing.T, c rueidis.Client, ch string) int64 {
	t.Helper()
	m, err := c.Do(context.Background(), c.B().PubsubNumsub().Channel(ch).Build()).AsIntMap()
	if err != nil {
		t.Fatal(err)
	}
	return m[ch]
}

func publish(t *testing.T, c rueidis.Client, ch, msg string) int64 {
	t.Helper()
	n, err := c.Do(context.Background(), c.B().Publish().Channel(ch).Message(msg).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantReady subscribes names of kind and waits for the upstream's confirmation.
func wantReady(t *testing.T, u *Upstream, kind int, names ...string) {
	t.Helper()
	bs := make([][]byte, len(names))
	for i, n := range names {
		u.PubSubWant(kind, []byte(n), true)
		bs[i] = []byte(n)
	}
	ready := make(chan struct{})
	if !u.PubSubReady(kind, bs, func() { close(ready) }) {
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			t.Fatalf("no confirmation of %v", names)
		}
	}
}

func TestRelayOnARealUpstream(t *testing.T) {
	rs := newRedisServer(t)
	u := newTestUpstream(t, rs.addr(), nil)
	sink := &relaySink{}
	u.SetPubSubSink(sink.deliver)
	c := plainClient(t, rs.addr())

	wantReady(t, u, PubSubChannel, "a", "b")
	wantReady(t, u, PubSubPattern, "a*")
	wantReady(t, u, PubSubShard, "a")
	if n := publish(t, c, "a", "1"); n != 2 { // the channel and the pattern
		t.Fatalf("PUBLISH a: %d receivers, want 2", n)
	}
	if n, err := c.Do(context.Background(), c.B().Spublish().Channel("a").Message("2").Build()).AsInt64(); err != nil || n != 1 {
		t.Fatalf("SPUBLISH a: %d, %v", n, err)
	}
	want := []string{"0  a 1", "1 a* a 1", "2  a 2"}
	waitFor(t, "the messages", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.msgs) >= len(want)
	})
	got := sink.take()
	// The shard namespace has its own connection: its message may come first.
	if len(got) != 3 || !(got[0] == want[0] && got[1] == want[1] || got[1] == want[0] && got[2] == want[1]) {
		t.Fatalf("delivered %q, want %q (the shard message anywhere)", got, want)
	}

	u.PubSubWant(PubSubChannel, []byte("a"), false)
	waitFor(t, "the upstream's unsubscription", func() bool { return numSub(t, c, "a") == 0 })
	if n := numSub(t, c, "b"); n != 1 {
		t.Fatalf("NUMSUB b: %d", n)
	}

	// A restart: the relay subscribes again what is wanted.
	rs.stop()
	rs.start()
	c2 := plainClient(t, rs.addr())
	waitFor(t, "the resubscription", func() bool {
		return numSub(t, c2, "b") == 1 && numSub(t, c2, "a") == 0
	})
	sink.take()
	if n := publish(t, c2, "b", "after"); n != 1 {
		t.Fatalf("PUBLISH b after the restart: %d", n)
	}
	waitFor(t, "the message after the restart", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return len(sink.msgs) == 1 && sink.msgs[0] == "0  b after"
	})
}

// An unreachable upstream does not hold SUBSCRIBE's reply for ever: a failed dial answers
// the waiting replies, and later ones are answered at once.
func TestRelayUnreachable(t *testing.T) {
	rs := newRedisServer(t)
	u := newTestUpstream(t, rs.addr(), nil)
	rs.stop()
	u.PubSubWant(PubSubChannel, []byte("x"), true)
	ready := make(chan struct{})
	if !u.PubSubReady(PubSubChannel, [][]byte{[]byte("x")}, func() { close(ready) }) {
		select {
		case <-ready:
		case <-time.After(20 * time.Second):
			t.Fatal("the waiting reply was not answered")
		}
	}
	waitFor(t, "an immediate answer while the upstream is away", func() bool {
		return u.PubSubReady(PubSubChannel, [][]byte{[]byte("x")}, func() { t.Error("ready called after true") })
	})
}

// Many goroutines subscribe and unsubscribe the same names at once (as the hubs of several
// event loops do); at the end the upstream holds exactly what is wanted.
func TestRelayConcurrentWants(t *testing.T) {
	rs := newRedisServer(t)
	u := newTestUpstream(t, rs.addr(), nil)
	u.SetPubSubSink(func(int, []byte, []byte, []byte) {})
	c := plainClient(t, rs.addr())
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				name := []byte("c" + strconv.Itoa(i%10))
				u.PubSubWant(PubSubChannel, name, (i+g)%2 == 0)
				u.PubSubReady(PubSubChannel, [][]byte{name}, func() {})
			}
		}(g)
	}
	wg.Wait()
	// The last word on each name decides it: settle every name explicitly.
	for i := 0; i < 10; i++ {
		u.PubSubWant(PubSubChannel, []byte("c"+strconv.Itoa(i)), i < 5)
	}
	waitFor(t, "the upstream to hold c0..c4 only", func() bool {
		for i := 0; i < 10; i++ {
			want := int64(0)
			if i < 5 {
				want = 1
			}
			if numSub(t, c, "c"+strconv.Itoa(i)) != want {
				return false
			}
		}
		return true
	})
}
