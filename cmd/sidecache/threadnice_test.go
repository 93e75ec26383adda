package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// threadNices reads the nice value of each thread of pid (field 19 of /proc/PID/task/TID/stat).
func threadNices(pid int) (map[int]int, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	nices := map[int]int{}
	for _, e := range ents {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue // the thread ended since the listing
		}
		s := string(raw)
		// The command name, in parentheses, may hold spaces: count fields after it.
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 17 {
			return nil, fmt.Errorf("short stat line %q", s)
		}
		tid, _ := strconv.Atoi(e.Name())
		if nices[tid], err = strconv.Atoi(f[16]); err != nil {
			return nil, err
		}
	}
	return nices, nil
}

func niceCounts(n map[int]int) string {
	count := map[int]int{}
	for _, v := range n {
		count[v]++
	}
	keys := make([]int, 0, len(count))
	for k := range count {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "nice %d: %d threads; ", k, count[k])
	}
	return b.String()
}

// With background-nice auto (10 without upstream), the event loops and gnet's accepting
// reactor keep the process's nice value and every other thread gets 10 more; the server
// serves on both transports throughout. With 0, and with auto in upstream mode, no thread
// is reniced.
func TestBackgroundThreadsNicerThanLoops(t *testing.T) {
	base, err := threadNices(os.Getpid())
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	own := base[os.Getpid()] // the server inherits the test's nice value
	const loops = 2
	t.Run("default", func(t *testing.T) {
		s := startServerEnv(t, []string{"GOMAXPROCS=" + strconv.Itoa(loops)})
		want := min(own+10, 19)
		var got map[int]int
		deadline := time.Now().Add(10 * time.Second)
		for {
			// Go starts threads as it needs them; any started from a loop thread gets
			// the loops' value until the next sweep (every second).
			for _, addr := range []string{s.Addr, s.Socket} {
				c := dialResp(t, addr)
				if rep := string(c.Do("PING")); rep != "+PONG\r\n" {
					t.Fatalf("PING over %s: %q", addr, rep)
				}
				c.Close()
			}
			if got, err = threadNices(s.PID); err != nil {
				t.Fatal(err)
			}
			atOwn, atWant := 0, 0
			for _, v := range got {
				switch v {
				case own:
					atOwn++
				case want:
					atWant++
				}
			}
			// The log line follows the first sweep's system calls.
			out := s.out.String()
			logged := strings.Contains(out, "background threads reniced below the event loops") &&
				strings.Contains(out, `"loop_threads":`+strconv.Itoa(loops+1))
			if atOwn == loops+1 && atWant == len(got)-atOwn && atWant > 0 && logged {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("want %d threads at nice %d (loops and acceptor) and the rest at %d, and a log line saying so (logged: %v); got %s",
					loops+1, own, want, logged, niceCounts(got))
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	for _, tc := range []struct {
		name string
		args func(t *testing.T) []string
	}{
		{"off", func(*testing.T) []string { return []string{"--background-nice", "0"} }},
		// auto in upstream mode: the upstream client applies invalidations.
		{"upstream", func(t *testing.T) []string { return []string{"--upstream", "redis://" + startRedis(t).Addr} }},
	} {
		t.Run(tc.name, func(t *testing.T) { allThreadsAt(t, own, loops, tc.args(t)...) })
	}
}

// allThreadsAt starts the server with args and checks, after more than one sweep had one
// been started, that every thread still has the test's nice value own.
func allThreadsAt(t *testing.T, own, loops int, args ...string) {
	s := startServerEnv(t, []string{"GOMAXPROCS=" + strconv.Itoa(loops)}, args...)
	if rep := string(dialResp(t, s.Addr).Do("PING")); rep != "+PONG\r\n" {
		t.Fatalf("PING: %q", rep)
	}
	time.Sleep(1500 * time.Millisecond) // longer than one sweep, had one been started
	got, err := threadNices(s.PID)
	if err != nil {
		t.Fatal(err)
	}
	for tid, v := range got {
		if v != own {
			t.Fatalf("thread %d at nice %d with %q; %s", tid, v, args, niceCounts(got))
		}
	}
}
