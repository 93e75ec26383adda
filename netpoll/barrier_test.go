package netpoll

import (
	"bytes"
	"strconv"
	"sync"
	"testing"

	"github.com/sidecache/sidecache/command"
)

// perTx is the number of INCRs in one transaction of the isolation tests: outside EXEC, k
// is always a multiple of it.
const perTx = 20

// txRequest is MULTI, perTx INCR k, EXEC in one write.
func txRequest() []byte {
	req := cmdBytes("MULTI")
	for i := 0; i < perTx; i++ {
		req = append(req, cmdBytes("INCR", "k")...)
	}
	return append(req, cmdBytes("EXEC")...)
}

// runTx sends n transactions, one after the other, and checks their replies.
func runTx(t *testing.T, c *client, n int) {
	req := txRequest()
	for i := 0; i < n; i++ {
		c.send(req)
		for j := 0; j < perTx+1; j++ {
			c.read() // +OK, +QUEUED...
		}
		if v := c.read(); len(v.Elems) != perTx {
			t.Errorf("EXEC: %+v", v)
			return
		}
	}
}

// loopsUsed reports the number of loops that have served a connection.
func loopsUsed(s *testServer) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.loops)
}

// Another client, on another event loop, never sees a transaction half done: k is read as
// a multiple of perTx while one client keeps running MULTI, perTx INCR k, EXEC. Run with
// -race.
func TestExecIsolation(t *testing.T) {
	s := startServer(t, Options{})
	writer := dial(t, "tcp", s.tcp)
	reader := dial(t, "tcp", s.tcp)
	writer.send(cmdBytes("PING"))
	writer.read()
	reader.send(cmdBytes("PING"))
	reader.read()
	if n := loopsUsed(s); n != 2 {
		t.Fatalf("the 2 clients are on %d loop(s): want one on each", n)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	reads := 0
	go func() {
		defer wg.Done()
		// Pipelined GETs, so reads arrive while EXECs run.
		req := bytes.Repeat(cmdBytes("GET", "k"), 8)
		for {
			select {
			case <-done:
				return
			default:
			}
			reader.send(req)
			for i := 0; i < 8; i++ {
				v := reader.read()
				n, _ := strconv.Atoi(string(v.Str))
				if n%perTx != 0 {
					t.Errorf("GET k = %d inside a transaction", n)
					return
				}
				reads++
			}
		}
	}()
	runTx(t, writer, 2000)
	close(done)
	wg.Wait()
	if reads == 0 {
		t.Fatal("no read ran")
	}
	writer.send(cmdBytes("GET", "k"))
	if v := writer.read(); string(v.Str) != strconv.Itoa(2000*perTx) {
		t.Fatalf("k = %s", v.Str)
	}
}

// A background job run through Quiesce (active expiry, eviction) never runs inside a
// transaction: what it reads does not change while it runs, though EXECs keep changing it.
func TestQuiesceExcludesExec(t *testing.T) {
	s := startServer(t, Options{})
	writer := dial(t, "unix", s.unix)
	// The job reads through its own client, off the loops, as the expiry goroutine does.
	job := s.cmd.NewClient("", "", false)
	get := func() string {
		return string(s.cmd.Exec(job, [][]byte{[]byte("GET"), []byte("k")}, 0, nil))
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	jobs := 0
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			s.Quiesce(func() {
				a := get()
				for i := 0; i < 100; i++ {
					if b := get(); b != a {
						t.Errorf("k changed from %q to %q during a background job", a, b)
						return
					}
				}
			})
			jobs++
		}
	}()
	runTx(t, writer, 1000)
	close(done)
	wg.Wait()
	if jobs == 0 {
		t.Fatal("no job ran")
	}
}

// Queued commands count with the unread input against client-query-buffer-limit: a client
// queuing more than the limit is closed, as one whose query buffer is too long.
func TestMultiQueueLimit(t *testing.T) {
	s := startServer(t, Options{QueryBufferLimit: 1 << 20})
	c := dial(t, "tcp", s.tcp)
	c.send(cmdBytes("MULTI"))
	c.read()
	val := string(bytes.Repeat([]byte("v"), 64<<10))
	closed := false
	for i := 0; i < 64 && !closed; i++ {
		c.send(cmdBytes("SET", "k", val))
		if _, err := c.rd.ReadValue(); err != nil {
			closed = true
		}
	}
	if !closed {
		t.Fatal("4 MiB queued under a 1 MiB client-query-buffer-limit")
	}
	other := dial(t, "tcp", s.tcp)
	other.send(cmdBytes("EXISTS", "k"))
	if v := other.read(); v.Int != 0 {
		t.Fatal("the queue ran")
	}
}

// A closing client in MULTI leaves nothing behind: its queue is gone and its watched keys
// no longer cost writes anything.
func TestMultiCloseMidTransaction(t *testing.T) {
	s := startServer(t, Options{})
	c := dial(t, "unix", s.unix)
	c.send(append(append(cmdBytes("WATCH", "k"), cmdBytes("MULTI")...), cmdBytes("SET", "k", "v")...))
	for i := 0; i < 3; i++ {
		c.read()
	}
	c.c.Close()
	other := dial(t, "unix", s.unix)
	waitFor(t, "the close", 5e9, func() bool {
		other.send(cmdBytes("CLIENT", "LIST"))
		v := other.read()
		return bytes.Count(v.Str, []byte("\n")) == 1
	})
	other.send(cmdBytes("EXISTS", "k"))
	if v := other.read(); v.Int != 0 {
		t.Fatal("the queue ran")
	}
}

var _ command.Barrier = (*Server)(nil)
