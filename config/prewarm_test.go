package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestPrewarmDB(t *testing.T) {
	f := func(want string, args ...string) {
		t.Helper()
		got := ""
		c, _, err := Load(args, nil)
		if err == nil {
			var dbs []int
			dbs, err = PrewarmDBs(c)
			got = fmt.Sprint(dbs, " ", c.String("prewarm-db"))
		}
		if err != nil {
			got = "error: " + err.Error()
		}
		if got != want {
			t.Errorf("%q: %q, want %q", args, got, want)
		}
	}
	f("[0] 0")
	f("[0 3] 0 3", "--prewarm-db", "0,3")
	f("[0 3] 0 3", "--prewarm-db", "0 3")
	f("[3 0] 3 0", "--prewarm-db", " 3, 0,3 ")
	f("[15] 15", "--prewarm-db", "15")
	f("[2] 2", "--prewarm-db", "2", "--databases", "3")
	f("error: prewarm-db: database 16 is out of range (databases is 16)", "--prewarm-db", "0,16")
	f("error: prewarm-db: database 3 is out of range (databases is 3)", "--prewarm-db", "3", "--databases", "3")
	f("[0] 0", "--prewarm-db", "0", "--upstream-cluster", "yes")
	f("error: prewarm-db: database 2 with upstream-cluster yes: a Redis Cluster has database 0 only",
		"--prewarm-db", "0,2", "--upstream-cluster", "yes")
	for _, bad := range []string{"", ",", "-1", "a", "1.5", "01", "+1", "0;1", "99999999999"} {
		if _, _, err := Load([]string{"--prewarm-db", bad}, nil); err == nil {
			t.Errorf("prewarm-db %q accepted", bad)
		}
	}
	file := filepath.Join(t.TempDir(), "sidecache.conf")
	if err := os.WriteFile(file, []byte("prewarm-db 0 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f("[0 3] 0 3", "--config", file) // a config-file line's arguments
	if err := New().Set("prewarm-db", "1"); err == nil {
		t.Error("CONFIG SET prewarm-db accepted: prewarm happens at start-up only")
	}
}
