package upstream

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// fakeServer is a RESP3 upstream for deterministic tests: enough of Redis for rueidis's
// handshake, fetches (MULTI/EXEC transactions of PTTL, GET and HGETALL, or the standalone
// form CLIENT CACHING YES, read, PTTL), and SET, over a map; the test decides what happens
// to each fetch's reply (onExec) and sends pushes at will.
type fakeServer struct {
	t  testing.TB
	ln net.Listener

	mu     sync.Mutex
	data   map[string]string
	hashes map[string][]string
	pttl   map[string]int64 // keys with a TTL, ms
	conns  []*fakeConn
	execs  int            // fetches received: EXECs, and standalone fetches
	gets   map[string]int // GETs (of fetches) per key
	// onExec, if set, receives each fetch's encoded reply and writes it (or not) itself:
	// EXEC's, or a standalone fetch's replies after CLIENT CACHING YES's (the read's and
	// PTTL's, fc.replies of them).
	onExec func(fc *fakeConn, reply []byte)
	// mute makes the server read and answer nothing (a half-open connection).
	mute bool
	// onCommand, if set, may answer a command outside a transaction: it returns the reply
	// to write, or nil for the default.
	onCommand func(fc *fakeConn, args []string) []byte
	// refuse, if set, is the error line every command after the handshake gets, as Redis
	// answers while it loads (-LOADING) or runs a long script (-BUSY); EXEC then answers
	// "EXEC without MULTI", MULTI having been refused.
	refuse string
	// closed ends the waits of held frames when the test ends.
	closed chan struct{}
}

type fakeConn struct {
	s  *fakeServer
	c  net.Conn
	mu sync.Mutex   // serialises writes
	db atomic.Int32 // the database the connection SELECTed (rueidis: one client per database)
	// replies is the number of replies in the fetch reply last given to onExec; only the
	// serving goroutine, and onExec which it runs, use it.
	replies int
}

func startFake(t testing.TB) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, data: map[string]string{}, hashes: map[string][]string{}, gets: map[string]int{},
		pttl: map[string]int64{}, closed: make(chan struct{})}
	go s.accept()
	t.Cleanup(func() {
		close(s.closed)
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.c.Close()
		}
		s.mu.Unlock()
	})
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

func (s *fakeServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		fc := &fakeConn{s: s, c: c}
		s.mu.Lock()
		s.conns = append(s.conns, fc)
		s.mu.Unlock()
		go fc.serve()
	}
}

// write sends raw bytes to the connection.
func (fc *fakeConn) write(b []byte) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	_, _ = fc.c.Write(b)
}

// push sends an invalidation of keys (none: a null invalidation, as FLUSHALL sends).
func (fc *fakeConn) push(keys ...string) { fc.write(invalidation(keys...)) }

func invalidation(keys ...string) []byte {
	b := []byte(">2\r\n$10\r\ninvalidate\r\n")
	if len(keys) == 0 {
		return append(b, "_\r\n"...)
	}
	b = protocol.AppendArrayLen(b, len(keys))
	for _, k := range keys {
		b = protocol.AppendBulkString(b, k)
	}
	return b
}

// allConns returns the server's connections (a push to all reaches the one that read).
func (s *fakeServer) allConns() []*fakeConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*fakeConn(nil), s.conns...)
}

func (fc *fakeConn) serve() {
	br := bufio.NewReader(fc.c)
	p := protocol.NewParser(protocol.DefaultLimits())
	var buf []byte
	var queued [][]string
	inMulti := false
	inFetch := false // after CLIENT CACHING YES outside MULTI, until the PTTL that ends the fetch
	chunk := make([]byte, 64<<10)
	for {
		n, err := br.Read(chunk)
		if err != nil {
			return
		}
		fc.s.mu.Lock()
		mute := fc.s.mute
		fc.s.mu.Unlock()
		if mute {
			continue
		}
		buf = append(buf, chunk[:n]...)
		for {
			args, m, perr := p.Parse(buf)
			if perr != nil {
				fc.c.Close()
				return
			}
			if m == 0 {
				break
			}
			sargs := make([]string, len(args))
			for i, a := range args {
				sargs[i] = string(a)
			}
			buf = buf[m:]
			if len(sargs) == 0 {
				continue
			}
			name := strings.ToUpper(sargs[0])
			fc.s.mu.Lock()
			refuse := fc.s.refuse
			fc.s.mu.Unlock()
			if refuse != "" {
				inMulti = false
				if name == "EXEC" {
					fc.write([]byte("-ERR EXEC without MULTI\r\n"))
				} else {
					fc.write([]byte(refuse + "\r\n"))
				}
				continue
			}
			switch {
			case name == "MULTI":
				inMulti, inFetch = true, false
				queued = queued[:0]
				fc.write([]byte("+OK\r\n"))
			case name == "EXEC":
				inMulti = false
				fc.fetched(fc.s.exec(queued), 1)
			case inMulti:
				queued = append(queued, sargs)
				fc.write([]byte("+QUEUED\r\n"))
			case name == "CLIENT" && len(sargs) > 1 && strings.EqualFold(sargs[1], "CACHING"):
				inFetch = true
				queued = queued[:0]
				fc.write([]byte("+OK\r\n"))
			case inFetch && (name == "PTTL" || (len(queued) == 0 && (name == "GET" || name == "HGETALL"))):
				queued = append(queued, sargs)
				if name == "PTTL" {
					inFetch = false
					fc.fetched(fc.s.replies(queued), len(queued))
				}
			case inFetch: // not a fetch: a pass-through read after its CLIENT CACHING YES
				inFetch = false
				if len(queued) > 0 {
					fc.write(fc.s.replies(queued))
				}
				fc.write(fc.s.command(fc, name, sargs))
			default:
				fc.write(fc.s.command(fc, name, sargs))
			}
		}
	}
}

// fetched writes a fetch's reply of n replies, or gives it to onExec.
func (fc *fakeConn) fetched(reply []byte, n int) {
	fc.s.mu.Lock()
	hook := fc.s.onExec
	fc.s.mu.Unlock()
	fc.replies = n
	if hook != nil {
		hook(fc, reply)
	} else {
		fc.write(reply)
	}
}

const fakeHello = "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:3\r\n" +
	"$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"

func (s *fakeServer) command(fc *fakeConn, name string, args []string) []byte {
	s.mu.Lock()
	hook := s.onCommand
	s.mu.Unlock()
	if hook != nil {
		if r := hook(fc, args); r != nil {
			return r
		}
	}
	switch name {
	case "HELLO":
		return []byte(fakeHello)
	case "SELECT":
		if n, err := strconv.Atoi(args[1]); err == nil {
			fc.db.Store(int32(n))
		}
		return []byte("+OK\r\n")
	case "CLIENT", "FLUSHALL", "FLUSHDB", "SWAPDB":
		return []byte("+OK\r\n")
	case "PING":
		return []byte("+PONG\r\n")
	case "SET":
		s.mu.Lock()
		s.data[args[1]] = args[2]
		s.mu.Unlock()
		return []byte("+OK\r\n")
	case "GET":
		return s.exec([][]string{args})[4:] // drop "*1\r\n"
	}
	return []byte("-ERR unknown command '" + args[0] + "'\r\n")
}

// exec answers a transaction's queued commands.
func (s *fakeServer) exec(queued [][]string) []byte {
	return append(protocol.AppendArrayLen(nil, len(queued)), s.replies(queued)...)
}

// replies answers a fetch's commands, one reply each.
func (s *fakeServer) replies(queued [][]string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.execs++
	var out []byte
	for _, q := range queued {
		switch strings.ToUpper(q[0]) {
		case "PTTL":
			_, str := s.data[q[1]]
			_, h := s.hashes[q[1]]
			if ms, ok := s.pttl[q[1]]; ok && (str || h) {
				out = protocol.AppendInt(out, ms)
			} else if str || h {
				out = protocol.AppendInt(out, -1)
			} else {
				out = protocol.AppendInt(out, -2)
			}
		case "GET":
			s.gets[q[1]]++
			if _, h := s.hashes[q[1]]; h {
				out = append(out, "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"...)
			} else if v, ok := s.data[q[1]]; ok {
				out = protocol.AppendBulkString(out, v)
			} else {
				out = append(out, "_\r\n"...)
			}
		case "HGETALL":
			fv := s.hashes[q[1]]
			out = protocol.AppendMapLen(out, protocol.RESP3, len(fv)/2)
			for _, x := range fv {
				out = protocol.AppendBulkString(out, x)
			}
		default:
			out = append(out, fmt.Sprintf("-ERR fake: %s\r\n", q[0])...)
		}
	}
	return out
}

func (s *fakeServer) set(k, v string) {
	s.mu.Lock()
	s.data[k] = v
	s.mu.Unlock()
}

func (s *fakeServer) getCount(k string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[k]
}

// waitFor polls cond until it holds or the deadline passes (a synchronisation, not a
// timing assertion).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// heldExec is an EXEC reply the fake has computed but not written: the connection's serving
// goroutine waits, so nothing after the EXEC on that connection is answered either, until
// the test writes the reply (release), writes frames around it (fc.push, fc.write), or
// drops the connection instead (drop).
type heldExec struct {
	fc    *fakeConn
	reply []byte
	done  chan struct{}
	once  sync.Once
}

// holdExecs makes the fake hold every EXEC reply from now on; each arrives on the channel.
func (s *fakeServer) holdExecs() <-chan *heldExec {
	ch := make(chan *heldExec, 64)
	s.mu.Lock()
	s.onExec = func(fc *fakeConn, reply []byte) {
		h := &heldExec{fc: fc, reply: reply, done: make(chan struct{})}
		ch <- h
		select {
		case <-h.done:
		case <-s.closed:
		}
	}
	s.mu.Unlock()
	return ch
}

// next returns the next held EXEC.
func nextHeld(t testing.TB, ch <-chan *heldExec) *heldExec {
	t.Helper()
	select {
	case h := <-ch:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no EXEC reached the upstream")
		return nil
	}
}

// release writes the reply and lets the connection serve on.
func (h *heldExec) release() {
	h.fc.write(h.reply)
	h.resume()
}

// drop closes the connection without writing the reply.
func (h *heldExec) drop() {
	_ = h.fc.c.Close()
	h.resume()
}

// resume lets the connection's serving goroutine go on without writing anything.
func (h *heldExec) resume() { h.once.Do(func() { close(h.done) }) }

// connOfDB returns the server's connection that SELECTed db (database 0: one that selected
// nothing else).
func (s *fakeServer) connOfDB(t testing.TB, db int) *fakeConn {
	t.Helper()
	for _, fc := range s.allConns() {
		if int(fc.db.Load()) == db {
			return fc
		}
	}
	t.Fatalf("no upstream connection on database %d", db)
	return nil
}
