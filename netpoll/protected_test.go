package netpoll

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/sidecache/sidecache/config"
)

func TestProtectedMode(t *testing.T) {
	cfg := config.New()
	s := startServerConfig(t, Options{ProtectedMode: true}, cfg)
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 50000} }
	f := func(remote net.Addr, unix, want bool) {
		t.Helper()
		if got := s.protectedRefuses(remote, unix); got != want {
			t.Errorf("protectedRefuses(%v, unix=%v) = %v, want %v", remote, unix, got, want)
		}
	}
	f(tcp("10.1.2.3"), false, true)
	f(tcp("2001:db8::1"), false, true)
	f(tcp("127.0.0.1"), false, false)
	f(tcp("127.9.9.9"), false, false)
	f(tcp("::1"), false, false)
	f(tcp("::ffff:127.0.0.1"), false, false)
	f(&net.UnixAddr{Name: "@", Net: "unix"}, true, false)
	f(nil, false, true)

	// A password turns it off, as does CONFIG SET protected-mode no.
	if err := cfg.Set("requirepass", "secret"); err != nil {
		t.Fatal(err)
	}
	f(tcp("10.1.2.3"), false, false)
	if err := cfg.Set("requirepass", ""); err != nil {
		t.Fatal(err)
	}
	f(tcp("10.1.2.3"), false, true)
	s.SetProtectedMode(false)
	f(tcp("10.1.2.3"), false, false)
	s.SetProtectedMode(true)

	// Loopback and Unix socket clients are served.
	mustPong(t, dial(t, "tcp", s.tcp))
	mustPong(t, dial(t, "unix", s.unix))
	if n := s.Stats().Rejected.Load(); n != 0 {
		t.Fatalf("%d rejected", n)
	}
}

// The refusal is the reference redis-server's text, byte for byte: it is a string literal
// in the binary.
func TestProtectedModeTextIsRedis(t *testing.T) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(bin, []byte(strings.TrimSuffix(deniedProtected, "\r\n"))) {
		t.Fatal("the DENIED text differs from redis-server's")
	}
}
