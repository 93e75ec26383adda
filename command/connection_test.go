package command

import (
	"strconv"
	"strings"
	"testing"
)

func TestPingEchoQuit(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("ping", "+PONG\r\n")
	f("ping hi", "$2\r\nhi\r\n")
	f("echo hi", "$2\r\nhi\r\n")
	h.fa("$0\r\n\r\n", "echo", "")
	f("echo", "-ERR wrong number of arguments for 'echo' command\r\n")
	h.c.Proto = 3
	f("ping", "+PONG\r\n")
	f("ping hi", "$2\r\nhi\r\n")
	if h.c.CloseAfterReply {
		t.Fatal("CloseAfterReply before QUIT")
	}
	f("quit", "+OK\r\n")
	if !h.c.CloseAfterReply {
		t.Fatal("QUIT did not set CloseAfterReply")
	}
}

// helloReply is HELLO's reply for client id in protocol proto.
func helloReply(proto int, id int64) string {
	head := "*14\r\n"
	if proto == 3 {
		head = "%7\r\n"
	}
	idStr := strconv.FormatInt(id, 10)
	return head + "$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:" +
		strconv.Itoa(proto) + "\r\n$2\r\nid\r\n:" + idStr + "\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n" +
		"$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"
}

func TestHello(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	id := h.c.ID
	f("hello", helloReply(2, id))
	f("hello 4", "-NOPROTO unsupported protocol version\r\n")
	f("hello 1", "-NOPROTO unsupported protocol version\r\n")
	f("hello x", "-ERR Protocol version is not an integer or out of range\r\n")
	f("hello 3 foo", "-ERR Syntax error in HELLO option 'foo'\r\n")
	f("hello 3 auth a", "-ERR Syntax error in HELLO option 'auth'\r\n")
	f("hello 3 setname", "-ERR Syntax error in HELLO option 'setname'\r\n")
	h.fa("-ERR Syntax error in HELLO option 'f  oo '\r\n", "hello", "3", "f\r\noo\n")
	f("hello 3 auth foo bar", "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	h.fa("-ERR Client names cannot contain spaces, newlines or special characters.\r\n", "hello", "3", "setname", "a b")
	if h.c.Proto != 2 {
		t.Fatal("a failed HELLO changed the protocol")
	}
	f("hello 3 auth default anything setname nm", helloReply(3, id))
	if h.c.Proto != 3 {
		t.Fatal("HELLO 3 did not switch to RESP3")
	}
	f("client getname", "$2\r\nnm\r\n")
	f("hello", helloReply(3, id))
	f("HELLO 2", helloReply(2, id))
	f("get nokey", "$-1\r\n")
}

func TestClient(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("client id", ":"+strconv.FormatInt(h.c.ID, 10)+"\r\n")
	other := h.s.NewClient("127.0.0.1:40009", "127.0.0.1:6379", false)
	if other.ID == h.c.ID {
		t.Fatal("client IDs repeat")
	}
	f("client getname", "$-1\r\n")
	f("client setname myname", "+OK\r\n")
	f("client getname", "$6\r\nmyname\r\n")
	h.fa("-ERR Client names cannot contain spaces, newlines or special characters.\r\n", "client", "setname", "a b")
	h.fa("-ERR Client names cannot contain spaces, newlines or special characters.\r\n", "client", "setname", "a\nb")
	h.fa("-ERR Client names cannot contain spaces, newlines or special characters.\r\n", "client", "setname", "\x00")
	h.fa("-ERR Client names cannot contain spaces, newlines or special characters.\r\n", "client", "setname", "é")
	h.fa("+OK\r\n", "client", "setname", "")
	f("client getname", "$-1\r\n")
	f("client setinfo lib-name redis-py", "+OK\r\n")
	f("client setinfo LIB-VER 5.0.1", "+OK\r\n")
	f("client setinfo foo bar", "-ERR Unrecognized option 'foo'\r\n")
	h.fa("-ERR lib-name cannot contain spaces, newlines or special characters.\r\n", "client", "setinfo", "lib-name", "a b")
	h.fa("-ERR LIB-VER cannot contain spaces, newlines or special characters.\r\n", "client", "setinfo", "LIB-VER", "1\n")
	f("client setinfo lib-name", "-ERR wrong number of arguments for 'client|setinfo' command\r\n")
	info := h.run("client", "info")
	for _, want := range []string{"id=" + strconv.FormatInt(h.c.ID, 10) + " ", "addr=127.0.0.1:40000 ", "laddr=127.0.0.1:6379 ",
		"name= ", "db=0 ", "cmd=client|info ", "resp=2 ", "lib-name=redis-py ", "lib-ver=5.0.1\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("CLIENT INFO %q lacks %q", info, want)
		}
	}
	list := parseReply(t, h.run("client", "list"))
	if lines := strings.Split(strings.TrimSuffix(string(list.Str), "\n"), "\n"); len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "id="+strconv.FormatInt(h.c.ID, 10)+" ") {
		t.Errorf("CLIENT LIST: %q", list.Str)
	}
	list = parseReply(t, h.run("client", "list", "id", strconv.FormatInt(other.ID, 10)))
	if !strings.HasPrefix(string(list.Str), "id="+strconv.FormatInt(other.ID, 10)+" addr=127.0.0.1:40009 ") {
		t.Errorf("CLIENT LIST ID: %q", list.Str)
	}
	f("client list id x", "-ERR Invalid client ID\r\n")
	f("client list foo", "-ERR syntax error\r\n")
	h.s.ReleaseClient(other)
	if n := h.s.Clients(); n != 1 {
		t.Fatalf("%d clients after release", n)
	}
	h.s.ReleaseClient(other) // twice is harmless
	h.c.Proto = 3
	f("client getname", "_\r\n")
	if got := h.run("client", "info"); !strings.HasPrefix(got, "=") || !strings.Contains(got, "\r\ntxt:id=") {
		t.Errorf("CLIENT INFO in RESP3: %q", got)
	}
	if got := h.run("client", "help"); !strings.HasPrefix(got, "*") || !strings.Contains(got, "+CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n") ||
		!strings.HasSuffix(got, "+HELP\r\n+    Prints this help.\r\n") {
		t.Errorf("CLIENT HELP: %q", got)
	}
}
