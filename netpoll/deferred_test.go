package netpoll

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sidecache/sidecache/command"
	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// startUpstreamServer is startServer in upstream mode: SetUpstream must come before the
// loops run.
func startUpstreamServer(t *testing.T, up command.Upstream) *testServer {
	t.Helper()
	eng, err := engine.Open(engine.Config{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := command.NewServer(command.Options{Engine: eng, Config: config.New(), Version: "test"})
	cmd.SetUpstream(up)
	return serveCommands(t, Options{}, eng, cmd)
}

// stubUpstream answers GET of a key named "slow..." later, when the test releases it, and
// everything else at once: enough to drive the deferred-reply path without a real upstream.
type stubUpstream struct {
	mu      sync.Mutex
	release map[string]chan struct{}
	started chan string
}

func newStub() *stubUpstream {
	return &stubUpstream{release: map[string]chan struct{}{}, started: make(chan string, 64)}
}

func (s *stubUpstream) gate(key string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.release[key]
	if ch == nil {
		ch = make(chan struct{})
		s.release[key] = ch
	}
	return ch
}

func (s *stubUpstream) Open(deliver func([]byte)) command.UpstreamConn {
	return &stubConn{s: s, deliver: deliver}
}
func (s *stubUpstream) Cluster() bool                { return false }
func (s *stubUpstream) AppendInfo(dst []byte) []byte { return dst }

type stubConn struct {
	s       *stubUpstream
	deliver func([]byte)
	next    string
}

func (c *stubConn) Do(db int, proto protocol.Version, name string, args, keys [][]byte, write bool, now int64, out []byte) ([]byte, bool) {
	if name == "get" && strings.HasPrefix(string(args[1]), "slow") {
		c.next = string(args[1])
		return out, true
	}
	return protocol.AppendBulk(out, append([]byte("now:"), args[1]...)), false
}

func (c *stubConn) Start() {
	key := c.next
	gate := c.s.gate(key)
	c.s.started <- key
	go func() {
		<-gate
		c.deliver(protocol.AppendBulk(nil, []byte("later:"+key)))
	}()
}

// Pipelined commands around deferred ones: replies leave in request order, and the
// commands after a deferred one wait for its reply, including input that arrives while it
// is away.
func TestDeferredRepliesInOrder(t *testing.T) {
	stub := newStub()
	s := startUpstreamServer(t, stub)
	c := dial(t, "tcp", s.tcp)
	var req []byte
	for _, k := range []string{"a", "slow1", "b", "slow2", "c"} {
		req = append(req, cmdBytes("GET", k)...)
	}
	c.send(req)
	if v := c.read(); string(v.Str) != "now:a" {
		t.Fatalf("first reply %q", v.Str)
	}
	if k := <-stub.started; k != "slow1" {
		t.Fatalf("started %q", k)
	}
	// Input arriving during the wait is buffered, not run.
	c.send(cmdBytes("PING"))
	select {
	case k := <-stub.started:
		t.Fatalf("%s started before slow1's reply", k)
	case <-time.After(50 * time.Millisecond):
	}
	close(stub.gate("slow1"))
	for _, want := range []string{"later:slow1", "now:b"} {
		if v := c.read(); string(v.Str) != want {
			t.Fatalf("reply %q, want %q", v.Str, want)
		}
	}
	if k := <-stub.started; k != "slow2" {
		t.Fatalf("started %q", k)
	}
	close(stub.gate("slow2"))
	for _, want := range []string{"later:slow2", "now:c", "PONG"} {
		if v := c.read(); string(v.Str) != want {
			t.Fatalf("reply %q, want %q", v.Str, want)
		}
	}
}

// Many connections, each with pipelined deferred commands released in reverse order:
// every connection gets its own replies, in its order.
func TestDeferredManyConnections(t *testing.T) {
	stub := newStub()
	s := startUpstreamServer(t, stub)
	const conns, per = 8, 20
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = dial(t, "tcp", s.tcp)
		var req []byte
		for j := 0; j < per; j++ {
			req = append(req, cmdBytes("GET", "slow"+strconv.Itoa(i)+"-"+strconv.Itoa(j))...)
			req = append(req, cmdBytes("GET", "x"+strconv.Itoa(j))...)
		}
		clients[i].send(req)
	}
	go func() {
		for k := range stub.started {
			close(stub.gate(k))
		}
	}()
	for i, c := range clients {
		for j := 0; j < per; j++ {
			if v := c.read(); string(v.Str) != "later:slow"+strconv.Itoa(i)+"-"+strconv.Itoa(j) {
				t.Fatalf("conn %d reply %d: %q", i, j, v.Str)
			}
			if v := c.read(); string(v.Str) != "now:x"+strconv.Itoa(j) {
				t.Fatalf("conn %d reply %d: %q", i, j, v.Str)
			}
		}
	}
}

// A connection closed while its command is away: the late reply goes nowhere.
func TestDeferredClientGone(t *testing.T) {
	stub := newStub()
	s := startUpstreamServer(t, stub)
	c := dial(t, "tcp", s.tcp)
	c.send(cmdBytes("GET", "slowgone"))
	<-stub.started
	c.c.Close()
	time.Sleep(20 * time.Millisecond)
	close(stub.gate("slowgone"))
	d := dial(t, "tcp", s.tcp)
	d.send(cmdBytes("GET", "k"))
	if v := d.read(); string(v.Str) != "now:k" {
		t.Fatalf("reply %q", v.Str)
	}
}
