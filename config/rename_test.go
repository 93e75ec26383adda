package config

import (
	"strings"
	"testing"
)

// TestRenameCommandSources: rename-command from a file (exactly two names, "" disables),
// the environment and flags (pairs), in that order; never a CONFIG GET/SET setting.
func TestRenameCommandSources(t *testing.T) {
	dir := t.TempDir()
	file := write(t, dir, "r.conf", "rename-command FLUSHALL \"\"\nRENAME-COMMAND config 'cfg'\n")
	c, _, err := Load([]string{"--config", file, "--rename-command", "keys k", "--rename-command=debug ''"},
		[]string{"SIDECACHE_RENAME_COMMAND=info i scan ''"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range c.CommandRenames() {
		got = append(got, r.Old+">"+r.New+"@"+r.Source)
	}
	want := []string{
		"FLUSHALL>@config file " + file + ", line 1: >>> 'rename-command FLUSHALL \"\"'",
		"config>cfg@config file " + file + ", line 2: >>> 'RENAME-COMMAND config 'cfg''",
		"info>i@environment SIDECACHE_RENAME_COMMAND",
		"scan>@environment SIDECACHE_RENAME_COMMAND",
		"keys>k@flag --rename-command",
		"debug>@flag --rename-command",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("renames:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, ok := c.Get("rename-command"); ok {
		t.Fatal("rename-command is a CONFIG GET setting")
	}
	if err := c.Set("rename-command", "get x"); err == nil ||
		err.Error() != "ERR Unknown option or number of arguments for CONFIG SET - 'rename-command'" {
		t.Fatalf("CONFIG SET rename-command: %v", err)
	}
}

func TestRenameCommandErrors(t *testing.T) {
	dir := t.TempDir()
	f := func(args, env []string, want string) {
		t.Helper()
		_, _, err := Load(args, env)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Load(%q, %q) = %v; want %q", args, env, err, want)
		}
	}
	one := write(t, dir, "one.conf", "rename-command flushall\n")
	f([]string{"--config", one}, nil, "line 1: >>> 'rename-command flushall': Bad directive or wrong number of arguments")
	three := write(t, dir, "three.conf", "port 1\nrename-command get a b\n")
	f([]string{"--config", three}, nil, "line 2: >>> 'rename-command get a b': Bad directive or wrong number of arguments")
	f([]string{"--rename-command", "get"}, nil, "flag --rename-command: rename-command needs pairs of names")
	f([]string{"--rename-command", "get 'x"}, nil, "flag --rename-command: Unbalanced quotes")
	f(nil, []string{"SIDECACHE_RENAME_COMMAND=a b c"}, "environment SIDECACHE_RENAME_COMMAND: rename-command needs pairs")
}
