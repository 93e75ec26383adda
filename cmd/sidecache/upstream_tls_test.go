package main

// Upstream mode over TLS against a real redis-server listening on a TLS port only: a CA, a
// server certificate (127.0.0.1 and a DNS name) and a client certificate are made by the
// test in t.TempDir(). Read-through and invalidation over TLS, mutual TLS, verification
// failures (wrong CA, wrong name), ACL credentials, and the start-up errors of the
// upstream-tls-* settings.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tlsServerName is the DNS name in the server certificate, besides 127.0.0.1.
const tlsServerName = "upstream.sidecache.test"

// testPKI is a CA and the certificates it signed, as PEM files in a test's temp dir.
type testPKI struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string // file paths
	pool                                             *x509.CertPool
	client                                           tls.Certificate
}

// newTestPKI makes a CA named cn, a server certificate for 127.0.0.1 and tlsServerName, and
// a client certificate, all signed by the CA.
func newTestPKI(t *testing.T, cn string) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{CA: filepath.Join(dir, "ca.pem"), pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	writePEM(t, p.CA, "CERTIFICATE", caDER)

	issue := func(serial int64, name string, usage x509.ExtKeyUsage, dns []string, ips []net.IP) (certFile, keyFile string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     dns,
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "PRIVATE KEY", kder)
		return certFile, keyFile
	}
	p.ServerCert, p.ServerKey = issue(2, "server", x509.ExtKeyUsageServerAuth,
		[]string{tlsServerName}, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.ClientCert, p.ClientKey = issue(3, "client", x509.ExtKeyUsageClientAuth, nil, nil)
	if p.client, err = tls.LoadX509KeyPair(p.ClientCert, p.ClientKey); err != nil {
		t.Fatal(err)
	}
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clientConfig is the TLS of the test's own connections to the upstream: verified against
// the CA, with the client certificate.
func (p *testPKI) clientConfig() *tls.Config {
	return &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}}
}

// startRedisTLS starts redis-server with a TLS port only (--port 0), the PKI's server
// certificate and CA, and tls-auth-clients as given (yes: a client certificate is
// required). Addr is the TLS port. Ready once a PING over TLS answers.
func startRedisTLS(t *testing.T, p *testPKI, authClients string, args ...string) *proc {
	t.Helper()
	return launchRedisTLS(t, p, authClients, false, args)
}

// launchRedisTLS is startRedisTLS; with skipWithoutTLS, a redis-server whose output says it
// has no TLS skips the test instead of failing it.
func launchRedisTLS(t *testing.T, p *testPKI, authClients string, skipWithoutTLS bool, args []string) *proc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skipf("redis-server not installed: %v", err)
	}
	port := freePort(t)
	all := append([]string{
		"--port", "0",
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", p.ServerCert,
		"--tls-key-file", p.ServerKey,
		"--tls-ca-cert-file", p.CA,
		"--tls-auth-clients", authClients,
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", shortTempDir(t),
	}, args...)
	r := &proc{Name: "redis-tls", Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		out: &syncBuffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(bin, all...)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	r.PID = r.cmd.Process.Pid
	go func() { r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("redis-server (pid %d, %s) output:\n%s", r.PID, r.Addr, tail(r.out.String(), 4000))
		}
	})
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := dialTLS(t, r.Addr, p.clientConfig())
		if err == nil {
			var rep []byte
			if err = c.Send(encodeCommand([]string{"PING"})); err == nil {
				rep, err = c.Read()
			}
			c.Close()
			if err == nil && string(rep) == "+PONG\r\n" {
				return r
			}
		}
		if skipWithoutTLS && r.exited() && redisLacksTLS(r.out.String()) {
			t.Skipf("redis-server was built without TLS:\n%s", tail(r.out.String(), 1000))
		}
		if r.exited() || time.Now().After(deadline) {
			t.Fatalf("redis-server %v not ready: %v\noutput:\n%s", all, err, tail(r.out.String(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dialTLS connects to addr over TLS and completes the handshake.
func dialTLS(t *testing.T, addr string, conf *tls.Config) (*respConn, error) {
	d := &net.Dialer{Timeout: ioTimeout}
	c, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		return nil, err
	}
	return &respConn{t: t, c: c, br: bufio.NewReaderSize(c, 64<<10)}, nil
}

// mustDialTLS is dialTLS for a connection that must work; closed at the end of the test.
func mustDialTLS(t *testing.T, addr string, conf *tls.Config) *respConn {
	t.Helper()
	c, err := dialTLS(t, addr, conf)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

// wantUpstreamError asserts that a read through the sidecar answers an upstream failure
// naming want (the sidecar started, the upstream connection did not).
func wantUpstreamError(t *testing.T, sc *proc, want string) {
	t.Helper()
	c := dialResp(t, sc.Addr)
	r := string(c.Do("GET", "k"))
	if !strings.HasPrefix(r, "-ERR upstream: ") || !strings.Contains(r, want) || !strings.HasSuffix(r, "\r\n") ||
		strings.Count(r, "\r\n") != 1 {
		t.Fatalf("GET = %q, want -ERR upstream: ...%s...", r, want)
	}
	t.Logf("GET through %s answered %q", sc.Addr, r)
	l1Eventually(t, "the dial failure in the log", func() bool {
		out := sc.out.String()
		return strings.Contains(out, "upstream unavailable") && strings.Contains(out, want)
	})
}

// Read-through over TLS: a miss then a hit, and a write directly on the upstream (over TLS)
// invalidates the sidecar's entry.
func TestUpstreamTLSReadThrough(t *testing.T) {
	p := newTestPKI(t, "test CA")
	up := startRedisTLS(t, p, "no")
	sc := startSidecache(t, "--upstream", "rediss://"+up.Addr, "--upstream-tls-ca-cert-file", p.CA)
	u, c := mustDialTLS(t, up.Addr, p.clientConfig()), dialResp(t, sc.Addr)
	u.Do("SET", "k", "v1")
	for _, what := range []string{"miss", "hit"} {
		if r := string(c.Do("GET", "k")); r != l1Bulk("v1") {
			t.Fatalf("GET (%s) = %q", what, r)
		}
	}
	if h, m := upInfo(t, c, "l1_hits"), upInfo(t, c, "l1_misses"); h != 1 || m != 1 {
		t.Fatalf("l1_hits %d l1_misses %d, want 1 1", h, m)
	}
	if v := upInfoText(t, c, "upstream_tls"); v != "yes" {
		t.Fatalf("upstream_tls:%s", v)
	}
	u.Do("SET", "k", "v2")
	l1Eventually(t, "the new value through the sidecar", func() bool { return string(c.Do("GET", "k")) == l1Bulk("v2") })
	if n := upInfo(t, c, "invalidations_received"); n < 1 {
		t.Fatalf("invalidations_received %d", n)
	}
	// Pass-through commands take the same TLS connections.
	if r := string(c.Do("INCR", "n")); r != ":1\r\n" {
		t.Fatalf("INCR = %q", r)
	}
	if r := string(u.Do("GET", "n")); r != l1Bulk("1") {
		t.Fatalf("upstream GET n = %q", r)
	}
}

// upstream-tls yes turns TLS on for a redis:// URL, as rediss:// does; against a TLS port,
// a plain redis:// URL gets no reply it can read.
func TestUpstreamTLSSetting(t *testing.T) {
	p := newTestPKI(t, "test CA")
	up := startRedisTLS(t, p, "no")
	sc := startSidecache(t, "--upstream", "redis://"+up.Addr, "--upstream-tls", "yes", "--upstream-tls-ca-cert-file", p.CA)
	u, c := mustDialTLS(t, up.Addr, p.clientConfig()), dialResp(t, sc.Addr)
	u.Do("SET", "k", "v1")
	if r := string(c.Do("GET", "k")); r != l1Bulk("v1") {
		t.Fatalf("GET = %q", r)
	}
	plain := startSidecache(t, "--upstream", "redis://"+up.Addr)
	if r := string(dialResp(t, plain.Addr).Do("GET", "k")); !strings.HasPrefix(r, "-ERR upstream: ") {
		t.Fatalf("plain connection to a TLS port: GET = %q", r)
	}
}

// Mutual TLS: with tls-auth-clients yes the upstream takes the sidecar's client certificate,
// and refuses the handshake without one.
func TestUpstreamTLSMutual(t *testing.T) {
	p := newTestPKI(t, "test CA")
	up := startRedisTLS(t, p, "yes")
	u := mustDialTLS(t, up.Addr, p.clientConfig())
	u.Do("SET", "k", "v1")

	sc := startSidecache(t, "--upstream", "rediss://"+up.Addr, "--upstream-tls-ca-cert-file", p.CA,
		"--upstream-tls-cert-file", p.ClientCert, "--upstream-tls-key-file", p.ClientKey)
	c := dialResp(t, sc.Addr)
	if r := string(c.Do("GET", "k")); r != l1Bulk("v1") {
		t.Fatalf("GET with a client certificate = %q", r)
	}
	u.Do("SET", "k", "v2")
	l1Eventually(t, "the new value through the sidecar", func() bool { return string(c.Do("GET", "k")) == l1Bulk("v2") })

	noCert := startSidecache(t, "--upstream", "rediss://"+up.Addr, "--upstream-tls-ca-cert-file", p.CA)
	wantUpstreamError(t, noCert, "(no client certificate was offered: an upstream with tls-auth-clients yes needs upstream-tls-cert-file and upstream-tls-key-file)")
}

// Verification: a certificate from another CA, or from the system roots, is refused with
// x509's reason; skip-verify accepts it and says so in the log.
func TestUpstreamTLSWrongCA(t *testing.T) {
	p, other := newTestPKI(t, "test CA"), newTestPKI(t, "other CA")
	up := startRedisTLS(t, p, "no")
	mustDialTLS(t, up.Addr, p.clientConfig()).Do("SET", "k", "v1")

	wrong := startSidecache(t, "--upstream", "rediss://"+up.Addr, "--upstream-tls-ca-cert-file", other.CA)
	wantUpstreamError(t, wrong, "x509: certificate signed by unknown authority")
	system := startSidecache(t, "--upstream", "rediss://"+up.Addr)
	wantUpstreamError(t, system, "x509: certificate signed by unknown authority")

	insecure := startSidecache(t, "--upstream", "rediss://"+up.Addr, "--upstream-tls-skip-verify", "yes")
	if r := string(dialResp(t, insecure.Addr).Do("GET", "k")); r != l1Bulk("v1") {
		t.Fatalf("GET with skip-verify = %q", r)
	}
	if !strings.Contains(insecure.out.String(), "INSECURE: upstream-tls-skip-verify") {
		t.Fatalf("no warning for skip-verify in the log:\n%s", insecure.out.String())
	}
}

// upstream-tls-server-name: the certificate's DNS name verifies (and is the SNI) while the
// address is an IP; a name the certificate does not carry is refused.
func TestUpstreamTLSServerName(t *testing.T) {
	p := newTestPKI(t, "test CA")
	up := startRedisTLS(t, p, "no")
	mustDialTLS(t, up.Addr, p.clientConfig()).Do("SET", "k", "v1")

	named := startSidecache(t, "--upstream", "rediss://"+up.Addr, "--upstream-tls-ca-cert-file", p.CA,
		"--upstream-tls-server-name", tlsServerName)
	if r := string(dialResp(t, named.Addr).Do("GET", "k")); r != l1Bulk("v1") {
		t.Fatalf("GET with server name %s = %q", tlsServerName, r)
	}
	mismatch := startSidecache(t, "--upstream", "rediss://"+up.Addr, "--upstream-tls-ca-cert-file", p.CA,
		"--upstream-tls-server-name", "other.sidecache.test")
	wantUpstreamError(t, mismatch, "x509: certificate is valid for "+tlsServerName+", not other.sidecache.test")
}

// Credentials over TLS: an ACL user with a password, in the URL or in the settings; the
// password appears neither in CONFIG GET, INFO nor the log; a wrong password gets the
// upstream's own error.
func TestUpstreamTLSACL(t *testing.T) {
	const pass = "s3cret-Pw"
	p := newTestPKI(t, "test CA")
	up := startRedisTLS(t, p, "no")
	u := mustDialTLS(t, up.Addr, p.clientConfig())
	if r := string(u.Do("ACL", "SETUSER", "app", "on", ">"+pass, "~*", "&*", "+@all")); r != "+OK\r\n" {
		t.Fatalf("ACL SETUSER = %q", r)
	}
	// The default user needs a password from now on (u is authenticated already).
	if r := string(u.Do("CONFIG", "SET", "requirepass", "default-"+pass)); r != "+OK\r\n" {
		t.Fatalf("CONFIG SET requirepass = %q", r)
	}
	if r := string(u.Do("SET", "k", "v1")); r != "+OK\r\n" {
		t.Fatalf("SET = %q", r)
	}
	for name, args := range map[string][]string{
		"url":              {"--upstream", "rediss://app:" + pass + "@" + up.Addr},
		"settings":         {"--upstream", "rediss://" + up.Addr, "--upstream-user", "app", "--upstream-password", pass},
		"default-url":      {"--upstream", "rediss://:default-" + pass + "@" + up.Addr},
		"default-settings": {"--upstream", "rediss://" + up.Addr, "--upstream-password", "default-" + pass},
	} {
		t.Run(name, func(t *testing.T) {
			sc := startSidecache(t, append(args, "--upstream-tls-ca-cert-file", p.CA)...)
			c := dialResp(t, sc.Addr)
			if r := string(c.Do("GET", "k")); r != l1Bulk("v1") {
				t.Fatalf("GET = %q", r)
			}
			shown := string(c.Do("CONFIG", "GET", "upstream*")) + string(c.Do("INFO", "upstream")) + sc.out.String()
			if strings.Contains(shown, pass) {
				t.Fatalf("the password is shown:\n%s", shown)
			}
			if !strings.Contains(shown, "(redacted)") {
				t.Fatalf("CONFIG GET upstream*: no (redacted):\n%s", shown)
			}
		})
	}
	wrong := startSidecache(t, "--upstream", "rediss://app:nope@"+up.Addr, "--upstream-tls-ca-cert-file", p.CA)
	wantUpstreamError(t, wrong, "WRONGPASS invalid username-password pair or user is disabled.")
	none := startSidecache(t, "--upstream", "rediss://"+up.Addr, "--upstream-tls-ca-cert-file", p.CA)
	wantUpstreamError(t, none, "NOAUTH")
}

// Start-up errors of the TLS and credential settings: the process exits at once, naming the
// setting and the file, before it serves.
func TestUpstreamTLSStartupErrors(t *testing.T) {
	p := newTestPKI(t, "test CA")
	bin := sidecacheBinary(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	f := func(want string, args ...string) {
		t.Helper()
		all := append([]string{"--port", strconv.Itoa(freePort(t)), "--bind", "127.0.0.1", "--admin-addr", ""}, args...)
		out, err := runBounded(exec.Command(bin, all...), 10*time.Second)
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) || ee.ExitCode() == 0 || !strings.Contains(out, want) {
			t.Errorf("sidecache %q: err=%v out=%q, want a failure with %q", args, err, out, want)
		}
	}
	// 127.0.0.1:1 is never dialed: each of these fails before the upstream is contacted.
	f("upstream-tls-ca-cert-file: open "+missing+": no such file or directory",
		"--upstream", "rediss://127.0.0.1:1", "--upstream-tls-ca-cert-file", missing)
	f("upstream-tls-ca-cert-file: "+p.ServerKey+": no PEM certificate in it",
		"--upstream", "rediss://127.0.0.1:1", "--upstream-tls-ca-cert-file", p.ServerKey)
	f("upstream-tls-cert-file and upstream-tls-key-file go together",
		"--upstream", "rediss://127.0.0.1:1", "--upstream-tls-cert-file", p.ClientCert)
	f("tls: private key does not match public key",
		"--upstream", "rediss://127.0.0.1:1", "--upstream-tls-cert-file", p.ClientCert, "--upstream-tls-key-file", p.ServerKey)
	f("upstream-tls-ca-cert-file is set but TLS to the upstream is off",
		"--upstream", "redis://127.0.0.1:1", "--upstream-tls-ca-cert-file", p.CA)
	f("upstream-password is set and the upstream URL has a password: set one",
		"--upstream", "redis://:a@127.0.0.1:1", "--upstream-password", "b")
}
