package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRenameCommandConfigFile: rename-command in a config file, through the real binary, as
// redis-server takes it: the old name is unknown, the new one works, COMMAND INFO and LIST
// report the real name.
func TestRenameCommandConfigFile(t *testing.T) {
	dir := t.TempDir()
	conf := writeConf(t, dir, "r.conf", "rename-command FLUSHALL \"\"\nrename-command CONFIG xyz\n")
	s := startSidecache(t, "--config", conf, "--rename-command", "keys ''")
	for _, addr := range []string{s.Addr, s.Socket} {
		c := dialResp(t, addr)
		f := func(want string, args ...string) {
			t.Helper()
			if got := string(c.Do(args...)); got != want {
				t.Errorf("%s %q:\n got %q\nwant %q", addr, args, got, want)
			}
		}
		f("-ERR unknown command 'FLUSHALL', with args beginning with: \r\n", "FLUSHALL")
		f("-ERR unknown command 'CONFIG', with args beginning with: 'GET' 'hz' \r\n", "CONFIG", "GET", "hz")
		f("-ERR unknown command 'KEYS', with args beginning with: '*' \r\n", "KEYS", "*")
		f("*2\r\n$2\r\nhz\r\n$2\r\n10\r\n", "XYZ", "GET", "hz")
		f("*1\r\n$-1\r\n", "COMMAND", "INFO", "config")
		if got := string(c.Do("COMMAND", "INFO", "xyz")); !strings.HasPrefix(got, "*1\r\n*10\r\n$6\r\nconfig\r\n") {
			t.Errorf("COMMAND INFO xyz: %q", got)
		}
		list := string(c.Do("COMMAND", "LIST"))
		if !strings.Contains(list, "$6\r\nconfig\r\n") || strings.Contains(list, "xyz") || strings.Contains(list, "flushall") {
			t.Errorf("COMMAND LIST: %q", list)
		}
	}
}

// TestRenameCommandStartupErrors: a rename-command Redis would refuse stops the start, with
// Redis's text and where the directive came from.
func TestRenameCommandStartupErrors(t *testing.T) {
	dir := t.TempDir()
	bin := sidecacheBinary(t)
	f := func(want string, args ...string) {
		t.Helper()
		all := append([]string{"--port", strconv.Itoa(freePort(t)), "--admin-addr", ""}, args...)
		out, err := runBounded(exec.Command(bin, all...), 10*time.Second)
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, want) {
			t.Errorf("sidecache %q: err=%v out=%q, want exit 2 and %q", args, err, out, want)
		}
	}
	f("line 2: >>> 'rename-command nosuch x': No such command in rename-command",
		"--config", writeConf(t, dir, "a.conf", "port 0\nrename-command nosuch x\n"))
	f(">>> 'rename-command get set': Target command name already exists",
		"--config", writeConf(t, dir, "b.conf", "rename-command get set\n"))
	f(">>> 'rename-command flushall': Bad directive or wrong number of arguments",
		"--config", writeConf(t, dir, "c.conf", "rename-command flushall\n"))
	f("flag --rename-command: No such command in rename-command", "--rename-command", "nosuch x")
}

// TestACLConnections: users across connections, as Redis: a login takes effect on its own
// connection only; rules change at once for connected clients; ACL DELUSER closes the
// user's connections (TCP and Unix socket) and spares the others.
func TestACLConnections(t *testing.T) {
	s := startSidecache(t)
	admin := dialResp(t, s.Addr)
	do := func(c *respConn, want string, args ...string) {
		t.Helper()
		if got := string(c.Do(args...)); got != want {
			t.Fatalf("%q:\n got %q\nwant %q", args, got, want)
		}
	}
	do(admin, "+OK\r\n", "ACL", "SETUSER", "alice", "on", ">s3cret", "+get", "+acl|whoami", "~app:*")
	a1 := dialResp(t, s.Addr)
	a2 := dialResp(t, s.Socket)
	other := dialResp(t, s.Addr)
	do(a1, "-WRONGPASS invalid username-password pair or user is disabled.\r\n", "AUTH", "alice", "nope")
	do(a1, "+OK\r\n", "AUTH", "alice", "s3cret")
	if got := string(a2.Do("HELLO", "3", "AUTH", "alice", "s3cret")); !strings.HasPrefix(got, "%7\r\n") {
		t.Fatalf("HELLO 3 AUTH alice: %q", got)
	}
	do(a1, "$5\r\nalice\r\n", "ACL", "WHOAMI")
	do(other, "$7\r\ndefault\r\n", "ACL", "WHOAMI")
	do(a1, "-NOPERM User alice has no permissions to run the 'set' command\r\n", "SET", "app:1", "v")
	do(a1, "-NOPERM No permissions to access a key\r\n", "GET", "secret:1")
	do(a1, "$-1\r\n", "GET", "app:1")
	do(admin, "+OK\r\n", "SET", "app:1", "v")
	do(a2, "$1\r\nv\r\n", "GET", "app:1")
	// CLIENT LIST shows who is who.
	list := string(admin.Do("CLIENT", "LIST"))
	if strings.Count(list, " user=alice ") != 2 || !strings.Contains(list, " user=default ") {
		t.Fatalf("CLIENT LIST: %q", list)
	}
	// A rule change applies at once, without a new login.
	do(admin, "+OK\r\n", "ACL", "SETUSER", "alice", "+set")
	do(a1, "+OK\r\n", "SET", "app:2", "v")
	// Deleting the user closes its connections, not the others.
	do(admin, ":1\r\n", "ACL", "DELUSER", "alice")
	for name, c := range map[string]*respConn{"tcp": a1, "unix": a2} {
		if closed, b := c.Closed(5 * time.Second); !closed {
			t.Errorf("%s connection of a deleted user still open (read %q)", name, b)
		}
	}
	do(other, "+PONG\r\n", "PING")
	do(admin, "*1\r\n$7\r\ndefault\r\n", "ACL", "USERS")
	// A failed login is in the ACL log, a denied command too.
	log := string(admin.Do("ACL", "LOG"))
	if !strings.Contains(log, "$4\r\nauth\r\n") || !strings.Contains(log, "$3\r\nset\r\n") {
		t.Fatalf("ACL LOG: %q", log)
	}
}

// TestACLRequirePassProtects: once requirepass is set, a new connection must log in as the
// default user; CONFIG GET shows the password redacted, ACL LIST only its hash.
func TestACLRequirePassProtects(t *testing.T) {
	s := startSidecache(t)
	if got := string(dialResp(t, s.Addr).Do("CONFIG", "SET", "requirepass", "pw1")); got != "+OK\r\n" {
		t.Fatalf("CONFIG SET requirepass: %q", got)
	}
	c := dialResp(t, s.Addr)
	if got := string(c.Do("GET", "k")); got != "-NOAUTH Authentication required.\r\n" {
		t.Fatalf("GET: %q", got)
	}
	if got := string(c.Do("AUTH", "default", "pw1")); got != "+OK\r\n" {
		t.Fatalf("AUTH: %q", got)
	}
	if got := string(c.Do("CONFIG", "GET", "requirepass")); !strings.Contains(got, "(redacted)") {
		t.Fatalf("CONFIG GET requirepass: %q", got)
	}
	if got := string(c.Do("ACL", "LIST")); !strings.Contains(got, "user default on sanitize-payload #") || strings.Contains(got, "pw1") {
		t.Fatalf("ACL LIST: %q", got)
	}
}

// TestACLCategoriesMatchRedis: every command's ACL categories (COMMAND INFO) are those of the
// reference redis-server, so +@category rules allow the same commands.
func TestACLCategoriesMatchRedis(t *testing.T) {
	ref := dialResp(t, startRedis(t).Addr)
	sub := dialResp(t, startSidecache(t).Addr)
	// Commands that 7.0.15 lacks (7.2 additions): their categories in 7.2's command table.
	newIn72 := map[string]string{"client|setinfo": "@slow @connection", "client|no-touch": "@slow @connection",
		"waitaof": "@slow @blocking @connection", "cluster|myshardid": "@slow"}
	names := parseList(t, sub.Do("COMMAND", "LIST"))
	if len(names) < 50 {
		t.Fatalf("COMMAND LIST: %d names", len(names))
	}
	for _, n := range names {
		got, _ := categoriesOf(t, sub.Do("COMMAND", "INFO", n))
		want, ok := categoriesOf(t, ref.Do("COMMAND", "INFO", n))
		switch {
		case newIn72[n] != "":
			if got != newIn72[n] {
				t.Errorf("%s: %q, want %q", n, got, newIn72[n])
			}
		case !ok:
			t.Errorf("%s: not a redis 7.0.15 command; list its categories here", n)
		case got != want:
			t.Errorf("%s: categories %q, redis %q", n, got, want)
		}
	}
}

// parseList decodes a flat array of bulk strings.
func parseList(t *testing.T, raw []byte) []string {
	t.Helper()
	v, err := parseValue(raw)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	var l []string
	for _, e := range v.Elems {
		l = append(l, e.Str)
	}
	return l
}

// categoriesOf returns the categories of a one-command COMMAND INFO reply, space separated;
// ok is false for an unknown command.
func categoriesOf(t *testing.T, raw []byte) (cats string, ok bool) {
	t.Helper()
	v, err := parseValue(raw)
	if err == nil && len(v.Elems) == 1 && v.Elems[0].Null {
		return "", false
	}
	if err != nil || len(v.Elems) != 1 || len(v.Elems[0].Elems) < 7 {
		t.Fatalf("COMMAND INFO %q: %v", raw, err)
	}
	var l []string
	for _, e := range v.Elems[0].Elems[6].Elems {
		l = append(l, e.Str)
	}
	return strings.Join(l, " "), true
}

func writeConf(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
