// Package loadgen measures the latency of a key-value server with HDR histograms: any RESP
// server over TCP or a Unix socket, a built-in +PONG echo server (the loopback floor of the
// machine the run is on), and, through package inproc, sidecache's engine and protocol path
// in-process.
//
// One run (Run) drives a Workload over Options.Conns connections, one goroutine each, with
// Options.Pipeline commands per batch, closed loop (as fast as replies come) or open loop at
// Options.Rate, where latency is measured from each batch's intended send time so that a stall
// shows in every request queued behind it (no coordinated omission). Every connection records
// into its own histogram (1 ns .. 100 s, 3 significant digits); the run merges them into a
// Report.
package loadgen

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Target is something to measure. Connect may be called from several goroutines at once; each
// Conn is then used by one goroutine only.
type Target interface {
	// Name is the label reports use.
	Name() string
	Connect() (Conn, error)
	// Close releases what the target started (an echo server, an in-process engine); the
	// target's Conns must be closed first.
	Close() error
}

// Conn is one connection to a target, used by one goroutine.
type Conn interface {
	// Do executes ops as one batch (pipelined on a network connection) and fills out[i] with
	// the outcome of ops[i]; len(out) >= len(ops). now is the Now reading taken just before
	// the call: in-process targets take their clock from it instead of reading it again.
	// Do must not allocate in steady state.
	Do(now int64, ops []Op, out []Reply) error
	// Close ends the connection, once, after the last Do has returned.
	Close() error
}

// An Unblocker is a Conn whose Do can wait on a peer: Unblock, safe from any goroutine, makes
// a Do that waits, and every later one, return an error. Run uses it to end a run whose target
// stopped answering or whose context ended.
type Unblocker interface {
	Unblock()
}

// Op is one command. Its slices are borrowed: valid during the Do call only.
type Op struct {
	Set   bool   // SET (else GET)
	Key   []byte // the key
	Value []byte // SET's value
	TTLms int64  // SET's expiry in ms (PX); 0: none
}

// Reply is the outcome of one Op.
type Reply struct {
	At  int64 // Now when the reply was complete
	Hit bool  // a GET found its key
	Err bool  // the server answered an error
	// Cached: a GET answered from the client's own memory (client-side caching), without a
	// round trip to the server.
	Cached bool
}

// A TargetFactory makes a target for a registered spec; label is what Name returns.
type TargetFactory func(label string) (Target, error)

// A SchemeFactory makes a target for "SCHEME+ADDR"; network and addr are ADDR parsed as
// ParseAddr does.
type SchemeFactory func(label, network, addr string) (Target, error)

var (
	registryMu sync.Mutex
	registry   = map[string]TargetFactory{}
	schemes    = map[string]SchemeFactory{}
)

// RegisterTarget makes ParseTarget accept spec (a bare word such as "engine") and build it with
// factory. Package inproc registers "engine" and "proto" this way, so this package needs neither
// the engine nor the command layer.
func RegisterTarget(spec string, factory TargetFactory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[spec] = factory
}

// RegisterScheme makes ParseTarget accept "SCHEME+ADDR" (ADDR as ParseAddr reads it) and build
// it with factory. Package clientcache registers "rueidis" and "rueidis-cache" this way, so
// this package does not link a client library.
func RegisterScheme(scheme string, factory SchemeFactory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	schemes[scheme] = factory
}

// ParseTarget makes the target a spec names:
//
//	tcp://HOST:PORT, HOST:PORT   any RESP server over TCP
//	unix:///PATH                  any RESP server over a Unix socket
//	echo, echo-unix               a +PONG echo server started in this process, over loopback
//	                              TCP or a Unix socket in a temporary directory
//	engine, proto                 registered by package inproc
//	rueidis+ADDR, rueidis-cache+ADDR
//	                              registered by package clientcache (ADDR: one of the first
//	                              three forms)
//
// "LABEL=SPEC" names the target LABEL in reports; otherwise its name is the spec.
func ParseTarget(spec string) (Target, error) {
	label, s := splitLabel(spec)
	if scheme, rest, ok := strings.Cut(s, "+"); ok {
		registryMu.Lock()
		f := schemes[scheme]
		registryMu.Unlock()
		if f != nil {
			network, addr, err := ParseAddr(rest)
			if err != nil {
				return nil, fmt.Errorf("target %q: %w", spec, err)
			}
			return f(label, network, addr)
		}
	}
	switch {
	case s == "echo":
		return startEchoTarget(label, "tcp")
	case s == "echo-unix":
		return startEchoTarget(label, "unix")
	case strings.HasPrefix(s, "unix://") || strings.HasPrefix(s, "tcp://") || strings.Contains(s, ":"):
		network, addr, err := ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("target %q: %w", spec, err)
		}
		return &netTarget{label: label, network: network, addr: addr}, nil
	}
	registryMu.Lock()
	factory := registry[s]
	registryMu.Unlock()
	if factory != nil {
		return factory(label)
	}
	if s == "engine" || s == "proto" {
		return nil, fmt.Errorf("target %q: in-process targets need package loadgen/inproc (inproc.Register)", spec)
	}
	return nil, fmt.Errorf("target %q: want tcp://HOST:PORT, HOST:PORT, unix:///PATH, echo, echo-unix, engine or proto", spec)
}

// ParseAddr reads a server address: unix:///PATH (network "unix"), tcp://HOST:PORT or
// HOST:PORT (network "tcp").
func ParseAddr(s string) (network, addr string, err error) {
	if p, ok := strings.CutPrefix(s, "unix://"); ok {
		if p == "" {
			return "", "", errors.New("empty socket path")
		}
		return "unix", p, nil
	}
	a := strings.TrimPrefix(s, "tcp://")
	if i := strings.LastIndexByte(a, ':'); i < 0 || i == len(a)-1 {
		return "", "", errors.New("want HOST:PORT")
	}
	return "tcp", a, nil
}

// splitLabel splits "LABEL=SPEC". A '=' after a ':' or '/' belongs to the spec (a path may hold
// one), so only a plain word before it is a label.
func splitLabel(spec string) (label, s string) {
	i := strings.IndexByte(spec, '=')
	if i > 0 && !strings.ContainsAny(spec[:i], ":/") {
		return spec[:i], spec[i+1:]
	}
	return spec, spec
}
