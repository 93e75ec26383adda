package main

// The client scenarios (clients_scenarios_test.go) through the Node.js clients ioredis and
// node-redis (the current major and v5), RESP3 and RESP2, TCP and the Unix socket:
// testdata/node/scenarios.js runs them and prints one JSON line per check.
//
// The packages come from testdata/node/package-lock.json through `npm ci`. The lock names
// every package by exact version and sha512 integrity but records no download address
// (testdata/node/.npmrc: omit-lockfile-registry-resolved), so the install is reproducible
// from whichever registry npm is configured with. node_modules stays between runs (git
// ignores it): npm ci runs again only when the lock changes.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	nodeDir        = "testdata/node"
	npmCITimeout   = 5 * time.Minute // a first install downloads the packages
	nodeRunTimeout = 3 * time.Minute
	npmStampFile   = ".sidecache-lock-sha256" // in node_modules: the lock it was installed from
)

// nodeScenarios is the set of scenarios scenarios.js runs for each client configuration.
var nodeScenarios = []string{"handshake", "session", "ratelimit", "dedup", "pipeline", "tx", "watch"}

// nodeTools returns the paths of node and npm. Missing tools fail the test in CI (which
// installs them) and skip it elsewhere.
func nodeTools(t *testing.T) (node, npm string) {
	t.Helper()
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode == nil && errNpm == nil {
		return node, npm
	}
	msg := fmt.Sprintf("node and npm are needed for the Node.js client tests (.ci/run installs them): node: %v, npm: %v", errNode, errNpm)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return "", ""
}

// runGroup runs a command in its own process group with a deadline; on the deadline the
// whole group (npm's children too) is killed.
func runGroup(t *testing.T, timeout time.Duration, dir string, stdout, stderr *bytes.Buffer, name string, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("%s: no result within %v: %w", name, timeout, err)
	}
	return err
}

// npmCI installs testdata/node's locked packages unless node_modules already holds them.
// An exclusive lock on package-lock.json keeps two test processes from installing at once.
func npmCI(t *testing.T, npm string) {
	t.Helper()
	lockPath := filepath.Join(nodeDir, "package-lock.json")
	f, err := os.Open(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("flock %s: %v", lockPath, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	lock, err := os.ReadFile(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	want := hex.EncodeToString(sum[:])
	stamp := filepath.Join(nodeDir, "node_modules", npmStampFile)
	if got, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(got)) == want {
		return
	}
	var out bytes.Buffer
	// --ignore-scripts: the locked packages are plain JavaScript, nothing needs to build
	if err := runGroup(t, npmCITimeout, nodeDir, &out, &out, npm, "ci", "--ignore-scripts", "--prefer-offline", "--no-audit", "--no-fund"); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", nodeDir, err, tail(out.String(), 4000))
	}
	if err := os.WriteFile(stamp, []byte(want+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// nodeCheck is one line of scenarios.js's output.
type nodeCheck struct {
	Lib       string          `json:"lib"`
	Transport string          `json:"transport"`
	Resp      int             `json:"resp"`
	Scenario  string          `json:"scenario"`
	Check     string          `json:"check"`
	OK        bool            `json:"ok"`
	Note      string          `json:"note"`
	Got       json.RawMessage `json:"got"`
	Want      json.RawMessage `json:"want"`

	Done   bool   `json:"done"`
	Checks int    `json:"checks"`
	Failed int    `json:"failed"`
	Error  string `json:"error"`
}

func TestNodeClients(t *testing.T) {
	node, npm := nodeTools(t)
	npmCI(t, npm)
	p := startClientTarget(t)
	args := []string{"scenarios.js", "--tcp", p.Addr, "--unix", p.Socket}
	if !diffTargetRedis() {
		args = append(args, "--require-lib-name") // sidecache has CLIENT SETINFO (7.2)
	}
	var stdout, stderr bytes.Buffer
	runErr := runGroup(t, nodeRunTimeout, nodeDir, &stdout, &stderr, node, args...)

	type config struct {
		lib, transport string
		resp           int
	}
	byScenario := map[config]map[string][]nodeCheck{}
	var done *nodeCheck
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var c nodeCheck
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("scenarios.js printed a line that is not JSON: %q", sc.Text())
		}
		if c.Done || c.Error != "" {
			done = &c
			continue
		}
		k := config{c.Lib, c.Transport, c.Resp}
		if byScenario[k] == nil {
			byScenario[k] = map[string][]nodeCheck{}
		}
		byScenario[k][c.Scenario] = append(byScenario[k][c.Scenario], c)
	}
	if done == nil || !done.Done {
		t.Fatalf("scenarios.js did not finish (%v): %+v\nstderr:\n%s\nstdout:\n%s", runErr, done, tail(stderr.String(), 4000), tail(stdout.String(), 4000))
	}
	t.Logf("scenarios.js: %d checks, %d failed", done.Checks, done.Failed)

	configs := slices.SortedFunc(maps.Keys(byScenario), func(a, b config) int {
		return cmp.Or(strings.Compare(a.lib, b.lib), strings.Compare(a.transport, b.transport), b.resp-a.resp)
	})
	libs := map[string]int{}
	for _, k := range configs {
		libs[k.lib]++
		t.Run(fmt.Sprintf("%s/%s-resp%d", k.lib, k.transport, k.resp), func(t *testing.T) {
			for _, s := range append(slices.Clone(nodeScenarios), "connect") {
				checks, ok := byScenario[k][s]
				if !ok {
					if s != "connect" {
						t.Errorf("%s: no check reported", s)
					}
					continue
				}
				t.Run(s, func(t *testing.T) {
					for _, c := range checks {
						if !c.OK {
							t.Errorf("%s: got %s, want %s", c.Check, c.Got, c.Want)
						} else if c.Note != "" {
							t.Logf("%s: %s", c.Check, c.Note)
						}
					}
				})
			}
		})
	}
	for lib, n := range libs {
		if n != 4 { // tcp and unix, RESP3 and RESP2
			t.Errorf("%s: %d of 4 configurations reported", lib, n)
		}
	}
	if len(libs) == 0 {
		t.Fatal("scenarios.js reported no client")
	}
	if runErr != nil && done.Failed == 0 {
		t.Errorf("node scenarios.js: %v\nstderr:\n%s", runErr, tail(stderr.String(), 4000))
	}
}
