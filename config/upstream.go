package config

import (
	"errors"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// UpstreamURL is the upstream setting taken apart.
type UpstreamURL struct {
	Addrs    []string // host:port, at least one
	Username string
	Password string
	TLS      bool // rediss://
}

var errUpstreamURL = errors.New("argument must be redis[s]://[user:password@]host:port[,host:port...] or empty")

// ParseUpstream reads redis://[user:password@]host:port[,host:port...]. Several hosts are
// seeds of one deployment (cluster nodes), not replicas to choose from. A database in the
// path is refused: clients choose theirs with SELECT, as with Redis. rediss:// is the same
// with TLS (the upstream-tls-* settings: upstream_tls.go).
func ParseUpstream(v string) (UpstreamURL, error) {
	var u UpstreamURL
	rest, ok := strings.CutPrefix(v, "redis://")
	if !ok {
		rest, u.TLS = strings.CutPrefix(v, "rediss://")
		if !u.TLS {
			return u, errUpstreamURL
		}
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		info := rest[:at]
		rest = rest[at+1:]
		user, pass, hasPass := strings.Cut(info, ":")
		var err error
		if u.Username, err = url.PathUnescape(user); err != nil {
			return u, errUpstreamURL
		}
		if hasPass {
			if u.Password, err = url.PathUnescape(pass); err != nil {
				return u, errUpstreamURL
			}
		}
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		if tail := rest[i:]; tail != "/" && tail != "/0" {
			return u, errors.New("upstream: no path or options after the hosts (clients SELECT their database)")
		}
		rest = rest[:i]
	}
	for _, hp := range strings.Split(rest, ",") {
		host, port, err := net.SplitHostPort(hp)
		if err != nil || host == "" {
			return u, errUpstreamURL
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return u, errUpstreamURL
		}
		u.Addrs = append(u.Addrs, hp)
	}
	return u, nil
}

func upstreamValue(_ *Setting, v string) (value, error) {
	if v != "" {
		if _, err := ParseUpstream(v); err != nil {
			return value{}, err
		}
	}
	return value{text: v}, nil
}

// prewarmSettings are the settings of the L1's prewarm at start-up (upstream mode only).
func prewarmSettings() []*Setting {
	return []*Setting{
		{name: "prewarm-keys", def: "0", immutable: true, parse: intValue(0, llMax),
			help: "at start-up, read at most this many keys from the upstream into L1 (tracked, as misses are), in total across prewarm-db's databases; 0: no prewarm"},
		{name: "prewarm-db", def: "0", immutable: true, multiArg: true, parse: dbListValue, // prewarm.go
			help: "databases the prewarm fills, in turn, e.g. 0 or 0,3; each gets prewarm-file's keys and prewarm-match's SCAN; upstream-cluster allows 0 only"},
		{name: "prewarm-timeout", def: "30s", immutable: true, parse: durationValue,
			help: "stop the prewarm after this long; 0: bounded by prewarm-keys only"},
		{name: "prewarm-match", def: "", immutable: true, parse: stringValue,
			help: "SCAN MATCH pattern of the keys to prewarm (after prewarm-file's); empty: every key, unless prewarm-file is set"},
		{name: "prewarm-file", def: "", immutable: true, parse: stringValue,
			help: "a file listing keys to prewarm, one a line; empty: none"},
		{name: "prewarm-rate", def: "10000", immutable: true, parse: intValue(0, llMax),
			help: "keys a second the prewarm reads at most; 0: unbounded"},
		{name: "prewarm-ready", def: "no", immutable: true, parse: boolValue,
			help: "/ready answers 503 until the prewarm ended (done, timed out or failed); RESP serves from the start either way"},
	}
}
