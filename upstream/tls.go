package upstream

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
)

// clientCertHint adds the likely cause to a dial error of a TLS connection that offered no
// client certificate. Under TLS 1.3 the client's side of the handshake completes before the
// server checks for a certificate; an upstream with tls-auth-clients yes then refuses with
// an alert, or, when the client's first command crossed the alert, with a reset that drops
// the alert: neither says why.
func clientCertHint(conf *tls.Config, err error) error {
	if err == nil || conf == nil || len(conf.Certificates) > 0 || conf.GetClientCertificate != nil {
		return err
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "certificate required") {
		return fmt.Errorf("%w (no client certificate was offered: an upstream with tls-auth-clients yes needs upstream-tls-cert-file and upstream-tls-key-file)", err)
	}
	return err
}
