package command

import (
	"strconv"
	"strings"
	"testing"

	"github.com/sidecache/sidecache/protocol"
)

// aclList returns ACL LIST's lines.
func aclList(h *harness) []string {
	h.t.Helper()
	v := parseReply(h.t, h.run("acl", "list"))
	var l []string
	for _, e := range v.Elems {
		l = append(l, string(e.Str))
	}
	return l
}

// describeAfter creates a fresh user with rules and returns its ACL LIST line.
func describeAfter(h *harness, rules ...string) string {
	h.t.Helper()
	h.run("acl", "deluser", "t")
	if got := h.run(append([]string{"acl", "setuser", "t"}, rules...)...); got != "+OK\r\n" {
		h.t.Fatalf("ACL SETUSER t %q: %q", rules, got)
	}
	for _, l := range aclList(h) {
		if strings.HasPrefix(l, "user t ") {
			return strings.TrimPrefix(l, "user t ")
		}
	}
	h.t.Fatal("user t not listed")
	return ""
}

// TestACLDescribe: the rule strings of Redis 7.2 (ACLDescribeUser, with its command_rules
// kept in order and overridden rules dropped).
func TestACLDescribe(t *testing.T) {
	h := newHarness(t)
	if l := aclList(h); len(l) != 1 || l[0] != "user default on nopass sanitize-payload ~* &* +@all" {
		t.Fatalf("ACL LIST: %q", l)
	}
	f := func(want string, rules ...string) {
		t.Helper()
		if got := describeAfter(h, rules...); got != want {
			t.Errorf("%q\n got %q\nwant %q", rules, got, want)
		}
	}
	f("off sanitize-payload resetchannels -@all")
	f("on sanitize-payload ~* resetchannels -@all +get", "on", "+get", "~*")
	f("off sanitize-payload resetchannels -@all +@read -keys +@hash", "+@read", "-keys", "+@hash")
	f("off sanitize-payload resetchannels -@all -get", "+get", "-get")
	f("off sanitize-payload resetchannels +@all -flushall", "+@all", "-flushall")
	f("off sanitize-payload resetchannels -@all", "+client|id", "+config|get", "-@all")
	f("off sanitize-payload resetchannels -@all +config", "-config", "+config|get", "+config")
	f("off sanitize-payload resetchannels -@all -config +config|get", "-config", "+config|get")
	f("off sanitize-payload resetchannels -@all +select|0 +select|1", "+select|0", "+SELECT|1")
	f("off sanitize-payload resetchannels +@all", "allcommands")
	f("off nopass skip-sanitize-payload resetchannels -@all", "nopass", "skip-sanitize-payload")
	f("off sanitize-payload ~a* %R~b* %W~c* resetchannels -@all", "~a*", "%R~b*", "%W~c*", "%R~a*")
	f("off sanitize-payload ~b* resetchannels -@all", "%R~b*", "%W~b*")
	f("off sanitize-payload resetchannels &ch1 &ch:* -@all", "&ch1", "&ch:*", "&ch1")
	f("off sanitize-payload &* -@all", "allchannels")
	f("off sanitize-payload resetchannels -@all", "~a", "resetkeys", "&*", "resetchannels")
	f("off sanitize-payload resetchannels -@all (~k* resetchannels -@all +get) (resetchannels -@all)",
		"(~k* +get)", "()")
	f("off sanitize-payload resetchannels -@all (~k* resetchannels -@all +get +set)", "(~k*", "+get", "+set)")
	f("off sanitize-payload resetchannels -@all", "(+get)", "clearselectors")
	f("on sanitize-payload #"+hashPassword([]byte("p1"))+" #"+hashPassword([]byte("p2"))+" resetchannels -@all",
		"on", ">p1", ">p2", ">p1")
	f("off sanitize-payload resetchannels -@all", ">p1", "<p1")
	f("off sanitize-payload resetchannels -@all", "on", ">p1", "+get", "~*", "(+set)", "reset")
	f("off sanitize-payload resetchannels -@all +get", "", "+get", "")
}

func TestACLSetUserErrors(t *testing.T) {
	h := newHarness(t)
	f := func(want string, args ...string) {
		t.Helper()
		h.fa(want, append([]string{"acl", "setuser"}, args...)...)
	}
	e := func(mod, why string) string {
		return "-ERR Error in ACL SETUSER modifier '" + mod + "': " + why + "\r\n"
	}
	f(e("+nosuch", errACLUnknownName), "u", "+nosuch")
	f(e("-@nosuch", errACLUnknownName), "u", "-@nosuch")
	f(e("+@", errACLUnknownName), "u", "+@")
	f(e("+", errACLUnknownName), "u", "+")
	f(e("bogus", errACLSyntax), "u", "bogus")
	f(e("~foo", errACLKeyAfterAll), "u", "allkeys", "~foo")
	f(e("&foo", errACLChanAfterAll), "u", "&*", "&foo")
	f(e("<nopass", errACLNoSuchPass), "u", "<nopass")
	f(e("#abc", errACLBadHash), "u", "#abc")
	f(e("!"+strings.Repeat("A", 64), errACLBadHash), "u", "!"+strings.Repeat("A", 64))
	f(e("+config|get|x", errACLSubFirstArg), "u", "+config|get|x")
	f(e("+select|", errACLSyntax), "u", "+select|")
	f(e("-select|0", errACLUnknownName), "u", "-select|0")
	f(e("+config|nosuch", errACLUnknownName), "u", "+config|nosuch")
	f(e("%X~foo", errACLSyntax), "u", "%X~foo")
	f(e("%~foo", errACLSyntax), "u", "%~foo")
	f(e("~foo bar", errACLSyntax), "u", "~foo bar")
	f(e("(+get ~x nosuch)", errACLSyntax), "u", "(+get", "~x", "nosuch)")
	f("-ERR Unmatched parenthesis in acl selector starting at '(+get'.\r\n", "u", "on", "(+get", "~x")
	f("-ERR Usernames can't contain spaces or null characters\r\n", "a b")
	f("-ERR Usernames can't contain spaces or null characters\r\n", "a\x00b")
	// A failed SETUSER changes nothing: u was never created, and t keeps its rules.
	h.fa("*1\r\n$7\r\ndefault\r\n", "acl", "users")
	f("+OK\r\n", "t", "on", "+get")
	f(e("+nosuch", errACLUnknownName), "t", "+set", "+nosuch")
	if got := describeAfter(h, "on", "+get"); got != "on sanitize-payload resetchannels -@all +get" {
		t.Fatalf("t: %q", got)
	}
	h.fa("-ERR The 'default' user cannot be removed\r\n", "acl", "deluser", "t", "default")
	h.fa(":1\r\n", "acl", "deluser", "t", "t", "nosuch")
}

// login authenticates a new client of h as user/pass.
func login(h *harness, user, pass string) *Client {
	h.t.Helper()
	c := h.s.NewClient("127.0.0.1:50000", "127.0.0.1:6379", false)
	if got := string(h.s.Exec(c, [][]byte{[]byte("AUTH"), []byte(user), []byte(pass)}, h.now, nil)); got != "+OK\r\n" {
		h.t.Fatalf("AUTH %s: %q", user, got)
	}
	return c
}

func runAs(h *harness, c *Client, args ...string) string {
	h.t.Helper()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	return string(h.s.Exec(c, bs, h.now, nil))
}

func TestACLPermissions(t *testing.T) {
	h := newHarness(t)
	h.fa("+OK\r\n", "acl", "setuser", "alice", "on", ">pw", "+get", "+set", "+acl|whoami", "+config|get", "~k*", "+select|0")
	h.fa("-WRONGPASS invalid username-password pair or user is disabled.\r\n", "auth", "alice", "bad")
	h.fa("-WRONGPASS invalid username-password pair or user is disabled.\r\n", "auth", "nobody", "pw")
	a := login(h, "alice", "pw")
	f := func(want string, args ...string) {
		t.Helper()
		if got := runAs(h, a, args...); got != want {
			t.Errorf("%q\n got %q\nwant %q", args, got, want)
		}
	}
	f("$5\r\nalice\r\n", "acl", "whoami")
	f("+OK\r\n", "set", "k1", "v")
	f("$1\r\nv\r\n", "get", "k1")
	f("-NOPERM No permissions to access a key\r\n", "get", "other")
	f("-NOPERM User alice has no permissions to run the 'del' command\r\n", "del", "k1")
	f("-NOPERM User alice has no permissions to run the 'config|set' command\r\n", "config", "set", "hz", "10")
	f("-NOPERM User alice has no permissions to run the 'acl|list' command\r\n", "acl", "list")
	f("-ERR unknown command 'nosuch', with args beginning with: \r\n", "nosuch") // existence first
	f("-ERR wrong number of arguments for 'del' command\r\n", "del")             // then arity
	f("+OK\r\n", "select", "0")                                                  // an allowed first argument
	f("-NOPERM User alice has no permissions to run the 'select' command\r\n", "select", "1")
	f("+OK\r\n", "auth", "alice", "pw") // AUTH, HELLO and QUIT need no permission
	if got := runAs(h, a, "config", "get", "hz"); !strings.HasPrefix(got, "*2\r\n") {
		t.Errorf("CONFIG GET: %q", got)
	}
	// Rules change at once for connected clients.
	h.fa("+OK\r\n", "acl", "setuser", "alice", "+del", "allkeys")
	f(":1\r\n", "del", "k1")
	f(":0\r\n", "del", "other")
	// A selector allows what the root does not; refusals report the highest reason.
	h.fa("+OK\r\n", "acl", "setuser", "alice", "resetkeys", "~k*", "(+incr ~n*)")
	f(":1\r\n", "incr", "n1")
	f("-NOPERM No permissions to access a key\r\n", "incr", "x")
	f("-NOPERM No permissions to access a key\r\n", "get", "n1")
	// %R~ lets read-only commands read; writing needs W (and R: without key specs, a
	// write is taken to read too).
	h.fa("+OK\r\n", "acl", "setuser", "alice", "resetkeys", "clearselectors", "%R~r*", "%W~w*", "%RW~rw*")
	f("$-1\r\n", "get", "r1")
	f("-NOPERM No permissions to access a key\r\n", "set", "r1", "v")
	f("-NOPERM No permissions to access a key\r\n", "set", "w1", "v")
	f("+OK\r\n", "set", "rw1", "v")
	f("-NOPERM No permissions to access a key\r\n", "get", "w1")
	// DRYRUN answers for any user without running anything.
	h.fa("+OK\r\n", "acl", "dryrun", "alice", "get", "r1")
	h.fa("$52\r\nUser alice has no permissions to access the 'zz' key\r\n", "acl", "dryrun", "alice", "get", "zz")
	h.fa("$55\r\nUser alice has no permissions to run the 'ping' command\r\n", "acl", "dryrun", "alice", "ping")
	h.fa("-ERR User 'bob' not found\r\n", "acl", "dryrun", "bob", "get", "k")
	h.fa("-ERR Command 'nosuch' not found\r\n", "acl", "dryrun", "alice", "nosuch")
	h.fa("-ERR wrong number of arguments for 'get' command\r\n", "acl", "dryrun", "alice", "get")
	// Off: the connection keeps working, new logins fail.
	h.fa("+OK\r\n", "acl", "setuser", "alice", "off")
	f("$-1\r\n", "get", "r1")
	h.fa("-WRONGPASS invalid username-password pair or user is disabled.\r\n", "auth", "alice", "pw")
	if got := memInfo(h, "stats", "acl_access_denied_auth"); got != "3" {
		t.Errorf("acl_access_denied_auth: %s", got)
	}
	if got := memInfo(h, "stats", "acl_access_denied_key"); got != "6" {
		t.Errorf("acl_access_denied_key: %s", got)
	}
	h.run("config", "resetstat")
	if got := memInfo(h, "stats", "acl_access_denied_cmd"); got != "0" {
		t.Errorf("acl_access_denied_cmd after RESETSTAT: %s", got)
	}
}

// TestACLChannels: PUBLISH and SUBSCRIBE channels are checked against &patterns (a
// PSUBSCRIBE pattern only literally), when those commands exist.
func TestACLChannels(t *testing.T) {
	h := newHarness(t)
	h.fa("+OK\r\n", "acl", "setuser", "p", "on", "nopass", "+@all", "allkeys", "&news.*")
	u := h.s.aclUserByName([]byte("p")).rules.Load()
	pub := &command{name: "publish", id: h.s.table["get"].id}
	psub := &command{name: "psubscribe", id: h.s.table["get"].id}
	f := func(cmd *command, want int, args ...string) {
		t.Helper()
		bs := make([][]byte, len(args))
		for i, a := range args {
			bs[i] = []byte(a)
		}
		if got, _ := u.check(cmd, bs); got != want {
			t.Errorf("%s %q: %d, want %d", cmd.name, args, got, want)
		}
	}
	f(pub, aclOK, "publish", "news.uk", "m")
	f(pub, aclDeniedChannel, "publish", "sports", "m")
	f(psub, aclOK, "psubscribe", "news.*")
	f(psub, aclDeniedChannel, "psubscribe", "news.uk")
}

func TestACLGetUser(t *testing.T) {
	h := newHarness(t)
	h.fa("+OK\r\n", "acl", "setuser", "bob", "on", ">pw", "~k*", "&ch", "+get", "(+set ~s*)")
	hash := hashPassword([]byte("pw"))
	want2 := "*12\r\n$5\r\nflags\r\n*2\r\n$2\r\non\r\n$16\r\nsanitize-payload\r\n" +
		"$9\r\npasswords\r\n*1\r\n$64\r\n" + hash + "\r\n" +
		"$8\r\ncommands\r\n$10\r\n-@all +get\r\n$4\r\nkeys\r\n$3\r\n~k*\r\n$8\r\nchannels\r\n$3\r\n&ch\r\n" +
		"$9\r\nselectors\r\n*1\r\n*6\r\n$8\r\ncommands\r\n$10\r\n-@all +set\r\n$4\r\nkeys\r\n$3\r\n~s*\r\n$8\r\nchannels\r\n$0\r\n\r\n"
	h.fa(want2, "acl", "getuser", "bob")
	h.c.Proto = protocol.RESP3
	want3 := strings.NewReplacer("*12\r\n", "%6\r\n", "*2\r\n$2\r\non", "~2\r\n$2\r\non", "*6\r\n", "%3\r\n").Replace(want2)
	h.fa(want3, "acl", "getuser", "bob")
	h.fa("_\r\n", "acl", "getuser", "nobody")
}

// TestACLDefaultUser: requirepass is the default user's password; ACL rules on the default
// user decide whether new connections must authenticate.
func TestACLDefaultUser(t *testing.T) {
	h := newHarness(t)
	h.fa("+OK\r\n", "config", "set", "requirepass", "secret")
	want := "user default on sanitize-payload #" + hashPassword([]byte("secret")) + " ~* &* +@all"
	if l := aclList(h); l[0] != want {
		t.Fatalf("ACL LIST: %q", l)
	}
	if got := h.run("config", "get", "requirepass"); !strings.Contains(got, "(redacted)") {
		t.Fatalf("CONFIG GET requirepass: %q", got)
	}
	c := h.s.NewClient("127.0.0.1:50001", "127.0.0.1:6379", false)
	if got := runAs(h, c, "get", "k"); got != "-NOAUTH Authentication required.\r\n" {
		t.Fatalf("GET before AUTH: %q", got)
	}
	// A password added by ACL SETUSER works too; requirepass stays what it was.
	h.fa("+OK\r\n", "acl", "setuser", "default", ">other")
	if got := runAs(h, c, "auth", "other"); got != "+OK\r\n" {
		t.Fatalf("AUTH other: %q", got)
	}
	h.fa("+OK\r\n", "config", "set", "requirepass", "")
	if l := aclList(h); l[0] != "user default on nopass sanitize-payload ~* &* +@all" {
		t.Fatalf("ACL LIST after requirepass \"\": %q", l)
	}
	h.fa("-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n", "auth", "x")
	// The default user off: nobody connects unauthenticated, and nobody logs in as it.
	h.fa("+OK\r\n", "acl", "setuser", "default", "off")
	c = h.s.NewClient("127.0.0.1:50002", "127.0.0.1:6379", false)
	if got := runAs(h, c, "ping"); got != "-NOAUTH Authentication required.\r\n" {
		t.Fatalf("PING with the default user off: %q", got)
	}
	if got := runAs(h, c, "auth", "default", "x"); got != "-WRONGPASS invalid username-password pair or user is disabled.\r\n" {
		t.Fatalf("AUTH default with the default user off: %q", got)
	}
	// Protected mode looks at nopass only, as Redis's.
	if h.s.PasswordSet() {
		t.Fatal("PasswordSet with a nopass default user")
	}
	h.fa("+OK\r\n", "acl", "setuser", "default", "on", "resetpass")
	if !h.s.PasswordSet() {
		t.Fatal("PasswordSet with a default user that is not nopass")
	}
}

// TestACLDelUserClosesClients: ACL DELUSER closes the connections of the user, the caller's
// after its reply, as Redis's ACLFreeUserAndKillClients.
func TestACLDelUserClosesClients(t *testing.T) {
	h := newHarness(t)
	h.fa("+OK\r\n", "acl", "setuser", "carol", "on", "nopass", "+@all", "allkeys")
	closed := map[int64]int{}
	a := login(h, "carol", "x")
	a.SetCloser(func() { closed[a.ID]++ })
	b := login(h, "carol", "y")
	b.SetCloser(func() { closed[b.ID]++ })
	other := h.s.NewClient("127.0.0.1:50003", "127.0.0.1:6379", false)
	other.SetCloser(func() { closed[other.ID]++ })
	if got := runAs(h, b, "client", "list", "id", idStr(b.ID)); !strings.Contains(got, " user=carol ") {
		t.Fatalf("CLIENT LIST: %q", got)
	}
	if got := runAs(h, b, "acl", "deluser", "carol"); got != ":1\r\n" {
		t.Fatalf("ACL DELUSER: %q", got)
	}
	if closed[a.ID] != 1 || closed[other.ID] != 0 || !b.CloseAfterReply {
		t.Fatalf("closed %v, caller closing %v", closed, b.CloseAfterReply)
	}
	// Until its connection is gone, a client of a deleted user runs nothing.
	if got := runAs(h, a, "get", "k"); got != "-NOAUTH Authentication required.\r\n" {
		t.Fatalf("GET by a deleted user: %q", got)
	}
	h.fa("-ERR No such user 'carol'\r\n", "client", "kill", "user", "carol")
}

func TestACLKillByUser(t *testing.T) {
	h := newHarness(t)
	h.fa("+OK\r\n", "acl", "setuser", "dave", "on", "nopass", "+@all")
	var killed []int64
	d := login(h, "dave", "x")
	d.SetCloser(func() { killed = append(killed, d.ID) })
	o := h.s.NewClient("127.0.0.1:50004", "127.0.0.1:6379", false)
	o.SetCloser(func() { killed = append(killed, o.ID) })
	h.fa(":1\r\n", "client", "kill", "user", "dave")
	if len(killed) != 1 || killed[0] != d.ID {
		t.Fatalf("killed %v", killed)
	}
}

func TestACLLog(t *testing.T) {
	h := newHarness(t)
	h.fa("+OK\r\n", "acl", "setuser", "eve", "on", ">pw", "+get", "~k*")
	h.run("auth", "eve", "bad")
	h.run("auth", "eve", "bad")
	e := login(h, "eve", "pw")
	runAs(h, e, "set", "k", "v")
	runAs(h, e, "get", "x")
	v := parseReply(t, h.run("acl", "log"))
	if len(v.Elems) != 3 {
		t.Fatalf("ACL LOG: %d entries", len(v.Elems))
	}
	field := func(i int, name string) string {
		m := v.Elems[i].Elems
		for j := 0; j+1 < len(m); j += 2 {
			if string(m[j].Str) == name {
				if m[j+1].Kind == ':' {
					return idStr(m[j+1].Int)
				}
				return string(m[j+1].Str)
			}
		}
		t.Fatalf("entry %d has no %s", i, name)
		return ""
	}
	for i, want := range [][4]string{{"key", "x", "eve", "1"}, {"command", "set", "eve", "1"}, {"auth", "auth", "eve", "2"}} {
		got := [4]string{field(i, "reason"), field(i, "object"), field(i, "username"), field(i, "count")}
		if got != want {
			t.Errorf("entry %d: %q, want %q", i, got, want)
		}
		if field(i, "context") != "toplevel" || !strings.HasPrefix(field(i, "client-info"), "id=") {
			t.Errorf("entry %d: context %q client-info %q", i, field(i, "context"), field(i, "client-info"))
		}
	}
	if field(0, "entry-id") != "2" || field(2, "entry-id") != "0" {
		t.Errorf("entry ids %s %s", field(0, "entry-id"), field(2, "entry-id"))
	}
	if v := parseReply(t, h.run("acl", "log", "1")); len(v.Elems) != 1 {
		t.Fatalf("ACL LOG 1: %d entries", len(v.Elems))
	}
	h.fa("+OK\r\n", "acl", "log", "reset")
	h.fa("*0\r\n", "acl", "log")
	h.fa("-ERR value is not an integer or out of range\r\n", "acl", "log", "x")
}

func TestACLCatAndMisc(t *testing.T) {
	h := newHarness(t)
	v := parseReply(t, h.run("acl", "cat"))
	if len(v.Elems) != 21 || string(v.Elems[0].Str) != "keyspace" || string(v.Elems[20].Str) != "scripting" {
		t.Fatalf("ACL CAT: %+v", v)
	}
	cat := func(name string) map[string]bool {
		m := map[string]bool{}
		for _, e := range parseReply(t, h.run("acl", "cat", name)).Elems {
			m[string(e.Str)] = true
		}
		return m
	}
	if m := cat("dangerous"); !m["flushall"] || !m["keys"] || !m["config|set"] || !m["info"] || m["get"] {
		t.Errorf("ACL CAT dangerous: %v", m)
	}
	if m := cat("STRING"); !m["get"] || !m["incr"] || m["del"] {
		t.Errorf("ACL CAT string: %v", m)
	}
	if m := cat("connection"); !m["ping"] || !m["client|id"] || !m["command"] || m["client"] {
		t.Errorf("ACL CAT connection: %v", m)
	}
	h.fa("-ERR Unknown category 'nosuch'\r\n", "acl", "cat", "nosuch")
	h.fa("-ERR unknown subcommand or wrong number of arguments for 'cat'. Try ACL HELP.\r\n", "acl", "cat", "a", "b")
	if got := h.run("acl", "genpass"); len(got) != len("$64\r\n\r\n")+64 {
		t.Errorf("ACL GENPASS: %q", got)
	}
	if got := h.run("acl", "genpass", "5"); !strings.HasPrefix(got, "$2\r\n") {
		t.Errorf("ACL GENPASS 5: %q", got)
	}
	h.fa("-ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096\r\n", "acl", "genpass", "0")
	h.fa("-ERR value is not an integer or out of range\r\n", "acl", "genpass", "x")
	h.fa("-ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.\r\n", "acl", "save")
	h.fa("$7\r\ndefault\r\n", "acl", "whoami")
}

// TestACLSlowlogRedaction: ACL SETUSER's arguments never reach the slow log.
func TestACLSlowlogRedaction(t *testing.T) {
	h := newHarness(t)
	h.run("config", "set", "slowlog-log-slower-than", "0")
	h.run("acl", "setuser", "frank", "on", ">supersecret")
	if got := h.run("slowlog", "get", "1"); strings.Contains(got, "supersecret") || !strings.Contains(got, "(redacted)") {
		t.Fatalf("SLOWLOG: %q", got)
	}
}

// TestACLCheckAllocs: the default user's check is free, and so is a restricted user's
// allowed command (bit test, key pattern match).
func TestACLCheckAllocs(t *testing.T) {
	h := newHarness(t)
	h.fa("+OK\r\n", "acl", "setuser", "g", "on", "nopass", "+get", "~k*", "(+set ~s*)")
	c := login(h, "g", "x")
	out := make([]byte, 0, 256)
	args := [][]byte{[]byte("GET"), []byte("k1")}
	if n := testing.AllocsPerRun(200, func() { out = h.s.Exec(c, args, h.now, out[:0]) }); n != 0 {
		t.Errorf("restricted GET: %v allocations", n)
	}
	if string(out) != "$-1\r\n" {
		t.Fatalf("GET: %q", out)
	}
}

func idStr(n int64) string { return strconv.FormatInt(n, 10) }

// TestACLTransactions: a refusal while a transaction is queued is logged with context
// "multi"; EXEC checks each queued command again (aclExecRefuse), as rules may have changed.
func TestACLTransactions(t *testing.T) {
	h := newHarness(t)
	h.fa("+OK\r\n", "acl", "setuser", "m", "on", "nopass", "+multi", "+exec", "+get", "~*")
	c := login(h, "m", "x")
	if got := runAs(h, c, "multi"); got != "+OK\r\n" {
		t.Fatalf("MULTI: %q", got)
	}
	if got := runAs(h, c, "set", "k", "v"); got != "-NOPERM User m has no permissions to run the 'set' command\r\n" {
		t.Fatalf("SET in MULTI: %q", got)
	}
	runAs(h, c, "discard")
	if got := h.run("acl", "log", "1"); !strings.Contains(got, "$7\r\ncontext\r\n$5\r\nmulti\r\n") {
		t.Fatalf("ACL LOG: %q", got)
	}
	get := h.s.table["get"]
	args := [][]byte{[]byte("get"), []byte("k")}
	if out, refused := h.s.aclExecRefuse(c, get, args, nil); refused || len(out) != 0 {
		t.Fatalf("allowed GET refused at EXEC: %q", out)
	}
	h.fa("+OK\r\n", "acl", "setuser", "m", "-get")
	out, refused := h.s.aclExecRefuse(c, get, args, nil)
	if want := "-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to execute the command or subcommand\r\n"; !refused || string(out) != want {
		t.Fatalf("GET revoked, at EXEC: %v %q", refused, out)
	}
	h.fa("+OK\r\n", "acl", "setuser", "m", "+get", "resetkeys", "~a*")
	if out, _ := h.s.aclExecRefuse(c, get, args, nil); !strings.HasSuffix(string(out), "reason: no permission to touch the specified keys\r\n") {
		t.Fatalf("key revoked, at EXEC: %q", out)
	}
}

// TestACLConcurrentChanges: rules change under clients running on other goroutines (event
// loops); run with -race. Every reply is one of the two possible ones.
func TestACLConcurrentChanges(t *testing.T) {
	h := newHarness(t)
	h.fa("+OK\r\n", "acl", "setuser", "w", "on", "nopass", "+get", "~*")
	clients := []*Client{login(h, "w", "x"), login(h, "w", "y")}
	done := make(chan string, len(clients))
	for _, c := range clients {
		go func(c *Client) {
			args := [][]byte{[]byte("GET"), []byte("k")}
			var out []byte
			for i := 0; i < 2000; i++ {
				out = h.s.Exec(c, args, h.now, out[:0])
				if s := string(out); s != "$-1\r\n" && s != "-NOPERM User w has no permissions to run the 'get' command\r\n" {
					done <- s
					return
				}
			}
			done <- ""
		}(c)
	}
	admin := h.s.NewClient("127.0.0.1:50010", "127.0.0.1:6379", false)
	for i := 0; i < 200; i++ {
		rule := "+get"
		if i%2 == 0 {
			rule = "-get"
		}
		runAs(h, admin, "acl", "setuser", "w", rule)
		runAs(h, admin, "acl", "list")
		runAs(h, admin, "client", "list")
	}
	for range clients {
		if s := <-done; s != "" {
			t.Fatalf("unexpected reply %q", s)
		}
	}
}
