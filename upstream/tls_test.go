package upstream

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

func TestClientCertHint(t *testing.T) {
	reset := &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	alert := &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}
	noCert, withCert := &tls.Config{}, &tls.Config{Certificates: []tls.Certificate{{}}}
	f := func(conf *tls.Config, err error, hinted bool) {
		t.Helper()
		got := clientCertHint(conf, err)
		if !errors.Is(got, err) {
			t.Errorf("clientCertHint(%v) = %v: the cause is lost", err, got)
		}
		if h := got != nil && strings.Contains(got.Error(), "no client certificate was offered"); h != hinted {
			t.Errorf("clientCertHint(%v) = %v, hinted %v, want %v", err, got, h, hinted)
		}
	}
	f(noCert, reset, true)
	f(noCert, io.EOF, true)
	f(noCert, alert, true)
	f(noCert, refused, false) // nothing listens: not a certificate matter
	f(withCert, reset, false)
	f(nil, reset, false) // no TLS
	f(noCert, nil, false)
}
