package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

const testConfig = `
image: sidecache/sidecache:0.1.0
nativeSidecar: true
port: 6379
adminPort: 9121
unixSocket: {enabled: false, dir: /var/run/sidecache, name: sidecache.sock, perm: "770"}
fsGroup: 65532
maxmemory: 64mb
maxmemoryClients: 16mb
maxmemoryPolicy: allkeys-lfu
databases: 16
maxclients: 10000
shutdownDelay: auto
legacyShutdownDelay: 5s
shutdownTimeout: 10s
resources: {limits: {memory: 128Mi}}
securityContext: {runAsNonRoot: true, readOnlyRootFilesystem: true}
`

const testReview = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
 "uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},
 "namespace":"shop","operation":"CREATE","userInfo":{},
 "object":{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-","labels":{"sidecache.io/inject":"true"}},
  "spec":{"containers":[{"name":"web","image":"shop/web:1.4"}]}}}}`

// writePair writes a certificate for 127.0.0.1 signed by ca (self-signed when ca is nil)
// and returns it.
func writePair(t *testing.T, dir string, serial int64, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "sidecache-injector.sidecache-system.svc"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         ca == nil, BasicConstraintsValid: true,
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if dir != "" {
		kb, _ := x509.MarshalECPrivateKey(key)
		// Key first: the reloader notices the certificate's change, so the key must be there.
		os.WriteFile(filepath.Join(dir, "tls.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
		os.WriteFile(filepath.Join(dir, "tls.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
		// A later modification time than the previous pair, whatever the file system's clock granularity.
		mt := time.Now().Add(time.Duration(serial) * time.Minute)
		os.Chtimes(filepath.Join(dir, "tls.crt"), mt, mt)
	}
	return cert, key
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(testConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	ca, caKey := writePair(t, "", 1, nil, nil)
	writePair(t, dir, 2, ca, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true,
	}}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--config", filepath.Join(dir, "config.yaml"),
			"--tls-cert", filepath.Join(dir, "tls.crt"), "--tls-key", filepath.Join(dir, "tls.key"), "--namespace", "sidecache-system"}, ln)
	}()
	base := "https://" + ln.Addr().String()

	post := func() (*admissionv1.AdmissionResponse, *x509.Certificate) {
		t.Helper()
		res, err := client.Post(base+"/mutate", "application/json", bytes.NewReader([]byte(testReview)))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		var rv admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &rv); err != nil || rv.Response == nil {
			t.Fatalf("%d %s: %v", res.StatusCode, body, err)
		}
		return rv.Response, res.TLS.PeerCertificates[0]
	}
	resp, cert := post()
	if !resp.Allowed || resp.UID != "u1" || len(resp.Patch) == 0 || cert.SerialNumber.Int64() != 2 {
		t.Fatalf("allowed %v uid %q patch %s serial %v", resp.Allowed, resp.UID, resp.Patch, cert.SerialNumber)
	}
	if res, err := client.Get(base + "/healthz"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", res, err)
	} else {
		res.Body.Close()
	}

	// A rotated pair is served to the next connection without a restart.
	writePair(t, dir, 3, ca, caKey)
	if _, cert := post(); cert.SerialNumber.Int64() != 3 {
		t.Fatalf("serial %v after rotation, want 3", cert.SerialNumber)
	}

	cancel()
	select {
	case rc := <-done:
		if rc != 0 {
			t.Fatalf("exit %d after shutdown", rc)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}
}

func TestRunRefusesBadSetup(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("image: x\nbogus: 1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "good.yaml"), []byte(testConfig), 0o644)
	f := func(want int, args ...string) {
		t.Helper()
		if rc := run(context.Background(), args, nil); rc != want {
			t.Fatalf("%v: exit %d, want %d", args, rc, want)
		}
	}
	f(2, "--no-such-flag")
	f(1, "--config", filepath.Join(dir, "bad.yaml"))
	f(1, "--config", filepath.Join(dir, "missing.yaml"))
	f(1, "--config", filepath.Join(dir, "good.yaml"), "--tls-cert", filepath.Join(dir, "none.crt"))
}
