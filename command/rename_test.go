package command

import (
	"strings"
	"testing"

	"github.com/sidecache/sidecache/config"
)

func TestRenameCommand(t *testing.T) {
	h := newHarnessArgs(t, "--rename-command", `FLUSHALL ""`, "--rename-command", "config cfg", "--rename-command", "Cfg Konfig")
	f := h.f()
	f("flushall", "-ERR unknown command 'flushall', with args beginning with: \r\n")
	f("config get hz", "-ERR unknown command 'config', with args beginning with: 'get' 'hz' \r\n")
	f("cfg get hz", "-ERR unknown command 'cfg', with args beginning with: 'get' 'hz' \r\n")
	f("KONFIG GET hz", "*2\r\n$2\r\nhz\r\n$2\r\n10\r\n")
	// The command keeps its real name everywhere but in the table clients call through.
	f("konfig get", "-ERR wrong number of arguments for 'config|get' command\r\n")
	f("konfig nosuch", "-ERR unknown subcommand 'nosuch'. Try KONFIG HELP.\r\n")
	f("command info config", "*1\r\n$-1\r\n")
	if got := h.run("command", "info", "konfig"); !strings.HasPrefix(got, "*1\r\n*10\r\n$6\r\nconfig\r\n") {
		t.Fatalf("COMMAND INFO konfig: %q", got)
	}
	if got := h.run("command", "info", "konfig|get"); !strings.HasPrefix(got, "*1\r\n*10\r\n$10\r\nconfig|get\r\n") {
		t.Fatalf("COMMAND INFO konfig|get: %q", got)
	}
	f("command info flushall", "*1\r\n$-1\r\n")
	list := h.run("command", "list")
	if !strings.Contains(list, "$6\r\nconfig\r\n") || strings.Contains(list, "konfig") || strings.Contains(list, "flushall") {
		t.Fatalf("COMMAND LIST: %q", list)
	}
	f("command count", ":"+idStr(int64(len(buildTable())-1))+"\r\n")
	// ACL works on real names: +config allows KONFIG; ACL CAT still lists FLUSHALL.
	f("acl setuser r on nopass +config", "+OK\r\n")
	f("acl setuser r +konfig", "-ERR Error in ACL SETUSER modifier '+konfig': Unknown command or category name in ACL\r\n")
	r := login(h, "r", "x")
	if got := runAs(h, r, "konfig", "get", "hz"); !strings.HasPrefix(got, "*2\r\n") {
		t.Fatalf("KONFIG GET as r: %q", got)
	}
	if got := runAs(h, r, "get", "k"); got != "-NOPERM User r has no permissions to run the 'get' command\r\n" {
		t.Fatalf("GET as r: %q", got)
	}
	if got := h.run("acl", "cat", "dangerous"); !strings.Contains(got, "$8\r\nflushall\r\n") {
		t.Fatalf("ACL CAT dangerous: %q", got)
	}
}

func TestRenameTableErrors(t *testing.T) {
	f := func(want string, renames ...config.CommandRename) {
		t.Helper()
		_, err := renameTable(buildTable(), renames)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("%v: %q, want %q", renames, got, want)
		}
	}
	r := func(old, new string) config.CommandRename {
		return config.CommandRename{Old: old, New: new, Source: "src"}
	}
	f("")
	f("", r("get", "GET"), r("GET", "fetch"), r("set", ""))
	f("src: No such command in rename-command", r("nosuch", "x"))
	f("src: No such command in rename-command", r("config|get", "x"))
	f("src: No such command in rename-command", r("get", ""), r("get", "x"))
	f("src: Target command name already exists", r("get", "set"))
	f("src: New command name in rename-command is longer than 32 bytes", r("get", strings.Repeat("x", 33)))
}

func TestCheckConfig(t *testing.T) {
	cfg, _, err := config.Load([]string{"--rename-command", "nosuch x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckConfig(cfg); err == nil || err.Error() != "flag --rename-command: No such command in rename-command" {
		t.Fatalf("CheckConfig: %v", err)
	}
	if err := CheckConfig(config.New()); err != nil {
		t.Fatalf("CheckConfig of the defaults: %v", err)
	}
}
