package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseUpstreamTLS(t *testing.T) {
	f := func(v string, tls bool) {
		t.Helper()
		u, err := ParseUpstream(v)
		if err != nil || u.TLS != tls {
			t.Errorf("ParseUpstream(%q) = TLS %v, %v; want TLS %v", v, u.TLS, err, tls)
		}
	}
	f("redis://h:1", false)
	f("rediss://h:1", true)
	f("rediss://app:pw@a:1,b:2", true)
	if _, err := ParseUpstream("redisss://h:1"); err == nil {
		t.Error("redisss:// accepted")
	}
}

// writeSelfSigned writes a self-signed certificate and its key as PEM files in dir.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	write := func(path, typ string, b []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, "CERTIFICATE", der)
	write(keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func TestUpstreamConnection(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	// f loads args and returns a summary of UpstreamConnection's result, or its error.
	f := func(want string, args ...string) {
		t.Helper()
		c, _, err := Load(args, nil)
		if err != nil {
			t.Fatalf("Load(%q): %v", args, err)
		}
		u, conf, err := UpstreamConnection(c)
		got := ""
		switch {
		case err != nil:
			got = "error: " + err.Error()
		case conf == nil:
			got = "plain user=" + u.Username + " pass=" + u.Password
		default:
			got = "tls user=" + u.Username + " pass=" + u.Password + " sni=" + conf.ServerName
			if conf.RootCAs != nil {
				got += " ca"
			}
			if len(conf.Certificates) > 0 {
				got += " cert"
			}
			if conf.InsecureSkipVerify {
				got += " skip-verify"
			}
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("UpstreamConnection(%q) = %q, want %q...", args, got, want)
		}
	}
	f("plain user= pass=", "--upstream", "redis://h:1")
	f("tls user= pass= sni=", "--upstream", "rediss://h:1")
	f("tls user= pass= sni=", "--upstream", "redis://h:1", "--upstream-tls", "yes")
	f("tls user=app pass=pw sni=redis.internal ca cert skip-verify", "--upstream", "rediss://app:pw@h:1",
		"--upstream-tls-ca-cert-file", cert, "--upstream-tls-cert-file", cert, "--upstream-tls-key-file", key,
		"--upstream-tls-server-name", "redis.internal", "--upstream-tls-skip-verify", "yes")

	// Credentials: the URL's or the settings', never both for one of them.
	f("plain user=app pass=s3", "--upstream", "redis://h:1", "--upstream-user", "app", "--upstream-password", "s3")
	f("plain user=app pass=s3", "--upstream", "redis://app@h:1", "--upstream-password", "s3")
	f("error: upstream-password is set and the upstream URL has a password: set one",
		"--upstream", "redis://:pw@h:1", "--upstream-password", "s3")
	f("error: upstream-user is set and the upstream URL has a user: set one",
		"--upstream", "redis://app@h:1", "--upstream-user", "other")

	// A TLS setting without TLS on is a mistake, not a silent plaintext connection.
	for _, name := range upstreamTLSOnly {
		v := cert
		if name == "upstream-tls-skip-verify" {
			v = "yes"
		}
		f("error: "+name+" is set but TLS to the upstream is off (use a rediss:// upstream or upstream-tls yes)",
			"--upstream", "redis://h:1", "--"+name, v)
	}

	// Files are read at start-up; errors name the setting and the file.
	f("error: upstream-tls-ca-cert-file: open "+missing+": no such file or directory",
		"--upstream", "rediss://h:1", "--upstream-tls-ca-cert-file", missing)
	f("error: upstream-tls-ca-cert-file: "+garbage+": no PEM certificate in it",
		"--upstream", "rediss://h:1", "--upstream-tls-ca-cert-file", garbage)
	f("error: upstream-tls-cert-file and upstream-tls-key-file go together",
		"--upstream", "rediss://h:1", "--upstream-tls-cert-file", cert)
	f("error: upstream-tls-cert-file and upstream-tls-key-file go together",
		"--upstream", "rediss://h:1", "--upstream-tls-key-file", key)
	f("error: upstream-tls-cert-file "+cert+", upstream-tls-key-file "+garbage+": tls: failed to find any PEM data in key input",
		"--upstream", "rediss://h:1", "--upstream-tls-cert-file", cert, "--upstream-tls-key-file", garbage)
	f("error: upstream-tls-cert-file "+cert+", upstream-tls-key-file "+cert+": tls: found a certificate rather than a key",
		"--upstream", "rediss://h:1", "--upstream-tls-cert-file", cert, "--upstream-tls-key-file", cert)
	_, otherKey := writeSelfSigned(t, t.TempDir())
	f("error: upstream-tls-cert-file "+cert+", upstream-tls-key-file "+otherKey+": tls: private key does not match public key",
		"--upstream", "rediss://h:1", "--upstream-tls-cert-file", cert, "--upstream-tls-key-file", otherKey)
}

func TestUpstreamCredentialsRedacted(t *testing.T) {
	c, _, err := Load([]string{"--upstream", "redis://app:urlpw@h:1"}, []string{"SIDECACHE_UPSTREAM_PASSWORD=envpw"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"upstream", "upstream-password"} {
		if v, _ := c.Get(name); v != "(redacted)" {
			t.Errorf("CONFIG GET %s = %q, want (redacted)", name, v)
		}
	}
	var all []string
	c.Each("*", func(name, value string) { all = append(all, name+"="+value) })
	if s := strings.Join(all, "\n"); strings.Contains(s, "urlpw") || strings.Contains(s, "envpw") {
		t.Errorf("CONFIG GET * shows a password:\n%s", s)
	}
	if _, _, err := UpstreamConnection(c); err == nil || strings.Contains(err.Error(), "urlpw") || strings.Contains(err.Error(), "envpw") {
		t.Errorf("conflicting passwords: %v", err)
	}
	for _, name := range []string{"upstream-user", "upstream-password", "upstream-tls", "upstream-tls-ca-cert-file",
		"upstream-tls-cert-file", "upstream-tls-key-file", "upstream-tls-server-name", "upstream-tls-skip-verify"} {
		if err := c.Set(name, "x"); err == nil || !strings.Contains(err.Error(), "can't set immutable config") {
			t.Errorf("CONFIG SET %s: %v", name, err)
		}
	}
	var help bytes.Buffer
	Usage(&help)
	for _, name := range []string{"--upstream-tls no", "--upstream-tls-ca-cert-file", "--upstream-password", "INSECURE"} {
		if !strings.Contains(help.String(), name) {
			t.Errorf("--help lacks %s", name)
		}
	}
}
