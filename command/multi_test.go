package command

import (
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Replies of redis-server 7.0.15 to the same sequences (see cmd/sidecache/testdata/diff/multi.txt
// for the byte-for-byte comparison).
const (
	execAbort = "-EXECABORT Transaction discarded because of previous errors.\r\n"
	queued    = "+QUEUED\r\n"
	ok        = "+OK\r\n"
)

// other returns a second client of the harness's server.
func (h *harness) other() func(cmd, want string) {
	c2 := h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	return func(cmd, want string) {
		h.t.Helper()
		args := strings.Split(cmd, " ")
		bs := make([][]byte, len(args))
		for i, a := range args {
			bs[i] = []byte(a)
		}
		if got := string(h.s.Exec(c2, bs, h.now, nil)); got != want {
			h.t.Errorf("client 2: %s\n got %q\nwant %q", cmd, got, want)
		}
	}
}

func TestMultiErrors(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("EXEC", "-ERR EXEC without MULTI\r\n")
	f("DISCARD", "-ERR DISCARD without MULTI\r\n")
	f("EXEC foo", "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n")
	f("MULTI foo", "-ERR wrong number of arguments for 'multi' command\r\n")
	f("MULTI", ok)
	f("MULTI", "-ERR MULTI calls can not be nested\r\n")
	f("WATCH a", "-ERR WATCH inside MULTI is not allowed\r\n")
	f("SET a 1", queued)
	f("EXEC", "*1\r\n+OK\r\n") // neither a nested MULTI nor WATCH flags the transaction

	for _, bad := range []string{"FOO", "GET", "CLIENT NOSUCH", "CLIENT", "WATCH", "MULTI a", "DISCARD foo", "DEBUG SLEEP 0"} {
		f("MULTI", ok)
		f("SET a 2", queued)
		h.run(strings.Split(bad, " ")...)
		f("SET a 3", queued)
		f("EXEC", execAbort)
		f("GET a", "$1\r\n1\r\n")
	}
	f("MULTI", ok)
	f("NOSUCH", "-ERR unknown command 'NOSUCH', with args beginning with: \r\n")
	f("EXEC foo", "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n")
	f("EXEC", "-ERR EXEC without MULTI\r\n")
}

func TestMultiExec(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("MULTI", ok)
	f("SET a x", queued)
	f("INCR a", queued)
	f("GET a", queued)
	f("PING", queued)
	f("UNWATCH", queued)
	f("EXEC", "*5\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\nx\r\n+PONG\r\n+OK\r\n")
	f("MULTI", ok)
	f("EXEC", "*0\r\n")
	f("MULTI", ok)
	f("SET a y", queued)
	f("DISCARD", ok)
	f("GET a", "$1\r\nx\r\n")
	// SELECT and HELLO inside EXEC take effect for the commands after them, as in Redis.
	f("MULTI", ok)
	f("SELECT 1", queued)
	f("SET a 1", queued)
	f("EXEC", "*2\r\n+OK\r\n+OK\r\n")
	f("GET a", "$1\r\n1\r\n")
	f("MULTI", ok)
	f("SELECT 0", queued)
	f("HELLO 3", queued)
	f("GET nokey", queued)
	got := h.run("EXEC")
	if !strings.HasPrefix(got, "*3\r\n+OK\r\n%7\r\n") || !strings.HasSuffix(got, "_\r\n") {
		t.Fatalf("EXEC with HELLO 3: %q", got)
	}
	// WRONGTYPE at run time is an element of the array, when another type exists.
	if h.makeNonString("h") {
		f("MULTI", ok)
		f("GET h", queued)
		f("SET s v", queued)
		f("EXEC", "*2\r\n"+wrongType+"+OK\r\n")
	}
	// The arguments are copies: the caller's buffers may change after queuing.
	f("MULTI", ok)
	arg := []byte("orig")
	out := h.s.Exec(h.c, [][]byte{[]byte("SET"), []byte("c"), arg}, h.now, nil)
	if string(out) != queued {
		t.Fatal(string(out))
	}
	copy(arg, "XXXX")
	f("EXEC", "*1\r\n+OK\r\n")
	f("GET c", "$4\r\norig\r\n")
}

func TestWatch(t *testing.T) {
	for _, proto := range []string{"2", "3"} {
		h := newHarness(t)
		f, g := h.f(), h.other()
		null := "*-1\r\n"
		if proto == "3" {
			null = "_\r\n"
			h.run("HELLO", "3")
		}
		// A foreign write.
		f("SET k 1", ok)
		f("WATCH k", ok)
		g("SET k 2", ok)
		f("MULTI", ok)
		f("GET k", queued)
		f("EXEC", null)
		// Not watched any more after EXEC.
		g("SET k 3", ok)
		f("MULTI", ok)
		f("EXEC", "*0\r\n")
		// One's own write before MULTI counts; inside the transaction it does not.
		f("WATCH k", ok)
		f("SET k 4", ok)
		f("MULTI", ok)
		f("EXEC", null)
		f("WATCH k", ok)
		f("MULTI", ok)
		f("SET k 5", queued)
		f("EXEC", "*1\r\n+OK\r\n")
		// Same value, other commands, a delete, a missing key deleted (no change).
		f("WATCH k", ok)
		g("SET k 5", ok)
		f("MULTI", ok)
		f("EXEC", null)
		f("WATCH k zz", ok)
		g("DEL zz", ":0\r\n")
		f("MULTI", ok)
		f("EXEC", "*0\r\n")
		f("WATCH k", ok)
		g("DEL k", ":1\r\n")
		f("MULTI", ok)
		f("EXEC", null)
		// UNWATCH and DISCARD forget the watched keys.
		f("WATCH k", ok)
		g("SET k 1", ok)
		f("UNWATCH", ok)
		f("MULTI", ok)
		f("EXEC", "*0\r\n")
		f("WATCH k", ok)
		g("SET k 2", ok)
		f("MULTI", ok)
		f("DISCARD", ok)
		f("MULTI", ok)
		f("EXEC", "*0\r\n")
		// Another db's key of the same name is another key.
		f("SELECT 1", ok)
		f("WATCH k", ok)
		g("SET k 9", ok)
		f("MULTI", ok)
		f("PING", queued)
		f("EXEC", "*1\r\n+PONG\r\n")
		f("SELECT 0", ok)
		// EXECABORT wins over a changed key.
		f("WATCH k", ok)
		g("SET k 1", ok)
		f("MULTI", ok)
		f("NOSUCH", "-ERR unknown command 'NOSUCH', with args beginning with: \r\n")
		f("EXEC", execAbort)
		if n := h.s.watch.n.Load(); n != 0 {
			t.Fatalf("%d watch entries left", n)
		}
	}
}

func TestWatchExpiryAndFlush(t *testing.T) {
	h := newHarness(t)
	f, g := h.f(), h.other()
	// A key alive at WATCH that expires before EXEC is a change.
	f("SET k 1 PX 100", ok)
	f("WATCH k", ok)
	h.now += 200
	f("MULTI", ok)
	f("PING", queued)
	f("EXEC", "*-1\r\n")
	// A key already expired at WATCH is not (nor is its removal).
	f("SET k 1 PX 10", ok)
	h.now += 100
	f("WATCH k", ok)
	f("MULTI", ok)
	f("PING", queued)
	f("EXEC", "*1\r\n+PONG\r\n")
	// FLUSHALL changes the watched keys that existed, not the ones that did not.
	f("WATCH nokey", ok)
	g("FLUSHALL", ok)
	f("MULTI", ok)
	f("EXEC", "*0\r\n")
	f("SET k 1", ok)
	f("WATCH k", ok)
	g("FLUSHALL", ok)
	f("MULTI", ok)
	f("EXEC", "*-1\r\n")
	f("SET k 1", ok)
	f("WATCH k", ok)
	g("SELECT 3", ok)
	g("FLUSHDB", ok)
	f("MULTI", ok)
	f("EXEC", "*0\r\n")
	f("WATCH k", ok)
	g("SELECT 0", ok)
	g("FLUSHDB", ok)
	f("MULTI", ok)
	f("EXEC", "*-1\r\n")
}

// SWAPDB's flush events say nothing of keys: EXEC's existence check catches a key the swap
// brought in, and the event dirties the watchers of keys that existed.
func TestWatchSwap(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("SELECT 1", ok)
	f("SET k 1", ok)
	f("SELECT 0", ok)
	f("WATCH k", ok)
	if err := h.e.Swap(0, 1); err != nil {
		t.Fatal(err)
	}
	f("MULTI", ok)
	f("EXEC", "*-1\r\n")
	f("WATCH k", ok) // k is in db 0 now
	if err := h.e.Swap(0, 1); err != nil {
		t.Fatal(err)
	}
	f("MULTI", ok)
	f("EXEC", "*-1\r\n")
	f("WATCH other", ok)
	if err := h.e.Swap(0, 1); err != nil {
		t.Fatal(err)
	}
	f("MULTI", ok)
	f("EXEC", "*0\r\n")
}

func TestMultiOOM(t *testing.T) {
	h := newHarnessArgs(t, "--maxmemory-policy", "noeviction")
	f := h.f()
	oom := "-" + errOOMText + "\r\n"
	f("SET a 1", ok)
	f("MULTI", ok)
	f("SET b 2", queued)
	f("CONFIG SET maxmemory 1", queued)
	f("EXEC", "*2\r\n+OK\r\n+OK\r\n")
	// Over maxmemory, queuing anything is refused; DISCARD and EXEC are not.
	f("MULTI", ok)
	f("GET a", oom)
	f("PING", oom)
	f("EXEC", execAbort)
	f("MULTI", ok)
	f("EXEC", "*0\r\n")
	// EXEC of a transaction holding a denyoom command is refused over maxmemory, and the
	// transaction is gone; one of reads only runs.
	f("CONFIG SET maxmemory 0", ok)
	f("MULTI", ok)
	f("SET b 3", queued)
	f("CONFIG SET maxmemory 1", queued)
	f("EXEC", "*2\r\n+OK\r\n+OK\r\n")
	f("CONFIG SET maxmemory 0", ok)
	f("MULTI", ok)
	f("SET b 4", queued)
	h.e.SetMaxMemory(1)
	f("EXEC", "-EXECABORT Transaction discarded because of: "+errOOMText+"\r\n")
	f("EXEC", "-ERR EXEC without MULTI\r\n")
	h.e.SetMaxMemory(0)
	f("MULTI", ok)
	f("GET b", queued)
	h.e.SetMaxMemory(1)
	f("EXEC", "*1\r\n$1\r\n3\r\n")
	h.e.SetMaxMemory(0)
	stats := strings.Join(infoLines(h, "errorstats"), ",")
	if stats != "errorstat_ERR:count=1,errorstat_EXECABORT:count=2,errorstat_OOM:count=2" {
		t.Fatal(stats)
	}
}

func TestMultiStats(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("MULTI", ok)
	f("SET a 1", queued)
	f("INCR a", queued)
	f("EXEC", "*2\r\n+OK\r\n:2\r\n")
	f("EXEC", "-ERR EXEC without MULTI\r\n")
	f("MULTI", ok)
	f("GET", "-ERR wrong number of arguments for 'get' command\r\n")
	f("EXEC", execAbort)
	want := map[string]string{
		"cmdstat_multi": "calls=2,", "cmdstat_set": "calls=1,", "cmdstat_incr": "calls=1,",
		"cmdstat_exec": "calls=3,", "cmdstat_get": "calls=0,",
	}
	for _, line := range infoLines(h, "commandstats") {
		name, rest, _ := strings.Cut(line, ":")
		if w, ok := want[name]; ok {
			if !strings.HasPrefix(rest, w) {
				t.Errorf("%s: want %s...", line, w)
			}
			delete(want, name)
		}
		if name == "cmdstat_exec" && !strings.HasSuffix(rest, "rejected_calls=0,failed_calls=2") {
			t.Errorf("%s: want 2 failed", line)
		}
		if name == "cmdstat_get" && !strings.HasSuffix(rest, "rejected_calls=1,failed_calls=0") {
			t.Errorf("%s: want 1 rejected", line)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing %v", want)
	}
	if got := strings.Join(infoLines(h, "errorstats"), ","); got != "errorstat_ERR:count=2,errorstat_EXECABORT:count=1" {
		t.Fatal(got)
	}
}

// CLIENT LIST shows the transaction: flags x (in MULTI) and d (a watched key changed),
// multi= the queued commands, and the queue counts as the client's memory.
func TestMultiClientList(t *testing.T) {
	h := newHarness(t)
	f, g := h.f(), h.other()
	// Read by another client, as the client in MULTI would queue CLIENT LIST.
	c3 := h.s.NewClient("127.0.0.1:40002", "127.0.0.1:6379", false)
	id := []byte(strconv.FormatInt(h.c.ID, 10))
	field := func(name string) string {
		t.Helper()
		line := string(h.s.Exec(c3, [][]byte{[]byte("CLIENT"), []byte("LIST"), []byte("ID"), id}, h.now, nil))
		for _, kv := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(kv, name+"="); ok {
				return v
			}
		}
		t.Fatalf("no %s in %q", name, line)
		return ""
	}
	if field("multi") != "-1" || field("flags") != "N" {
		t.Fatal(field("flags"), field("multi"), field("multi-mem"))
	}
	base := h.c.BufferMemory()
	f("WATCH k", ok)
	g("SET k 1", ok)
	if field("flags") != "d" {
		t.Fatal(field("flags"))
	}
	f("MULTI", ok)
	big := strings.Repeat("v", 10000)
	h.fa(queued, "SET", "a", big)
	h.fa(queued, "SET", "b", big)
	if h.c.QueuedBytes() < 20000 || h.c.BufferMemory() < base+20000 {
		t.Fatalf("queue memory: queued %d, buffers %d (base %d)", h.c.QueuedBytes(), h.c.BufferMemory(), base)
	}
	f("MULTI", "-ERR MULTI calls can not be nested\r\n")
	if field("flags") != "xd" || field("multi") != "2" {
		t.Fatal(field("flags"), field("multi"), field("multi-mem"))
	}
	if m := field("multi-mem"); m == "0" {
		t.Fatal("multi-mem=0")
	}
	f("EXEC", "*-1\r\n")
	if field("flags") != "N" || field("multi") != "-1" || field("multi-mem") != "0" {
		t.Fatal(field("flags"), field("multi"), field("multi-mem"))
	}
	if h.c.QueuedBytes() != 0 || h.c.BufferMemory() > base+txKeepCap {
		t.Fatalf("after EXEC: queued %d, buffers %d", h.c.QueuedBytes(), h.c.BufferMemory())
	}
}

// A closing client stops watching: the table is empty again and writes pay nothing.
func TestWatchReleasedClient(t *testing.T) {
	h := newHarness(t)
	c2 := h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	h.s.Exec(c2, [][]byte{[]byte("WATCH"), []byte("a"), []byte("b"), []byte("a")}, h.now, nil)
	if n := h.s.watch.n.Load(); n != 2 {
		t.Fatalf("%d entries, want 2", n)
	}
	h.s.Exec(c2, [][]byte{[]byte("MULTI")}, h.now, nil)
	h.s.Exec(c2, [][]byte{[]byte("SET"), []byte("a"), []byte("1")}, h.now, nil)
	h.s.ReleaseClient(c2)
	if n := h.s.watch.n.Load(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
	if c2.QueuedBytes() != 0 || c2.tx.on {
		t.Fatal("transaction left")
	}
}

// Writes allocate nothing whether or not keys are watched (another key, or this one).
func TestWatchAllocs(t *testing.T) {
	h := newHarness(t)
	set := [][]byte{[]byte("SET"), []byte("k"), []byte("v")}
	out := make([]byte, 0, 256)
	run := func() { out = h.s.Exec(h.c, set, h.now, out[:0]) }
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("SET, nothing watched: %v allocs", n)
	}
	c2 := h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	h.s.Exec(c2, [][]byte{[]byte("WATCH"), []byte("other"), []byte("k")}, h.now, nil)
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("SET of a watched key: %v allocs", n)
	}
}

// fakeBarrier records the Barrier calls.
type fakeBarrier struct {
	mu                          sync.Mutex
	isolated, released, quiesce int
	inside                      bool
}

func (b *fakeBarrier) Isolate(*Client) { b.mu.Lock(); b.isolated++; b.inside = true; b.mu.Unlock() }
func (b *fakeBarrier) Release(*Client) { b.mu.Lock(); b.released++; b.inside = false; b.mu.Unlock() }
func (b *fakeBarrier) Quiesce(fn func()) {
	b.mu.Lock()
	b.quiesce++
	b.mu.Unlock()
	fn()
}

// EXEC runs its queue (and checks the watched keys) inside the Barrier; an EXEC with
// nothing to run, or that aborts before, does not stop the other loops.
func TestExecBarrier(t *testing.T) {
	h := newHarness(t)
	b := &fakeBarrier{}
	h.s.SetBarrier(b)
	f := h.f()
	f("MULTI", ok)
	f("EXEC", "*0\r\n")
	f("MULTI", ok)
	f("NOSUCH", "-ERR unknown command 'NOSUCH', with args beginning with: \r\n")
	f("EXEC", execAbort)
	if b.isolated != 0 {
		t.Fatal("isolated for nothing")
	}
	f("WATCH k", ok)
	f("MULTI", ok)
	f("SET k 1", queued)
	f("EXEC", "*1\r\n+OK\r\n")
	if b.isolated != 1 || b.released != 1 || b.inside {
		t.Fatalf("isolate %d release %d", b.isolated, b.released)
	}
	ran := false
	h.s.Quiesce(func() { ran = true })
	if !ran || b.quiesce != 1 {
		t.Fatal("Quiesce did not go through the barrier")
	}
}

// Concurrent WATCH, writes, flushes and EXECs on several goroutines (one client each, as
// event loops own their clients): the table stays consistent; run with -race.
func TestWatchConcurrent(t *testing.T) {
	h := newHarness(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		c := h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			do := func(args ...string) string {
				bs := make([][]byte, len(args))
				for i, a := range args {
					bs[i] = []byte(a)
				}
				return string(h.s.Exec(c, bs, h.now, nil))
			}
			for i := 0; i < 300; i++ {
				do("WATCH", "k", "j")
				do("SET", "k", "x")
				do("MULTI")
				do("INCR", "n")
				if got := do("EXEC"); got != "*-1\r\n" {
					t.Errorf("EXEC after own write: %q", got)
					return
				}
				if i%50 == 0 {
					do("FLUSHALL")
				}
				do("WATCH", "j")
				do("UNWATCH")
			}
			h.s.ReleaseClient(c)
		}()
	}
	wg.Wait()
	if n := h.s.watch.n.Load(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}

// A transaction of hot commands allocates nothing once its client's buffers exist (go-redis
// TxPipelined sends exactly this).
func TestMultiAllocs(t *testing.T) {
	h := newHarness(t)
	cmds := [][][]byte{
		{[]byte("MULTI")},
		{[]byte("SET"), []byte("k"), []byte("v")},
		{[]byte("INCR"), []byte("n")},
		{[]byte("GET"), []byte("k")},
		{[]byte("EXEC")},
	}
	out := make([]byte, 0, 256)
	run := func() {
		for _, c := range cmds {
			out = h.s.Exec(h.c, c, h.now, out[:0])
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("MULTI SET INCR GET EXEC: %v allocs", n)
	}
	h.s.SetBarrier(&fakeBarrier{})
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("with a Barrier: %v allocs", n)
	}
}

// A no-multi command (none is implemented yet: SAVE, SHUTDOWN, SYNC, PSYNC in Redis) is
// refused inside MULTI and flags the transaction, and runs outside it.
func TestNoMulti(t *testing.T) {
	h := newHarness(t)
	h.s.table["echo"].flags |= flagNoMulti
	f := h.f()
	f("ECHO a", "$1\r\na\r\n")
	f("MULTI", ok)
	f("ECHO a", "-ERR Command not allowed inside a transaction\r\n")
	f("EXEC", execAbort)
}
