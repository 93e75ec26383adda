package main

// Client-side caching end to end: each scenario drives several raw connections (tracking
// clients, redirection targets, writers) against redis-server and against sidecache, and
// the two transcripts must be identical byte for byte. Client ids differ between the two
// servers: replies that carry one are logged with the id replaced by its connection's
// number.
//
// Pushes are collected by sending PING on the connection and reading until its reply: an
// invalidation is queued before the command that caused it answers (both servers), and a
// connection writes queued pushes before the reply of a later command, so what precedes
// the PONG is exactly what was pushed so far.

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// trackSession is one scenario's connections to one server and its transcript.
type trackSession struct {
	t     *testing.T
	p     *proc
	conns []*respConn
	ids   []string
	resp3 []bool
	log   strings.Builder
}

func newTrackSession(t *testing.T, p *proc, n int) *trackSession {
	s := &trackSession{t: t, p: p}
	for range n {
		c := dialResp(t, p.Addr)
		rep := c.Do("CLIENT", "ID")
		s.conns = append(s.conns, c)
		s.ids = append(s.ids, strings.TrimSuffix(strings.TrimPrefix(string(rep), ":"), "\r\n"))
		s.resp3 = append(s.resp3, false)
	}
	if rep := s.conns[0].Do("FLUSHALL"); string(rep) != "+OK\r\n" {
		t.Fatalf("FLUSHALL: %q", rep)
	}
	return s
}

// mask replaces the client ids of this session in rep with "ID<conn>" where a reply names
// a client: TRACKINGINFO's redirect, a tracking-redir-broken push, CLIENT INFO's redir=.
func (s *trackSession) mask(rep []byte) []byte {
	for i, id := range s.ids {
		to := "ID" + strconv.Itoa(i)
		for _, ctx := range []string{"redirect\r\n:", "tracking-redir-broken\r\n:"} {
			rep = bytes.ReplaceAll(rep, []byte(ctx+id+"\r\n"), []byte(ctx+to+"\r\n"))
		}
		rep = bytes.ReplaceAll(rep, []byte("redir="+id+" "), []byte("redir="+to+" "))
	}
	return rep
}

// getRedir logs CLIENT GETREDIR of connection i, the id replaced as mask does.
func (s *trackSession) getRedir(i int) {
	s.t.Helper()
	rep := string(s.conns[i].Do("CLIENT", "GETREDIR"))
	for j, id := range s.ids {
		if rep == ":"+id+"\r\n" {
			rep = ":ID" + strconv.Itoa(j) + "\r\n"
		}
	}
	s.logf("c%d GETREDIR -> %q", i, rep)
}

func (s *trackSession) logf(f string, a ...any) { fmt.Fprintf(&s.log, f+"\n", a...) }

// hello3 switches connection i to RESP3 (not logged: the reply carries version and id).
func (s *trackSession) hello3(i int) {
	if rep := s.conns[i].Do("HELLO", "3"); rep[0] != '%' {
		s.t.Fatalf("HELLO 3: %q", rep)
	}
	s.resp3[i] = true
}

// do sends one command on connection i and logs its reply.
func (s *trackSession) do(i int, args ...string) []byte {
	s.t.Helper()
	rep := s.conns[i].Do(args...)
	logged := append([]string(nil), args...)
	for j, a := range logged {
		for k, id := range s.ids {
			if j > 0 && eqFold(args[j-1], "redirect") && a == id {
				logged[j] = "ID" + strconv.Itoa(k)
			}
		}
	}
	s.logf("c%d %q -> %q", i, logged, s.mask(rep))
	return rep
}

// pipeline sends cmds on connection i in one write, then PING, and logs every reply and
// push up to PING's.
func (s *trackSession) pipeline(i int, cmds ...[]string) {
	s.t.Helper()
	var b []byte
	for _, c := range cmds {
		b = append(b, encodeCommand(c)...)
	}
	b = append(b, encodeCommand([]string{"PING", "end-of-batch"})...)
	if err := s.conns[i].Send(b); err != nil {
		s.t.Fatal(err)
	}
	s.logf("c%d pipeline %q", i, cmds)
	s.readToPing(i)
}

// pushes logs what connection i was pushed so far.
func (s *trackSession) pushes(i int) string {
	s.t.Helper()
	if err := s.conns[i].Send(encodeCommand([]string{"PING", "end-of-batch"})); err != nil {
		s.t.Fatal(err)
	}
	return s.readToPing(i)
}

// readToPing reads and logs replies on connection i until PING end-of-batch's, which it
// does not log; it returns what it logged.
func (s *trackSession) readToPing(i int) string {
	s.t.Helper()
	var got strings.Builder
	for {
		rep, err := s.conns[i].Read()
		if err != nil {
			s.t.Fatalf("c%d: read: %v (after %q)", i, err, got.String())
		}
		switch string(rep) {
		case "$12\r\nend-of-batch\r\n", // PING's reply, plain
			"*2\r\n$4\r\npong\r\n$12\r\nend-of-batch\r\n", // a RESP2 connection in pub/sub mode
			">2\r\n$4\r\npong\r\n$12\r\nend-of-batch\r\n": // a RESP3 one (not sent by these scenarios)
			s.logf("c%d got %q", i, got.String())
			return got.String()
		}
		got.Write(s.mask(rep))
	}
}

// waitPush polls connection i until something is pushed, for at most 10 s (active expiry).
func (s *trackSession) waitPush(i int) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var b []byte
		if err := s.conns[i].Send(encodeCommand([]string{"PING", "end-of-batch"})); err != nil {
			s.t.Fatal(err)
		}
		var got []byte
		for {
			rep, err := s.conns[i].Read()
			if err != nil {
				s.t.Fatalf("c%d: read: %v", i, err)
			}
			if string(rep) == "$12\r\nend-of-batch\r\n" {
				break
			}
			got = append(got, rep...)
		}
		b = got
		if len(b) > 0 {
			s.logf("c%d waited for %q", i, s.mask(b))
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("c%d: nothing pushed within 10s", i)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// closeConn closes connection i and waits until the server has let the client go.
func (s *trackSession) closeConn(i, via int) {
	s.t.Helper()
	s.conns[i].Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		rep := s.conns[via].Do("CLIENT", "LIST", "ID", s.ids[i])
		if !bytes.Contains(rep, []byte("id="+s.ids[i]+" ")) {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("client %s still listed 10s after its connection closed", s.ids[i])
		}
	}
	s.logf("c%d closed", i)
}

// clientFlags logs the flags= and redir= fields of connection i's CLIENT INFO.
func (s *trackSession) clientFlags(i int) {
	s.t.Helper()
	rep := string(s.mask(s.conns[i].Do("CLIENT", "INFO")))
	var keep []string
	for _, f := range strings.Fields(rep) {
		if strings.HasPrefix(f, "flags=") || strings.HasPrefix(f, "redir=") {
			keep = append(keep, f)
		}
	}
	s.logf("c%d CLIENT INFO %s", i, strings.Join(keep, " "))
}

// infoFields logs the tracking fields of INFO.
func (s *trackSession) infoFields(i int) {
	s.t.Helper()
	rep := string(s.conns[i].Do("INFO", "everything"))
	var keep []string
	for _, line := range strings.Split(rep, "\r\n") {
		if strings.HasPrefix(line, "tracking_") {
			keep = append(keep, line)
		}
	}
	s.logf("c%d INFO %s", i, strings.Join(keep, " "))
}

func eqFold(a, b string) bool { return strings.EqualFold(a, b) }

// trackingScenarios are the scenarios compared byte for byte.
var trackingScenarios = []struct {
	name string
	run  func(s *trackSession)
}{
	{"resp2-redirect", func(s *trackSession) {
		// 0 tracks in RESP2, 1 receives its invalidations on __redis__:invalidate, 2 writes.
		s.do(1, "SUBSCRIBE", "__redis__:invalidate")
		s.do(0, "CLIENT", "TRACKING", "on", "REDIRECT", s.ids[1])
		s.do(0, "CLIENT", "TRACKINGINFO")
		s.getRedir(0)
		s.clientFlags(0)
		s.do(2, "SET", "k", "1")
		s.do(0, "GET", "k")
		s.do(0, "MGET", "k", "k2", "k")
		s.do(2, "SET", "k", "2")
		s.do(2, "SET", "k2", "2")
		s.do(2, "SET", "k", "3") // one-shot: k is no longer tracked
		s.pushes(1)
		s.pushes(0) // RESP2: no pushes on the tracking connection itself
		s.do(0, "GET", "k")
		s.do(2, "FLUSHDB")
		s.pushes(1)
		s.infoFields(2)
		// The redirection target goes: a RESP2 client is not told (no pushes), but the
		// redirection is marked broken at the next invalidation.
		s.closeConn(1, 2)
		s.do(0, "GET", "k")
		s.do(2, "SET", "k", "4")
		s.pushes(0)
		s.do(0, "CLIENT", "TRACKINGINFO")
		s.clientFlags(0)
		s.do(0, "CLIENT", "TRACKING", "off")
		s.clientFlags(0)
		s.infoFields(2)
	}},
	{"resp3-push", func(s *trackSession) {
		s.hello3(0)
		s.do(0, "CLIENT", "TRACKING", "on")
		s.do(0, "SET", "k", "v") // its own write of a key it does not track
		s.do(0, "GET", "k")
		s.do(0, "GET", "k")
		s.do(1, "SET", "k", "v2")
		s.pushes(0)
		s.do(1, "SET", "k", "v3")
		s.pushes(0)
		s.do(0, "GET", "k")
		s.do(1, "DEL", "k", "nokey")
		s.pushes(0)
		// Replies first, then the push of a foreign write of a key a pipeline read.
		s.pipeline(0, []string{"GET", "a"}, []string{"GET", "b"}, []string{"EXISTS", "c", "d"})
		s.do(1, "MSET", "a", "1", "b", "2", "d", "3")
		s.pushes(0)
		// Its own writes in a pipeline: each push follows the reply of the write.
		s.do(0, "GET", "x")
		s.pipeline(0, []string{"SET", "x", "8"}, []string{"GET", "x"}, []string{"SET", "x", "9"}, []string{"GET", "x"})
		s.do(1, "INCR", "x")
		s.pushes(0)
		// A read that fails (WRONGTYPE) still tracks the key.
		s.do(1, "SETBIT", "bits", "1", "1")
		s.do(0, "INCR", "bits")
		s.do(0, "STRLEN", "bits")
		s.do(1, "SETBIT", "bits", "2", "1")
		s.pushes(0)
		s.do(0, "CLIENT", "TRACKINGINFO")
		s.clientFlags(0)
		s.infoFields(1)
	}},
	{"multi-own-write", func(s *trackSession) {
		s.hello3(0)
		s.do(0, "CLIENT", "TRACKING", "on")
		s.do(0, "GET", "x")
		s.pipeline(0, []string{"MULTI"}, []string{"SET", "x", "6"}, []string{"GET", "x"},
			[]string{"INCR", "x"}, []string{"EXEC"})
		s.do(1, "SET", "x", "7")
		s.pushes(0)
		// Tracked inside EXEC, invalidated by a foreign write after it.
		s.pipeline(0, []string{"MULTI"}, []string{"GET", "y"}, []string{"MGET", "y", "z"}, []string{"EXEC"})
		s.do(1, "MSET", "y", "1", "z", "1")
		s.pushes(0)
	}},
	{"optin", func(s *trackSession) {
		s.hello3(0)
		s.do(0, "CLIENT", "TRACKING", "on", "OPTIN")
		s.do(0, "GET", "x") // not tracked
		s.do(1, "SET", "x", "1")
		s.pushes(0)
		s.do(0, "CLIENT", "CACHING", "yes")
		s.do(0, "CLIENT", "TRACKINGINFO")
		s.do(0, "GET", "x")
		s.do(0, "CLIENT", "TRACKINGINFO")
		s.do(1, "SET", "x", "2")
		s.pushes(0)
		for _, between := range [][]string{{"CLIENT", "ID"}, {"PING"}, {"CLIENT"}, {"NOSUCHCOMMAND"},
			{"CLIENT", "NOSUCHSUB"}, {"CLIENT", "CACHING"}, {"GET"}} {
			s.do(0, "CLIENT", "CACHING", "yes")
			rep := s.conns[0].Do(between...) // CLIENT ID differs; the reply is not compared
			s.logf("c0 %q (reply not compared, %d bytes)", between, len(rep))
			s.do(0, "GET", "x")
			s.do(1, "SET", "x", "3")
			s.pushes(0)
		}
		// CLIENT CACHING YES covers a whole transaction, given before it or inside it.
		s.do(0, "CLIENT", "CACHING", "yes")
		s.pipeline(0, []string{"MULTI"}, []string{"GET", "x"}, []string{"GET", "y"}, []string{"EXEC"})
		s.do(1, "MSET", "x", "4", "y", "4")
		s.pushes(0)
		s.pipeline(0, []string{"MULTI"}, []string{"CLIENT", "CACHING", "yes"}, []string{"GET", "x"}, []string{"EXEC"},
			[]string{"GET", "y"})
		s.do(1, "MSET", "x", "5", "y", "5")
		s.pushes(0)
		s.do(0, "CLIENT", "CACHING", "no")
		s.do(0, "CLIENT", "TRACKING", "on", "OPTOUT")
	}},
	{"optout", func(s *trackSession) {
		s.hello3(0)
		s.do(0, "CLIENT", "TRACKING", "on", "OPTOUT")
		s.do(0, "CLIENT", "CACHING", "no")
		s.do(0, "CLIENT", "TRACKINGINFO")
		s.do(0, "GET", "x") // not tracked
		s.do(1, "SET", "x", "1")
		s.pushes(0)
		s.do(0, "GET", "x") // tracked
		s.do(1, "SET", "x", "2")
		s.pushes(0)
		s.do(0, "CLIENT", "CACHING", "yes")
		s.do(0, "CLIENT", "TRACKING", "on", "OPTIN")
		s.do(0, "CLIENT", "TRACKING", "on", "OPTOUT", "NOLOOP")
		s.do(0, "CLIENT", "TRACKINGINFO")
	}},
	{"noloop", func(s *trackSession) {
		s.hello3(0)
		s.do(0, "CLIENT", "TRACKING", "on", "NOLOOP")
		s.do(0, "GET", "k")
		s.do(0, "SET", "k", "1") // its own write: no invalidation
		s.pushes(0)
		s.do(0, "GET", "k")
		s.do(1, "SET", "k", "2")
		s.pushes(0)
		s.do(0, "MGET", "a", "b")
		s.pipeline(0, []string{"MULTI"}, []string{"SET", "a", "1"}, []string{"EXEC"})
		s.do(1, "SET", "b", "1")
		s.pushes(0)
		s.do(0, "GET", "k")
		s.do(0, "DEL", "k")
		s.do(0, "FLUSHDB") // a flush is sent to NOLOOP clients too
		s.pushes(0)
		s.do(0, "CLIENT", "TRACKINGINFO")
	}},
	{"bcast", func(s *trackSession) {
		s.hello3(0)
		s.do(0, "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "b", "PREFIX", "a")
		s.do(0, "CLIENT", "TRACKINGINFO")
		s.clientFlags(0)
		s.infoFields(1)
		// Keys never read: one message per prefix, sorted, each key once.
		s.do(1, "MSET", "b2", "1", "a1", "1", "a2", "1", "c1", "1", "a1", "2")
		s.pushes(0)
		s.do(1, "DEL", "a1", "b2", "zz")
		s.pushes(0)
		s.do(0, "SET", "a9", "1") // its own: after the reply
		s.pushes(0)
		// Redis sends a batch when its event loop goes to sleep, this server when the
		// command ends: a transaction's changes go out together after EXEC on both (but
		// after a whole pipeline in Redis, so EXEC is a round trip of its own).
		s.do(0, "MULTI")
		s.do(0, "SET", "a5", "1")
		s.do(0, "SET", "b5", "1")
		s.do(0, "SET", "a4", "1")
		s.do(0, "EXEC")
		s.pushes(0)
		s.do(0, "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab")
		s.do(0, "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "c", "PREFIX", "ca", "PREFIX", "cab")
		s.do(0, "CLIENT", "TRACKINGINFO")
		s.do(0, "CLIENT", "TRACKING", "off")
		s.do(0, "CLIENT", "TRACKING", "on", "BCAST", "NOLOOP", "PREFIX", "a")
		s.do(0, "MSET", "a1", "1", "a2", "3") // its own: left out
		s.do(1, "SET", "a3", "x")
		s.do(1, "MSET", "a1", "1", "a2", "3")
		s.pushes(0)
		s.do(0, "CLIENT", "TRACKING", "off")
		s.do(0, "CLIENT", "TRACKING", "on", "BCAST")
		s.do(1, "SET", "anything", "1")
		s.pushes(0)
		s.do(0, "CLIENT", "TRACKINGINFO")
		s.infoFields(1)
	}},
	{"expire", func(s *trackSession) {
		s.hello3(0)
		s.hello3(2)
		s.do(0, "CLIENT", "TRACKING", "on")
		s.do(2, "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "e")
		s.do(1, "SET", "e", "1", "PX", "100")
		s.pushes(2)
		// Read while alive, then expired by the server's background cycle (or lazily by
		// the next read; both give the same invalidation).
		if rep := s.do(0, "GET", "e"); string(rep) != "$1\r\n1\r\n" {
			s.t.Skipf("the key expired before it was read (a stall of over 100ms): %q", rep)
		}
		s.waitPush(0)
		s.waitPush(2)
		s.do(0, "EXISTS", "e")
	}},
	{"flush", func(s *trackSession) {
		s.hello3(0)
		s.hello3(2)
		s.do(0, "CLIENT", "TRACKING", "on")
		s.do(0, "GET", "k")
		s.do(1, "FLUSHDB")
		s.pushes(0)
		s.do(1, "SELECT", "5")
		s.do(1, "FLUSHDB") // another, empty database: still every key
		s.pushes(0)
		s.do(0, "FLUSHALL") // its own: after the reply
		s.infoFields(1)
		// A RESP2 tracking client redirecting to a RESP3 target: RESP2's null.
		s.do(1, "CLIENT", "TRACKING", "on", "REDIRECT", s.ids[2])
		s.do(1, "FLUSHALL")
		s.pushes(2)
		s.pushes(0)
	}},
	{"broken-redirect-resp3", func(s *trackSession) {
		s.hello3(0)
		s.hello3(1)
		s.do(0, "CLIENT", "TRACKING", "on", "REDIRECT", s.ids[1])
		s.do(0, "GET", "k")
		s.do(2, "SET", "k", "1")
		s.pushes(1)
		s.pushes(0)
		s.closeConn(1, 2)
		s.do(0, "MGET", "k", "j")
		s.do(2, "MSET", "k", "2", "j", "2")
		s.pushes(0)
		s.do(2, "FLUSHALL")
		s.pushes(0)
		s.do(0, "CLIENT", "TRACKINGINFO")
		s.clientFlags(0)
		s.getRedir(0)
	}},
}

func TestTrackingDifferential(t *testing.T) {
	rs := startRedis(t)
	sc := startSidecache(t)
	for _, sn := range trackingScenarios {
		t.Run(sn.name, func(t *testing.T) {
			logs := make([]string, 2)
			for i, p := range []*proc{rs, sc} {
				s := newTrackSession(t, p, 3)
				sn.run(s)
				logs[i] = s.log.String()
				for _, c := range s.conns {
					c.Close()
				}
			}
			if logs[0] != logs[1] {
				a, b := strings.Split(logs[0], "\n"), strings.Split(logs[1], "\n")
				for i := range min(len(a), len(b)) {
					if a[i] != b[i] {
						t.Fatalf("transcripts differ at line %d:\nredis:     %s\nsidecache: %s\n\nredis transcript:\n%s", i+1, a[i], b[i], logs[0])
					}
				}
				t.Fatalf("transcripts differ in length:\nredis:\n%s\nsidecache:\n%s", logs[0], logs[1])
			}
			if testing.Verbose() {
				t.Logf("transcript:\n%s", logs[0])
			}
		})
	}
}

// TestTrackingTableMaxKeys checks tracking-table-max-keys on both servers: past the limit,
// random tracked keys are invalidated until it holds again. Which keys is random, so the
// check is on counts, not bytes. Redis trims before the next command (or in its cron), this
// server right after the read that went over: after one more round trip both agree.
func TestTrackingTableMaxKeys(t *testing.T) {
	for _, p := range []*proc{startRedis(t), startSidecache(t)} {
		t.Run(p.Name, func(t *testing.T) {
			s := newTrackSession(t, p, 2)
			s.hello3(0)
			s.conns[1].Do("CONFIG", "SET", "tracking-table-max-keys", "2")
			s.conns[0].Do("CLIENT", "TRACKING", "on")
			count := func(want int) {
				t.Helper()
				got := s.pushes(0)
				if n := strings.Count(got, "invalidate"); n != want {
					t.Fatalf("%d invalidations, want %d: %q", n, want, got)
				}
				info := string(s.conns[1].Do("INFO", "stats"))
				if !strings.Contains(info, "tracking_total_keys:2\r\n") {
					t.Fatalf("tracking_total_keys is not 2:\n%s", info)
				}
			}
			s.conns[0].Do("GET", "m1")
			s.conns[0].Do("GET", "m2")
			s.conns[0].Do("GET", "m3")
			count(1)
			s.conns[0].Do("MGET", "n1", "n2", "n3", "n4")
			count(4)
			// Lowering the limit trims the table even when no command follows.
			s.conns[1].Do("CONFIG", "SET", "tracking-table-max-keys", "0")
			for i := range 100 {
				s.conns[0].Do("GET", "many:"+strconv.Itoa(i))
			}
			s.pushes(0)
			s.conns[1].Do("CONFIG", "SET", "tracking-table-max-keys", "10")
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(string(s.conns[1].Do("INFO", "stats")), "tracking_total_keys:10\r\n") {
				if time.Now().After(deadline) {
					t.Fatalf("the table was not trimmed to 10 keys:\n%s", s.conns[1].Do("INFO", "stats"))
				}
				time.Sleep(20 * time.Millisecond)
			}
			if n := strings.Count(s.pushes(0), "invalidate"); n != 92 {
				t.Fatalf("%d invalidations when trimming 102 keys to 10", n)
			}
			s.conns[1].Do("CONFIG", "SET", "tracking-table-max-keys", "1000000")
		})
	}
}

// TestTrackingEvictionAndSwapDB checks on sidecache alone what the reference cannot show
// the same way: every tracked key that maxmemory evicts is invalidated (which keys go is
// the policy's choice), and SWAPDB invalidates everything (Redis 7.0 sends nothing there).
func TestTrackingEvictionAndSwapDB(t *testing.T) {
	p := startSidecache(t, "--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru")
	s := newTrackSession(t, p, 2)
	s.hello3(0)
	s.conns[0].Do("CLIENT", "TRACKING", "on")
	val := strings.Repeat("v", 8192)
	const n = 100
	for i := range n {
		s.conns[1].Do("SET", "ev:"+strconv.Itoa(i), val)
		s.conns[0].Do("GET", "ev:"+strconv.Itoa(i)) // tracked, present or already evicted
	}
	got := s.pushes(0) // keys evicted while the loop ran
	for i := range 4 * n {
		s.conns[1].Do("SET", "fill:"+strconv.Itoa(i), val)
	}
	got += s.pushes(0)
	missing := 0
	for i := range n {
		k := "ev:" + strconv.Itoa(i)
		if string(s.conns[1].Do("EXISTS", k)) == ":1\r\n" {
			continue
		}
		missing++
		if !strings.Contains(got, fmt.Sprintf("*1\r\n$%d\r\n%s\r\n", len(k), k)) {
			t.Errorf("tracked key %s was evicted without an invalidation", k)
		}
	}
	if missing == 0 {
		t.Fatal("nothing was evicted: the test checked nothing")
	}
	s.conns[0].Do("GET", "ev:0")
	if rep := s.conns[1].Do("SWAPDB", "0", "1"); string(rep) != "+OK\r\n" {
		t.Fatalf("SWAPDB: %q", rep)
	}
	if got := s.pushes(0); !strings.Contains(got, ">2\r\n$10\r\ninvalidate\r\n_\r\n") {
		t.Fatalf("SWAPDB sent %q, want a null invalidation", got)
	}
}
