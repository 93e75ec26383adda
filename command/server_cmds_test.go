package command

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests of the connection and server commands without a counterpart to diff against in
// redis-server 7.0.15 (7.2 additions, behaviour over time, replies a script cannot read).

func TestClientReply(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("client reply off", "")
	f("set k v", "")
	f("get nokey", "")
	f("nosuchcommand", "") // errors too
	f("client reply skip", "")
	f("client reply on", "+OK\r\n")
	f("get k", "$1\r\nv\r\n")
	f("client reply skip", "")
	f("get k", "")
	f("get k", "$1\r\nv\r\n")
	// SKIP twice: the second SKIP's own reply and the next command's are dropped.
	f("client reply skip", "")
	f("client reply skip", "")
	f("get k", "")
	f("ping", "+PONG\r\n")
	// SKIP while OFF does nothing; ON answers.
	f("client reply off", "")
	f("client reply skip", "")
	f("client reply on", "+OK\r\n")
	f("ping", "+PONG\r\n")
	f("client reply maybe", "-ERR syntax error\r\n")
	f("client reply", "-ERR wrong number of arguments for 'client|reply' command\r\n")
	// A pending SKIP swallows RESET's reply, as in Redis; RESET turns OFF off.
	f("client reply skip", "")
	f("reset", "")
	f("client reply off", "")
	f("reset", "+RESET\r\n")
	f("ping", "+PONG\r\n")
}

func TestReset(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("select 3", "+OK\r\n")
	f("client setname me", "+OK\r\n")
	f("client setinfo lib-name lib", "+OK\r\n")
	f("client no-evict on", "+OK\r\n")
	f("client no-touch on", "+OK\r\n")
	if !strings.HasPrefix(h.run("hello", "3"), "%") {
		t.Fatal("HELLO 3")
	}
	f("multi", "+OK\r\n")
	f("set k v", "+QUEUED\r\n")
	if got := string(h.s.appendClientLine(nil, h.c, h.now)); !strings.Contains(got, " flags=xeT ") {
		t.Fatalf("flags before RESET: %q", got)
	}
	f("reset", "+RESET\r\n")
	info := h.run("client", "info")
	for _, want := range []string{" name= ", " db=0 ", " flags=N ", " multi=-1 ", " resp=2 ", " lib-name=lib "} {
		if !strings.Contains(info, want) {
			t.Errorf("after RESET, CLIENT INFO lacks %q: %s", want, info)
		}
	}
	f("exec", "-ERR EXEC without MULTI\r\n")
	f("get k", "$-1\r\n")
	f("reset x", "-ERR wrong number of arguments for 'reset' command\r\n")

	// With requirepass, RESET forgets the authentication; RESET itself needs none.
	f("config set requirepass secret", "+OK\r\n")
	f("auth secret", "+OK\r\n")
	f("get k", "$-1\r\n")
	f("reset", "+RESET\r\n")
	f("get k", "-NOAUTH Authentication required.\r\n")
	f("reset", "+RESET\r\n")
}

func TestClientNoTouch(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("config set maxmemory-policy allkeys-lfu", "+OK\r\n")
	f("set k v", "+OK\r\n")
	f("object freq k", ":5\r\n") // LFU_INIT_VAL
	f("client no-touch on", "+OK\r\n")
	f("get k", "$1\r\nv\r\n")
	f("mget k k", "*2\r\n$1\r\nv\r\n$1\r\nv\r\n")
	f("strlen k", ":1\r\n")
	f("getbit k 1", ":1\r\n")
	f("bitcount k", ":5\r\n")
	f("bitfield_ro k get u8 0", "*1\r\n:118\r\n")
	f("bitfield k get u8 0", "*1\r\n:118\r\n")
	f("lcs k k", "$1\r\nv\r\n")
	f("bitop or dst k", ":1\r\n")
	f("object freq k", ":5\r\n")
	f("client no-touch off", "+OK\r\n")
	f("get k", "$1\r\nv\r\n") // at the initial counter an access always counts
	f("object freq k", ":6\r\n")
	f("client no-touch maybe", "-ERR syntax error\r\n")
	f("client no-touch", "-ERR wrong number of arguments for 'client|no-touch' command\r\n")
}

func TestClientUnblock(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("client unblock "+strconv.FormatInt(h.c.ID, 10), ":0\r\n")
	f("client unblock 12345 error", ":0\r\n")
	f("client unblock 1 foo", "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n")
	f("client unblock x foo", "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n")
	f("client unblock x", "-ERR value is not an integer or out of range\r\n")
	f("client unblock 1 timeout x", "-ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.\r\n")
}

func TestClientHelpLists(t *testing.T) {
	h := newHarness(t)
	help := h.run("client", "help")
	last := -1
	for _, line := range []string{"+GETNAME\r\n", "+KILL <ip:port>\r\n", "+UNPAUSE\r\n", "+PAUSE <timeout> [WRITE|ALL]\r\n",
		"+REPLY (ON|OFF|SKIP)\r\n", "+SETNAME <name>\r\n", "+SETINFO <option> <value>\r\n",
		"+UNBLOCK <clientid> [TIMEOUT|ERROR]\r\n", "+NO-EVICT (ON|OFF)\r\n", "+NO-TOUCH (ON|OFF)\r\n", "+HELP\r\n"} {
		i := strings.Index(help, line)
		if i < 0 || i < last {
			t.Fatalf("CLIENT HELP: %q missing or out of Redis's order:\n%s", line, help)
		}
		last = i
	}
	// Every subcommand the table has is described.
	for name := range h.s.table["client"].subs {
		if !strings.Contains(strings.ToLower(help), "+"+name) {
			t.Errorf("CLIENT HELP does not describe %s", name)
		}
	}
}

// TestClientPause runs a pause in-process: the commands it applies to are postponed
// (nothing appended, Postponed set), the others run, and the hook fires when it ends.
func TestClientPause(t *testing.T) {
	h := newHarness(t)
	h.now = time.Now().UnixMilli()
	f := h.f()
	woken := make(chan struct{}, 4)
	h.s.SetUnpauseHook(func() { woken <- struct{}{} })
	other := h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	runOn := func(c *Client, args ...string) (string, bool) {
		t.Helper()
		bs := make([][]byte, len(args))
		for i, a := range args {
			bs[i] = []byte(a)
		}
		out := string(h.s.Exec(c, bs, h.now, nil))
		return out, c.Postponed
	}

	f("client pause 100000 write", "+OK\r\n")
	if out, held := runOn(other, "set", "k", "v"); out != "" || !held {
		t.Fatalf("SET during a WRITE pause: %q postponed=%v", out, held)
	}
	if out, held := runOn(other, "get", "k"); out != "$-1\r\n" || held {
		t.Fatalf("GET during a WRITE pause: %q postponed=%v", out, held)
	}
	// Refusals come before the pause; the pausing client is paused too.
	if out, held := runOn(other, "set", "k"); held || !strings.HasPrefix(out, "-ERR wrong number") {
		t.Fatalf("bad arity during a pause: %q postponed=%v", out, held)
	}
	if out, held := runOn(h.c, "del", "k"); out != "" || !held {
		t.Fatalf("the pausing client's write: %q postponed=%v", out, held)
	}
	if out, _ := runOn(other, "client", "list", "id", strconv.FormatInt(h.c.ID, 10)); !strings.Contains(out, " flags=b") {
		t.Fatalf("a postponed client shows no 'b': %s", out)
	}
	if got := h.s.blockedClients(); got != 1 {
		t.Fatalf("blocked_clients = %d, want 1", got)
	}
	// In MULTI, a write is held back before it is queued; EXEC of a read-only queue is not.
	runOn(other, "multi")
	if _, held := runOn(other, "incr", "n"); !held {
		t.Fatal("INCR inside MULTI was queued during a WRITE pause")
	}
	if out, held := runOn(other, "get", "k"); out != "+QUEUED\r\n" || held {
		t.Fatalf("GET inside MULTI: %q %v", out, held)
	}
	if out, held := runOn(other, "exec"); out != "*1\r\n$-1\r\n" || held {
		t.Fatalf("read-only EXEC: %q %v", out, held)
	}
	// A second pause replaces the mode and keeps the later end.
	f("client pause 10 all", "+OK\r\n")
	if end := h.s.pauseEnd.Load(); end < h.now+100000 {
		t.Fatalf("pause end moved earlier: %d", end-h.now)
	}
	if out, held := runOn(other, "get", "k"); out != "" || !held {
		t.Fatalf("GET during an ALL pause: %q %v", out, held)
	}
	if out, held := runOn(h.c, "client", "unpause"); out != "" || !held {
		t.Fatalf("CLIENT UNPAUSE during an ALL pause: %q %v", out, held)
	}
	h.s.unpause() // what CLIENT UNPAUSE from a replica would do
	waitWoken(t, woken)
	if out, held := runOn(other, "set", "k", "v"); out != "+OK\r\n" || held {
		t.Fatalf("SET after UNPAUSE: %q %v", out, held)
	}
	if h.s.blockedClients() != 0 {
		t.Fatal("blocked after the pause ended")
	}

	// A pause ends by itself at its timeout.
	f("client pause 50 write", "+OK\r\n")
	if _, held := runOn(other, "set", "k", "w"); !held {
		t.Fatal("SET not held")
	}
	waitWoken(t, woken)
	if h.s.Paused() {
		t.Fatal("still paused after the hook ran")
	}
	if out, held := runOn(other, "set", "k", "w"); out != "+OK\r\n" || held {
		t.Fatalf("SET after the timeout: %q %v", out, held)
	}

	f("client unpause", "+OK\r\n")
	f("client pause 0", "+OK\r\n")
	f("client pause -1", "-ERR timeout is negative\r\n")
	f("client pause 1.5", "-ERR timeout is not an integer or out of range\r\n")
	f("client pause 9223372036854775807", "-ERR timeout is out of range\r\n")
	f("client pause 10 foo", "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n")
	f("client pause x foo", "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n")
	f("client pause 10 write x", "-ERR unknown subcommand or wrong number of arguments for 'pause'. Try CLIENT HELP.\r\n")
	f("client unpause x", "-ERR wrong number of arguments for 'client|unpause' command\r\n")
}

func waitWoken(t *testing.T, woken <-chan struct{}) {
	t.Helper()
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("the unpause hook was not called")
	}
}

func TestServerAdminCommands(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("save", "-ERR SAVE is not supported: sidecache keeps no data on disk (no RDB, no AOF)\r\n")
	f("bgsave", "-ERR BGSAVE is not supported: sidecache keeps no data on disk (no RDB, no AOF)\r\n")
	f("bgsave schedule", "-ERR BGSAVE is not supported: sidecache keeps no data on disk (no RDB, no AOF)\r\n")
	f("bgsave foo", "-ERR syntax error\r\n")
	f("bgrewriteaof", "-ERR BGREWRITEAOF is not supported: sidecache keeps no data on disk (no RDB, no AOF)\r\n")
	f("lastsave", ":"+strconv.FormatInt(h.s.started.Unix(), 10)+"\r\n")
	f("role", "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n")
	f("wait 0 0", ":0\r\n")
	f("wait 3 0", ":0\r\n")
	f("wait 1 -1", "-ERR timeout is negative\r\n")
	f("waitaof 0 0 0", "*2\r\n:0\r\n:0\r\n")
	f("waitaof 1 0 0", "-ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.\r\n")
	f("waitaof 2 0 0", "-ERR value is out of range, value must between 0 and 1\r\n")
	f("waitaof 0 -1 0", "-ERR value is out of range, must be positive\r\n")
	f("waitaof 0 0 x", "-ERR timeout is not an integer or out of range\r\n")
	f("cluster info", "-ERR This instance has cluster support disabled\r\n")
	f("cluster myshardid", "-ERR This instance has cluster support disabled\r\n")

	// Without a Shutdown hook (in-process), SHUTDOWN cannot stop anything.
	f("shutdown", "-ERR Errors trying to SHUTDOWN. Check logs.\r\n")
	stopped := 0
	h.s.shutdownFn = func() { stopped++ }
	f("shutdown save", "-ERR Errors trying to SHUTDOWN. Check logs.\r\n")
	f("shutdown abort", "-ERR No shutdown in progress.\r\n")
	f("shutdown nosave now", "")
	if !h.c.CloseAfterReply || stopped != 1 {
		t.Fatalf("SHUTDOWN: close %v, hook called %d times", h.c.CloseAfterReply, stopped)
	}
	h.c = h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	f("shutdown save force", "")
	if stopped != 1 {
		t.Fatal("a second SHUTDOWN started the shutdown again")
	}
}
