package main

// The hostile-client suite (issue 9): one real server, one subtest per hostile client over a
// real socket. After each one, another client must be served (PING, a SET/GET round trip)
// and, once the hostile client is gone, the server's RSS, open file descriptors and
// connected_clients must be back to what they were before the case (RSS within 10% + 8 MiB).
// Closes are asynchronous, so the return to the baseline is polled for.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hostileMaxClients is the server's maxclients during the suite; the connection-flood case
// depends on it.
const hostileMaxClients = 1000

// settleTimeout bounds the wait for a server to return to its baseline after a case.
const settleTimeout = 10 * time.Second

// footprint is what a hostile client must not leave behind.
type footprint struct {
	rss     int64 // VmRSS, bytes
	fds     int   // entries of /proc/PID/fd
	clients int   // INFO connected_clients, the observer included
}

func (f footprint) String() string {
	return "rss " + strconv.FormatInt(f.rss>>20, 10) + " MiB, fds " + strconv.Itoa(f.fds) +
		", connected_clients " + strconv.Itoa(f.clients)
}

// vmRSS returns VmRSS of pid in bytes.
func vmRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/PID/status")
	return 0
}

// openFDs returns the number of open file descriptors of pid.
func openFDs(t testing.TB, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// hostileEnv is the server under attack and the connection that watches it.
type hostileEnv struct {
	p     *proc
	admin string    // host:port of /metrics
	obs   *respConn // holds one client slot for the whole suite; asks INFO
}

func (h *hostileEnv) measure(t *testing.T) footprint {
	t.Helper()
	n, _ := strconv.Atoi(infoField(h.obs.Do("INFO", "clients"), "connected_clients"))
	return footprint{rss: vmRSS(t, h.p.PID), fds: openFDs(t, h.p.PID), clients: n}
}

// quiet waits until the observer is the only client (the previous case's probe has been
// closed) and returns the footprint then.
func (h *hostileEnv) quiet(t *testing.T) footprint {
	t.Helper()
	var f footprint
	waitUntil(t, "the observer to be the only client", settleTimeout, func() bool {
		f = h.measure(t)
		return f.clients == 1
	})
	return f
}

func (h *hostileEnv) stat(t *testing.T, field string) int64 {
	t.Helper()
	n, _ := strconv.ParseInt(infoField(h.obs.Do("INFO", "stats"), field), 10, 64)
	return n
}

// served checks that a new client gets answers: PING and a SET/GET round trip.
func (h *hostileEnv) served(t *testing.T) {
	t.Helper()
	if h.p.exited() {
		t.Fatalf("server exited: %v", h.p.cmd.ProcessState)
	}
	c := dialResp(t, h.p.Addr)
	defer c.Close()
	if got := string(c.Do("PING")); got != "+PONG\r\n" {
		t.Fatalf("PING from another client: %q", got)
	}
	v := "served-" + strconv.FormatInt(time.Now().UnixNano(), 10)
	if got := string(c.Do("SET", "hostile:probe", v)); got != "+OK\r\n" {
		t.Fatalf("SET from another client: %q", got)
	}
	if got, want := string(c.Do("GET", "hostile:probe")), "$"+strconv.Itoa(len(v))+"\r\n"+v+"\r\n"; got != want {
		t.Fatalf("GET from another client: %q, want %q", got, want)
	}
}

// settled waits until the footprint is back to base: RSS within 10% + 8 MiB, no more file
// descriptors and no more clients.
func (h *hostileEnv) settled(t *testing.T, base footprint) {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	var now footprint
	for {
		now = h.measure(t)
		if now.rss <= base.rss+base.rss/10+8<<20 && now.fds <= base.fds && now.clients <= base.clients {
			break
		}
		if time.Now().After(deadline) {
			t.Logf("Go runtime of the server:\n%s", h.goMemory(t))
			t.Fatalf("not back to the baseline within %v: before %v, now %v", settleTimeout, base, now)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("before: %v; after: %v", base, now)
}

// goMemory returns the go_* lines of the server's /metrics, to tell a leak from free heap
// the runtime has not returned yet.
func (h *hostileEnv) goMemory(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.admin+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "go_memstats_heap") || strings.HasPrefix(line, "go_goroutines") ||
			strings.HasPrefix(line, "go_memstats_sys") || strings.HasPrefix(line, "sidecache_client") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// rawDial connects over TCP. Cases close (or reset) their sockets themselves; the cleanup
// only catches a case that failed first.
func rawDial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// abort closes c with a reset rather than a FIN, as a crashing client would.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// drainUntilClosed reads c until the server closes it or d passes, and returns what it read
// and whether the server closed the connection (EOF or reset).
func drainUntilClosed(c net.Conn, d time.Duration) ([]byte, bool) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	var got bytes.Buffer
	_, err := io.Copy(&got, c)
	if err == nil || errors.Is(err, io.EOF) || isReset(err) {
		return got.Bytes(), true
	}
	return got.Bytes(), false
}

// expectProtocolError sends b, expects exactly the error reply want and the server's close.
func expectProtocolError(t *testing.T, h *hostileEnv, b []byte, want string) {
	t.Helper()
	c := rawDial(t, h.p.Addr)
	_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
	got, closed := drainUntilClosed(c, ioTimeout)
	if string(got) != want || !closed {
		t.Fatalf("after %q: read %q (closed %v), want %q and a close", b, got, closed, want)
	}
	c.Close()
}

func TestHostileClients(t *testing.T) {
	srv := startServerEnv(t, nil, "--maxclients", strconv.Itoa(hostileMaxClients))
	p := srv.proc
	h := &hostileEnv{p: p, admin: srv.admin, obs: dialResp(t, p.Addr)}
	const bigSize = 1 << 20
	if got := string(h.obs.Do("SET", "hostile:big", strings.Repeat("v", bigSize))); got != "+OK\r\n" {
		t.Fatalf("SET hostile:big: %q", got)
	}
	h.served(t)

	// f runs one hostile client, then checks that others are served and nothing is left.
	f := func(name string, hostile func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			base := h.quiet(t)
			hostile(t)
			h.served(t)
			h.settled(t, base)
			h.served(t)
		})
	}

	f("RandomGarbage", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 1))
		var wg sync.WaitGroup
		for i := range 16 {
			garbage := make([]byte, 256<<10)
			for j := range garbage {
				garbage[j] = byte(rng.Uint32())
			}
			c := rawDial(t, p.Addr)
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Replies are read while writing so that a server answering every line with
				// an error never blocks on this client.
				done := make(chan struct{})
				go func() { drainUntilClosed(c, 2*time.Second); close(done) }()
				_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
				_, _ = c.Write(garbage)
				<-done
				if i%2 == 0 {
					abort(c)
				} else {
					c.Close()
				}
			}()
		}
		wg.Wait()
	})

	f("MultibulkCount2147483648", func(t *testing.T) {
		expectProtocolError(t, h, []byte("*2147483648\r\n"), "-ERR Protocol error: invalid multibulk length\r\n")
	})

	f("NegativeBulkLengthInMultibulk", func(t *testing.T) {
		expectProtocolError(t, h, []byte("*2\r\n$3\r\nGET\r\n$-5\r\n"), "-ERR Protocol error: invalid bulk length\r\n")
	})

	f("BulkLength2GB", func(t *testing.T) {
		expectProtocolError(t, h, []byte("*2\r\n$3\r\nSET\r\n$2147483648\r\n"), "-ERR Protocol error: invalid bulk length\r\n")
	})

	// A bulk exactly at proto-max-bulk-len is legal; announcing it must not make the server
	// hold 512 MiB for a client that sends nothing more.
	f("BulkAtProtoMaxBulkLenNeverSent", func(t *testing.T) {
		before := vmRSS(t, p.PID)
		c := rawDial(t, p.Addr)
		if _, err := c.Write([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\nabc")); err != nil {
			t.Fatal(err)
		}
		if _, closed := drainUntilClosed(c, 300*time.Millisecond); closed {
			t.Fatal("server closed a client with a legal bulk in progress")
		}
		if rss := vmRSS(t, p.PID); rss > before+64<<20 {
			t.Errorf("RSS %d MiB after announcing a 512 MiB bulk, %d MiB before", rss>>20, before>>20)
		}
		abort(c)
	})

	f("Inline10MBWithoutNewline", func(t *testing.T) {
		c := rawDial(t, p.Addr)
		line := bytes.Repeat([]byte("a"), 10<<20)
		type result struct {
			got    []byte
			closed bool
		}
		res := make(chan result, 1)
		go func() { got, closed := drainUntilClosed(c, ioTimeout); res <- result{got, closed} }()
		_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
		_, werr := c.Write(line)
		r := <-res
		if !r.closed {
			t.Fatalf("server did not close the client (write: %v)", werr)
		}
		// The server closes with most of the line unread, so the kernel may reset the
		// connection before the error reply reaches this side; when it arrives, it is Redis's.
		if len(r.got) > 0 && string(r.got) != "-ERR Protocol error: too big inline request\r\n" {
			t.Fatalf("reply %q", r.got)
		}
		t.Logf("write: %v; reply %q", werr, r.got)
		c.Close()
	})

	f("BulkDrippedOneBytePer100ms", func(t *testing.T) {
		c := rawDial(t, p.Addr)
		if _, err := c.Write([]byte("*3\r\n$3\r\nSET\r\n$7\r\ndripkey\r\n$100000\r\n")); err != nil {
			t.Fatal(err)
		}
		other := dialResp(t, p.Addr)
		for i := range 20 {
			time.Sleep(100 * time.Millisecond)
			if _, err := c.Write([]byte{'x'}); err != nil {
				t.Fatalf("drip %d: %v", i, err)
			}
			if i%5 == 0 {
				if got := string(other.Do("PING")); got != "+PONG\r\n" {
					t.Fatalf("PING while dripping: %q", got)
				}
			}
		}
		other.Close()
		c.Close()
		if got := string(h.obs.Do("EXISTS", "dripkey")); got != ":0\r\n" {
			t.Fatalf("EXISTS dripkey after an incomplete SET: %q", got)
		}
	})

	f("ConnectionFlood20000", func(t *testing.T) { connectionFlood(t, h, 20000) })

	f("PipelinedGet1MiBNotRead", func(t *testing.T) {
		before := h.stat(t, "client_output_buffer_limit_disconnections")
		c := rawDial(t, p.Addr)
		if _, err := c.Write(bytes.Repeat(encodeCommand([]string{"GET", "hostile:big"}), 4096)); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the client that does not read to be closed", 30*time.Second, func() bool {
			return h.stat(t, "client_output_buffer_limit_disconnections") > before
		})
		c.Close()
	})

	f("DisconnectMidPipeline", func(t *testing.T) {
		var pipe []byte
		for i := range 2000 {
			k := "hostile:pipe:" + strconv.Itoa(i%100)
			pipe = append(pipe, encodeCommand([]string{"SET", k, strings.Repeat("p", i%512)})...)
			pipe = append(pipe, encodeCommand([]string{"GET", k})...)
			if i%200 == 0 {
				pipe = append(pipe, encodeCommand([]string{"GET", "hostile:big"})...)
			}
		}
		rng := rand.New(rand.NewPCG(9, 2))
		for i := range 20 {
			c := rawDial(t, p.Addr)
			// Cut anywhere, usually inside a command; read some replies or none.
			cut := rng.IntN(len(pipe))
			_ = c.SetWriteDeadline(time.Now().Add(ioTimeout))
			if _, err := c.Write(pipe[:cut]); err != nil {
				t.Fatal(err)
			}
			if i%3 == 1 {
				_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				_, _ = io.CopyN(io.Discard, c, int64(rng.IntN(2<<20)))
			}
			if i%2 == 0 {
				abort(c)
			} else {
				c.Close()
			}
		}
	})

	// MULTI with 100,000 queued commands: the queue is the client's own memory (counted,
	// bounded by client-query-buffer-limit), EXEC answers all of them, and a client that
	// queues as much and then vanishes leaves nothing behind.
	const queued = 100_000
	var multi bytes.Buffer
	multi.WriteString("*1\r\n$5\r\nMULTI\r\n")
	for i := range queued {
		k := "hostile:m:" + strconv.Itoa(i%1000)
		multi.WriteString("*3\r\n$3\r\nSET\r\n$" + strconv.Itoa(len(k)) + "\r\n" + k + "\r\n$1\r\nv\r\n")
	}
	f("Multi100000QueuedThenExec", func(t *testing.T) {
		c := rawDial(t, p.Addr)
		req := append(bytes.Clone(multi.Bytes()), "*1\r\n$4\r\nEXEC\r\n"...)
		errc := make(chan error, 1)
		go func() {
			_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
			_, err := c.Write(req)
			errc <- err
		}()
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		r := bufio.NewReader(c)
		line := func() string {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading replies: %v", err)
			}
			return l
		}
		if l := line(); l != "+OK\r\n" {
			t.Fatalf("MULTI: %q", l)
		}
		for i := range queued {
			if l := line(); l != "+QUEUED\r\n" {
				t.Fatalf("queued command %d: %q", i, l)
			}
		}
		if l := line(); l != "*"+strconv.Itoa(queued)+"\r\n" {
			t.Fatalf("EXEC header: %q", l)
		}
		for i := range queued {
			if l := line(); l != "+OK\r\n" {
				t.Fatalf("EXEC reply %d: %q", i, l)
			}
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
	f("Multi100000QueuedThenGone", func(t *testing.T) {
		c := rawDial(t, p.Addr)
		go func() { _, _ = io.Copy(io.Discard, c) }()
		_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write(multi.Bytes()); err != nil {
			t.Fatal(err)
		}
		// The queue is complete once a command after it is answered on this connection's
		// behalf; a PING would be queued too, so ask another client for the count instead.
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(string(h.obs.Do("CLIENT", "LIST")), "multi="+strconv.Itoa(queued)+" ") {
			if time.Now().After(deadline) {
				t.Fatalf("the queue never reached %d commands: %s", queued, h.obs.Do("CLIENT", "LIST"))
			}
			time.Sleep(20 * time.Millisecond)
		}
		abort(c)
	})
}

// connectionFlood makes n connection attempts against maxclients, some at a time. Every
// client accepted stays open until the end, so the server reaches maxclients; every one
// past it must get Redis's error, and connected_clients must never exceed maxclients.
func connectionFlood(t *testing.T, h *hostileEnv, n int) {
	const workers, batch = 16, 1000
	raiseNoFile(t, hostileMaxClients+workers+256)
	rejectedBefore := h.stat(t, "rejected_connections")
	already := h.quiet(t).clients

	var (
		mu       sync.Mutex
		held     []net.Conn
		rejected atomic.Int64
		resets   atomic.Int64 // refused without the error reply reaching this side
		failure  atomic.Pointer[string]
	)
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	fail := func(s string) { failure.CompareAndSwap(nil, &s) }
	attempt := func() {
		c, err := net.DialTimeout("tcp", h.p.Addr, ioTimeout)
		if err != nil {
			fail("dial: " + err.Error())
			return
		}
		_ = c.SetDeadline(time.Now().Add(ioTimeout))
		_, _ = c.Write([]byte("PING\r\n"))
		line, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case line == "+PONG\r\n":
			_ = c.SetDeadline(time.Time{})
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
			return
		case line == "-ERR max number of clients reached\r\n":
			rejected.Add(1)
		case line == "" && (errors.Is(err, io.EOF) || isReset(err)):
			resets.Add(1)
		default:
			fail("reply " + strconv.Quote(line) + ": " + errString(err))
		}
		c.Close()
	}

	maxSeen := 0
	for done := 0; done < n && failure.Load() == nil; done += batch {
		todo := atomic.Int64{}
		todo.Store(int64(min(batch, n-done)))
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for todo.Add(-1) >= 0 {
					attempt()
				}
			}()
		}
		wg.Wait()
		clients := h.measure(t).clients
		maxSeen = max(maxSeen, clients)
		if clients > hostileMaxClients {
			t.Fatalf("connected_clients %d over maxclients %d", clients, hostileMaxClients)
		}
	}
	if s := failure.Load(); s != nil {
		t.Fatal(*s)
	}
	mu.Lock()
	accepted := len(held)
	mu.Unlock()
	refused := rejected.Load() + resets.Load()
	t.Logf("%d attempts: %d accepted, %d refused with the error, %d refused by a reset; connected_clients at most %d",
		n, accepted, rejected.Load(), resets.Load(), maxSeen)
	if want := hostileMaxClients - already; accepted != want {
		t.Errorf("accepted %d, want %d (maxclients %d, %d already connected)", accepted, want, hostileMaxClients, already)
	}
	if int64(accepted)+refused != int64(n) {
		t.Errorf("accepted %d + refused %d != %d attempts", accepted, refused, n)
	}
	if got := h.stat(t, "rejected_connections") - rejectedBefore; got != refused {
		t.Errorf("rejected_connections grew by %d, want %d", got, refused)
	}
	// A reset may overtake the reply now and then; most refusals must carry the error.
	if resets.Load() > refused/100 {
		t.Errorf("%d of %d refusals without the error reply", resets.Load(), refused)
	}
	if maxSeen != hostileMaxClients {
		t.Errorf("connected_clients peaked at %d, want maxclients %d", maxSeen, hostileMaxClients)
	}
}

// raiseNoFile makes sure this process may hold want descriptors.
func raiseNoFile(t *testing.T, want uint64) {
	t.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur >= want {
		return
	}
	if rl.Max < want {
		t.Skipf("RLIMIT_NOFILE hard limit %d below the %d descriptors this case needs", rl.Max, want)
	}
	old := rl
	rl.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
