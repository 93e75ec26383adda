package config

import (
	"strings"
	"testing"
)

func TestParseUpstream(t *testing.T) {
	f := func(v, want string) {
		t.Helper()
		u, err := ParseUpstream(v)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			got = strings.Join(u.Addrs, ",") + " user=" + u.Username + " pass=" + u.Password
		}
		if got != want {
			t.Errorf("ParseUpstream(%q) = %q, want %q", v, got, want)
		}
	}
	f("redis://127.0.0.1:6379", "127.0.0.1:6379 user= pass=")
	f("redis://a:1,b:2,[::1]:3", "a:1,b:2,[::1]:3 user= pass=")
	f("redis://:secret@h:1", "h:1 user= pass=secret")
	f("redis://app:p%40ss@h:1/", "h:1 user=app pass=p@ss")
	f("redis://h:1/0", "h:1 user= pass=")
	f("redis://h:1/2", "error: upstream: no path or options after the hosts (clients SELECT their database)")
	f("redis://h", "error: "+errUpstreamURL.Error())
	f("redis://h:0", "error: "+errUpstreamURL.Error())
	f("http://h:1", "error: "+errUpstreamURL.Error())
	f("rediss://h:1", "h:1 user= pass=") // TLS: upstream_tls_test.go
}

func TestUpstreamSettings(t *testing.T) {
	c := New()
	for _, name := range []string{"upstream", "upstream-cluster", "l1-max-ttl", "l1-nil-ttl", "l1-ttl-only"} {
		if c.Lookup(name) == nil {
			t.Fatalf("no setting %s", name)
		}
	}
	if c.String("upstream") != "" || c.Duration("l1-max-ttl").String() != "1m0s" || c.Duration("l1-nil-ttl").String() != "5s" {
		t.Fatalf("defaults: %q %v %v", c.String("upstream"), c.Duration("l1-max-ttl"), c.Duration("l1-nil-ttl"))
	}
	if err := c.Set("l1-max-ttl", "10s"); err != nil || c.Duration("l1-max-ttl").String() != "10s" {
		t.Fatalf("CONFIG SET l1-max-ttl: %v", err)
	}
	if v, _ := c.Get("upstream"); v != "" {
		t.Fatalf("CONFIG GET upstream = %q", v)
	}
}

func TestPrewarmSettings(t *testing.T) {
	c, _, err := Load([]string{"--prewarm-keys", "5000", "--prewarm-match", "user:*", "--prewarm-timeout", "2s", "--prewarm-ready", "yes"},
		[]string{"SIDECACHE_PREWARM_RATE=100"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Int("prewarm-keys") != 5000 || c.String("prewarm-match") != "user:*" || c.Duration("prewarm-timeout").String() != "2s" ||
		!c.Bool("prewarm-ready") || c.Int("prewarm-rate") != 100 || c.String("prewarm-file") != "" {
		t.Fatalf("prewarm settings: %d %q %v %v %d %q", c.Int("prewarm-keys"), c.String("prewarm-match"),
			c.Duration("prewarm-timeout"), c.Bool("prewarm-ready"), c.Int("prewarm-rate"), c.String("prewarm-file"))
	}
	if _, _, err := Load([]string{"--prewarm-keys", "-1"}, nil); err == nil {
		t.Fatal("prewarm-keys -1 accepted")
	}
	if err := c.Set("prewarm-keys", "1"); err == nil {
		t.Fatal("CONFIG SET prewarm-keys accepted: prewarm happens at start-up only")
	}
}
