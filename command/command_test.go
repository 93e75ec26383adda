package command

import (
	"strings"
	"testing"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// harness runs commands in-process on one client with a fake clock.
type harness struct {
	t   testing.TB
	e   *engine.Engine
	cfg *config.Config
	s   *Server
	c   *Client
	now int64 // ms since the epoch
}

const testNow = int64(1_700_000_000_000)

func newHarness(t testing.TB) *harness {
	t.Helper()
	e, err := engine.Open(engine.Config{Databases: 16, Segments: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	cfg := config.New()
	s := NewServer(Options{Engine: e, Config: cfg, Version: "0.0.0-test"})
	c := s.NewClient("127.0.0.1:40000", "127.0.0.1:6379", false)
	return &harness{t: t, e: e, cfg: cfg, s: s, c: c, now: testNow}
}

// run executes args on the harness's client and returns the raw reply.
func (h *harness) run(args ...string) string {
	h.t.Helper()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	return string(h.s.Exec(h.c, bs, h.now, nil))
}

// f returns the one-line checker: f("SET k v", "+OK\r\n") splits the command on spaces
// (write "\x20"-free arguments; use fa for arguments with spaces).
func (h *harness) f() func(cmd, want string) {
	return func(cmd, want string) {
		h.t.Helper()
		if got := h.run(strings.Split(cmd, " ")...); got != want {
			h.t.Errorf("%s\n got %q\nwant %q", cmd, got, want)
		}
	}
}

// fa checks a command given as separate arguments.
func (h *harness) fa(want string, args ...string) {
	h.t.Helper()
	if got := h.run(args...); got != want {
		h.t.Errorf("%q\n got %q\nwant %q", args, got, want)
	}
}

func TestUnknownCommandAndArity(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("foo a b", "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n")
	f("foo", "-ERR unknown command 'foo', with args beginning with: \r\n")
	f("FOO A", "-ERR unknown command 'FOO', with args beginning with: 'A' \r\n")
	h.fa("-ERR unknown command 'foo  bar', with args beginning with: 'a b' \r\n", "foo\r\nbar", "a\nb")
	h.fa("-ERR unknown command 'foo', with args beginning with: 'a' 'c' \r\n", "foo", "a\x00b", "c")
	a, b := strings.Repeat("a", 100), strings.Repeat("b", 100)
	h.fa("-ERR unknown command 'foo', with args beginning with: '"+a+"' '"+strings.Repeat("b", 25)+"' \r\n", "foo", a, b, "c")
	h.fa("-ERR unknown command '"+strings.Repeat("n", 128)+"', with args beginning with: \r\n", strings.Repeat("n", 130))
	f("get", "-ERR wrong number of arguments for 'get' command\r\n")
	f("GET a b", "-ERR wrong number of arguments for 'get' command\r\n")
	f("set k", "-ERR wrong number of arguments for 'set' command\r\n")
	f("client", "-ERR wrong number of arguments for 'client' command\r\n")
	f("client setname", "-ERR wrong number of arguments for 'client|setname' command\r\n")
	f("Client FOO", "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n")
	f("config foo", "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n")
	f("config get", "-ERR wrong number of arguments for 'config|get' command\r\n")
	f("command count x", "-ERR wrong number of arguments for 'command|count' command\r\n")
	f("ping a b", "-ERR wrong number of arguments for 'ping' command\r\n")
}

func TestLookupIgnoresCase(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("PiNg", "+PONG\r\n")
	f("CONFIG HeLP", h.run("config", "help"))
	if lookup(h.s.table, []byte(strings.Repeat("x", 40))) != nil {
		t.Fatal("a name longer than any command was found")
	}
}

func TestRequirePass(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("auth x", "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n")
	f("auth default x", "+OK\r\n")
	f("auth other x", "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	f("auth a b c", "-ERR syntax error\r\n")
	f("config set requirepass secret", "+OK\r\n")
	h.c = h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	f("get k", "-NOAUTH Authentication required.\r\n")
	f("foo", "-ERR unknown command 'foo', with args beginning with: \r\n") // existence before auth
	f("get", "-ERR wrong number of arguments for 'get' command\r\n")       // arity before auth
	f("hello 3", "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n")
	f("hello 3 auth default wrong", "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	f("auth wrong", "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	f("auth secret", "+OK\r\n")
	f("get k", "$-1\r\n")
	h.c = h.s.NewClient("127.0.0.1:40002", "127.0.0.1:6379", false)
	if got := h.run("hello", "3", "auth", "default", "secret"); !strings.HasPrefix(got, "%7\r\n") {
		t.Fatalf("HELLO 3 AUTH: %q", got)
	}
	f("get k", "_\r\n")
	h.c = h.s.NewClient("127.0.0.1:40003", "127.0.0.1:6379", false)
	f("quit", "+OK\r\n") // QUIT needs no authentication
}

// parseReply decodes a whole reply.
func parseReply(t testing.TB, b string) protocol.Value {
	t.Helper()
	v, n, err := protocol.ReadValue([]byte(b))
	if err != nil || n != len(b) {
		t.Fatalf("reply %q: n=%d err=%v", b, n, err)
	}
	return v
}
