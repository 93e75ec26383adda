package netpoll

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// heapInUse is the Go heap in use after a GC: the server's client buffers live there.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// closedByPeer reports whether the server closed c: reading (and discarding whatever
// replies were sent before the close) ends in EOF or a reset, not a timeout.
func closedByPeer(c net.Conn, within time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func setBig(t *testing.T, c *client, key string, n int) {
	t.Helper()
	c.send(cmdBytes("SET", key, strings.Repeat("v", n)))
	if v := c.read(); string(v.Str) != "OK" {
		t.Fatalf("SET: %q", v.Str)
	}
}

func mustPong(t *testing.T, c *client) {
	t.Helper()
	c.send(cmdBytes("PING"))
	if v := c.read(); string(v.Str) != "PONG" {
		t.Fatalf("PING: %q", v.Str)
	}
}

// A client that pipelines GETs of a big value and never reads is closed at the hard limit
// without reading a byte; its memory is given back, it is counted, and another client
// keeps being answered, big values included.
func TestOutputLimitHardFreesMemory(t *testing.T) {
	s := startServer(t, Options{OutputLimit: OutputLimit{Hard: 16 << 20}})
	other := dial(t, "tcp", s.tcp)
	setBig(t, other, "big", 1<<20)
	base, heap0 := s.ClientMemory(), heapInUse()

	slow := dial(t, "tcp", s.tcp)
	slow.send(bytes.Repeat(cmdBytes("GET", "big"), 512))
	waitFor(t, "the slow client to be closed", 20*time.Second, func() bool { return s.Stats().OutputLimitClosed.Load() == 1 })
	waitFor(t, "client memory back to its baseline", 10*time.Second, func() bool { return s.ClientMemory() <= base+64<<10 })
	waitFor(t, "the Go heap back to its baseline", 10*time.Second, func() bool { return heapInUse() <= heap0+8<<20 })
	if !closedByPeer(slow.c, 10*time.Second) {
		t.Fatal("the slow client's connection is still open")
	}
	mustPong(t, other)
	other.send(cmdBytes("GET", "big"))
	if v := other.read(); len(v.Str) != 1<<20 {
		t.Fatalf("GET big after the close: %d bytes", len(v.Str))
	}
	if n := s.Stats().OutputLimitClosed.Load(); n != 1 {
		t.Fatalf("%d output-limit closes, want 1", n)
	}
}

// Over the soft limit a client is closed once it has stayed there for SoftFor, even if it
// sends nothing more (the sweep checks it); a client that reads its replies is not.
func TestOutputLimitSoft(t *testing.T) {
	s := startServer(t, Options{OutputLimit: OutputLimit{Soft: 4 << 20, SoftFor: time.Second}})
	reader := dial(t, "tcp", s.tcp)
	setBig(t, reader, "big", 1<<20)

	slow := dial(t, "tcp", s.tcp)
	slow.send(bytes.Repeat(cmdBytes("GET", "big"), 32))
	// The reader asks for as much, but never more than the soft limit at a time.
	for range 10 {
		reader.send(bytes.Repeat(cmdBytes("GET", "big"), 3))
		for range 3 {
			if v := reader.read(); len(v.Str) != 1<<20 {
				t.Fatalf("reader got %d bytes", len(v.Str))
			}
		}
	}
	waitFor(t, "the slow client to be closed", 20*time.Second, func() bool { return s.Stats().OutputLimitClosed.Load() == 1 })
	if !closedByPeer(slow.c, 10*time.Second) {
		t.Fatal("the slow client's connection is still open")
	}
	mustPong(t, reader)
}

// SetOutputLimit applies to connections already open.
func TestOutputLimitSetAtRunTime(t *testing.T) {
	s := startServer(t, Options{})
	other := dial(t, "tcp", s.tcp)
	setBig(t, other, "big", 1<<20)
	s.SetOutputLimit(OutputLimit{Hard: 8 << 20})
	slow := dial(t, "tcp", s.tcp)
	slow.send(bytes.Repeat(cmdBytes("GET", "big"), 256))
	waitFor(t, "the slow client to be closed", 20*time.Second, func() bool { return s.Stats().OutputLimitClosed.Load() == 1 })
	mustPong(t, other)
}

// timeout closes a client that neither sends nor reads; a client that keeps sending stays.
func TestIdleTimeout(t *testing.T) {
	s := startServer(t, Options{})
	idle := dial(t, "tcp", s.tcp)
	busy := dial(t, "unix", s.unix)
	mustPong(t, idle)
	s.SetIdleTimeout(time.Second)
	done := make(chan bool)
	go func() { done <- closedByPeer(idle.c, 20*time.Second) }()
	for {
		select {
		case closed := <-done:
			if !closed {
				t.Fatal("idle client not closed")
			}
			mustPong(t, busy)
			return
		case <-time.After(100 * time.Millisecond):
			mustPong(t, busy)
		}
	}
}

// clientID asks the server for c's id.
func clientID(t *testing.T, c *client) int64 {
	t.Helper()
	c.send(cmdBytes("CLIENT", "ID"))
	return c.read().Int
}

func TestClientKill(t *testing.T) {
	s := startServer(t, Options{})
	admin := dial(t, "tcp", s.tcp)
	do := func(args ...string) string {
		t.Helper()
		admin.send(cmdBytes(args...))
		v := admin.read()
		if v.Kind == '-' {
			return "-" + string(v.Str)
		}
		if v.Kind == ':' {
			return strconv.FormatInt(v.Int, 10)
		}
		return string(v.Str)
	}

	// By ID: the victim's connection is closed, the count says 1, others are untouched.
	victim := dial(t, "tcp", s.tcp)
	bystander := dial(t, "unix", s.unix)
	id := clientID(t, victim)
	mustPong(t, bystander)
	if got := do("CLIENT", "KILL", "ID", strconv.FormatInt(id, 10)); got != "1" {
		t.Fatalf("KILL ID: %s", got)
	}
	if !closedByPeer(victim.c, 10*time.Second) {
		t.Fatal("killed client still open")
	}
	if got := do("CLIENT", "KILL", "ID", strconv.FormatInt(id, 10)); got != "0" {
		t.Fatalf("KILL ID again: %s", got)
	}

	// Old form by address: +OK, then "No such client".
	victim = dial(t, "tcp", s.tcp)
	addr := victim.c.LocalAddr().String()
	mustPong(t, victim)
	if got := do("CLIENT", "KILL", addr); got != "OK" {
		t.Fatalf("KILL addr: %s", got)
	}
	if !closedByPeer(victim.c, 10*time.Second) {
		t.Fatal("killed client still open")
	}
	waitFor(t, "the killed client to be gone", 10*time.Second, func() bool { return s.cmd.Clients() == 2 })
	if got := do("CLIENT", "KILL", addr); got != "-ERR No such client" {
		t.Fatalf("KILL addr again: %s", got)
	}

	// LADDR: every client of the Unix socket; the admin (TCP) is spared.
	if got := do("CLIENT", "KILL", "LADDR", s.unix+":0"); got != "1" {
		t.Fatalf("KILL LADDR: %s", got)
	}
	if !closedByPeer(bystander.c, 10*time.Second) {
		t.Fatal("unix client still open")
	}

	// TYPE pubsub matches nobody; MAXAGE spares young clients; USER must exist.
	young := dial(t, "tcp", s.tcp)
	mustPong(t, young)
	if got := do("CLIENT", "KILL", "TYPE", "pubsub"); got != "0" {
		t.Fatalf("KILL TYPE pubsub: %s", got)
	}
	if got := do("CLIENT", "KILL", "MAXAGE", "1000"); got != "0" {
		t.Fatalf("KILL MAXAGE: %s", got)
	}
	if got := do("CLIENT", "KILL", "USER", "nobody"); got != "-ERR No such user 'nobody'" {
		t.Fatalf("KILL USER: %s", got)
	}
	// TYPE normal, USER default: everyone but the caller.
	if got := do("CLIENT", "KILL", "TYPE", "normal", "USER", "default"); got != "1" {
		t.Fatalf("KILL TYPE normal: %s", got)
	}
	if !closedByPeer(young.c, 10*time.Second) {
		t.Fatal("normal client still open")
	}

	// SKIPME no: the caller gets its reply, then is closed.
	if got := do("CLIENT", "KILL", "ID", strconv.FormatInt(clientID(t, admin), 10), "SKIPME", "no"); got != "1" {
		t.Fatalf("KILL self: %s", got)
	}
	if !closedByPeer(admin.c, 10*time.Second) {
		t.Fatal("caller not closed after SKIPME no")
	}
}

// Over maxmemory-clients the client holding the most memory is closed first; CLIENT
// NO-EVICT clients are never picked; small clients are left alone.
func TestMaxMemoryClientsEvictsBiggest(t *testing.T) {
	s := startServer(t, Options{MaxMemoryClients: 24 << 20})
	small := dial(t, "tcp", s.tcp)
	setBig(t, small, "big", 1<<20)

	protected := dial(t, "tcp", s.tcp)
	protected.send(cmdBytes("CLIENT", "NO-EVICT", "on"))
	if v := protected.read(); string(v.Str) != "OK" {
		t.Fatalf("NO-EVICT: %q", v.Str)
	}
	// 12 MiB of replies it does not read yet.
	protected.send(bytes.Repeat(cmdBytes("GET", "big"), 12))
	waitFor(t, "the protected client's backlog", 10*time.Second, func() bool { return s.ClientMemory() > 2<<20 })

	hog := dial(t, "unix", s.unix)
	hog.send(bytes.Repeat(cmdBytes("GET", "big"), 128))
	waitFor(t, "an eviction", 20*time.Second, func() bool { return s.Stats().EvictedClients.Load() >= 1 })
	if !closedByPeer(hog.c, 10*time.Second) {
		t.Fatal("the hog is still open")
	}
	if n := s.Stats().EvictedClients.Load(); n != 1 {
		t.Fatalf("%d clients evicted, want 1 (the hog)", n)
	}
	for range 12 {
		if v := protected.read(); len(v.Str) != 1<<20 {
			t.Fatalf("protected client got %d bytes", len(v.Str))
		}
	}
	mustPong(t, protected)
	mustPong(t, small)
}

// CLIENT LIST shows the buffers the network layer holds for a client.
func TestClientListShowsBuffers(t *testing.T) {
	s := startServer(t, Options{})
	c := dial(t, "tcp", s.tcp)
	setBig(t, c, "big", 1<<20)
	slow := dial(t, "tcp", s.tcp)
	id := clientID(t, slow)
	slow.send(bytes.Repeat(cmdBytes("GET", "big"), 16))
	re := "id=" + strconv.FormatInt(id, 10) + " "
	waitFor(t, "omem and tot-mem of the slow client", 10*time.Second, func() bool {
		c.send(cmdBytes("CLIENT", "LIST"))
		for _, line := range strings.Split(string(c.read().Str), "\n") {
			if !strings.HasPrefix(line, re) {
				continue
			}
			f := fields(line)
			omem, _ := strconv.Atoi(f["omem"])
			tot, _ := strconv.Atoi(f["tot-mem"])
			return omem > 1<<20 && tot >= omem
		}
		return false
	})
}

func fields(line string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// The per-batch limit checks and memory accounting allocate nothing: a pipelined stream of
// GETs over a real socket costs no heap allocation per command on the server.
func TestBatchPathAllocatesNothing(t *testing.T) {
	s := startServer(t, Options{OutputLimit: OutputLimit{Hard: 64 << 20, Soft: 16 << 20, SoftFor: 10 * time.Second},
		MaxMemoryClients: 1 << 30, IdleTimeout: time.Hour})
	c := dial(t, "tcp", s.tcp)
	setBig(t, c, "k", 16)
	const perBatch, batches = 100, 200
	req := bytes.Repeat(cmdBytes("GET", "k"), perBatch)
	reply := []byte("$16\r\nvvvvvvvvvvvvvvvv\r\n")
	buf := make([]byte, len(reply)*perBatch)
	round := func() {
		c.send(req)
		if _, err := io.ReadFull(c.c, buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		round() // warm up buffers
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range batches {
		round()
	}
	runtime.ReadMemStats(&after)
	if !bytes.Equal(buf[:len(reply)], reply) {
		t.Fatalf("reply %q", buf[:len(reply)])
	}
	// A few allocations come from elsewhere in the process (the sweeper's timer, runtime);
	// one in the batch path would make it at least 1 per batch.
	per := float64(after.Mallocs-before.Mallocs) / batches
	t.Logf("%.3f allocations per batch of %d GETs", per, perBatch)
	if per > 0.5 {
		t.Fatalf("%.3f allocations per batch", per)
	}
}

// maxclients and client-query-buffer-limit change on a running server.
func TestMaxClientsAndQueryLimitAtRunTime(t *testing.T) {
	s := startServer(t, Options{})
	a := dial(t, "tcp", s.tcp)
	mustPong(t, a)
	s.SetMaxClients(1)
	b := dial(t, "unix", s.unix)
	if v := b.read(); string(v.Str) != "ERR max number of clients reached" {
		t.Fatalf("over maxclients: %q", v.Str)
	}
	s.SetMaxClients(10)
	mustPong(t, dial(t, "unix", s.unix))

	s.SetQueryBufferLimit(64 << 10)
	a.send([]byte("*2\r\n$3\r\nGET\r\n$1000000\r\n"))
	_, _ = a.c.Write(bytes.Repeat([]byte("x"), 128<<10)) // may fail: the server closes first
	if !closedByPeer(a.c, 10*time.Second) {
		t.Fatal("client over the new query buffer limit still open")
	}
}

// An idle client's buffers are released: idle connections hold nothing against
// maxmemory-clients, and are never picked by the evictor.
func TestIdleClientReleasesBuffers(t *testing.T) {
	s := startServer(t, Options{})
	c := dial(t, "tcp", s.tcp)
	setBig(t, c, "k", 32<<10)
	c.send(cmdBytes("GET", "k"))
	c.read()
	waitFor(t, "the reply buffer to be counted", 10*time.Second, func() bool { return s.ClientMemory() >= 32<<10 })
	waitFor(t, "the idle client's buffers to be released", 20*time.Second, func() bool { return s.ClientMemory() == 0 })
	c.send(cmdBytes("GET", "k"))
	if v := c.read(); len(v.Str) != 32<<10 {
		t.Fatalf("GET after the release: %d bytes", len(v.Str))
	}
}
