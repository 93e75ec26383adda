package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// upstreamConnSettings are the credentials and the TLS of the upstream connections. The TLS
// names follow Redis's own tls-* settings with an upstream- prefix; the credentials may also
// be in the upstream URL (one place or the other, not both).
func upstreamConnSettings() []*Setting {
	return []*Setting{
		{name: "upstream-user", def: "", immutable: true, parse: stringValue,
			help: "ACL user of the upstream connections, instead of the URL's; empty: the URL's, else default"},
		{name: "upstream-password", def: "", immutable: true, secret: true, parse: stringValue,
			help: "password of the upstream connections, instead of the URL's (e.g. SIDECACHE_UPSTREAM_PASSWORD from a Secret); CONFIG GET shows (redacted)"},
		{name: "upstream-tls", def: "no", immutable: true, parse: boolValue,
			help: "TLS to the upstream, as a rediss:// URL asks; the upstream-tls-* settings need one or the other"},
		{name: "upstream-tls-ca-cert-file", def: "", immutable: true, parse: stringValue,
			help: "PEM file of the CA certificates that verify the upstream's certificate; empty: the system's roots"},
		{name: "upstream-tls-cert-file", def: "", immutable: true, parse: stringValue,
			help: "PEM client certificate shown to the upstream (mutual TLS: tls-auth-clients); with upstream-tls-key-file"},
		{name: "upstream-tls-key-file", def: "", immutable: true, parse: stringValue,
			help: "PEM private key (unencrypted) of upstream-tls-cert-file"},
		{name: "upstream-tls-server-name", def: "", immutable: true, parse: stringValue,
			help: "name the upstream's certificate must carry, sent as SNI; empty: the host of each address"},
		{name: "upstream-tls-skip-verify", def: "no", immutable: true, parse: boolValue,
			help: "INSECURE: accept any upstream certificate, so anyone on the path can read and change the traffic; logged as a warning at start"},
	}
}

// upstreamTLSOnly are the settings that mean something only with TLS on: set without it,
// they are a mistake that would otherwise send in clear what was meant to be protected.
var upstreamTLSOnly = []string{"upstream-tls-ca-cert-file", "upstream-tls-cert-file", "upstream-tls-key-file",
	"upstream-tls-server-name", "upstream-tls-skip-verify"}

// UpstreamConnection returns how the upstream connections reach the upstream: the upstream
// URL taken apart with upstream-user and upstream-password applied, and the TLS configuration
// (nil without TLS). The certificate files are read here, once: a change on disk needs a
// restart. Errors name the setting at fault and never contain a password.
func UpstreamConnection(c *Config) (UpstreamURL, *tls.Config, error) {
	u, err := ParseUpstream(c.String("upstream"))
	if err != nil {
		return u, nil, fmt.Errorf("upstream: %w", err)
	}
	if err := applyCredentials(c, &u); err != nil {
		return u, nil, err
	}
	u.TLS = u.TLS || c.Bool("upstream-tls")
	if !u.TLS {
		for _, name := range upstreamTLSOnly {
			if v := c.String(name); v != "" && v != "no" {
				return u, nil, fmt.Errorf("%s is set but TLS to the upstream is off (use a rediss:// upstream or upstream-tls yes)", name)
			}
		}
		return u, nil, nil
	}
	conf, err := upstreamTLS(c)
	return u, conf, err
}

// applyCredentials puts upstream-user and upstream-password into u. Both the URL and a
// setting naming the same credential is refused: which one wins would be a guess.
func applyCredentials(c *Config, u *UpstreamURL) error {
	if user := c.String("upstream-user"); user != "" {
		if u.Username != "" {
			return errors.New("upstream-user is set and the upstream URL has a user: set one")
		}
		u.Username = user
	}
	if pass := c.String("upstream-password"); pass != "" {
		if u.Password != "" {
			return errors.New("upstream-password is set and the upstream URL has a password: set one")
		}
		u.Password = pass
	}
	return nil
}

// upstreamTLS builds the TLS configuration from the upstream-tls-* settings, reading the
// certificate files.
func upstreamTLS(c *Config) (*tls.Config, error) {
	conf := &tls.Config{
		MinVersion:         tls.VersionTLS12, // Redis's default tls-protocols: TLSv1.2 TLSv1.3
		ServerName:         c.String("upstream-tls-server-name"),
		InsecureSkipVerify: c.Bool("upstream-tls-skip-verify"),
	}
	if ca := c.String("upstream-tls-ca-cert-file"); ca != "" {
		pool, err := readCAFile(ca)
		if err != nil {
			return nil, fmt.Errorf("upstream-tls-ca-cert-file: %w", err)
		}
		conf.RootCAs = pool
	}
	cert, key := c.String("upstream-tls-cert-file"), c.String("upstream-tls-key-file")
	switch {
	case cert == "" && key == "":
	case cert == "" || key == "":
		return nil, errors.New("upstream-tls-cert-file and upstream-tls-key-file go together (the client certificate and its private key)")
	default:
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("upstream-tls-cert-file %s, upstream-tls-key-file %s: %w", cert, key, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	return conf, nil
}

// readCAFile returns the certificates of a PEM file as a pool.
func readCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *PathError: names the file and the cause
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}
