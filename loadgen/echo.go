package loadgen

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sidecache/sidecache/protocol"
)

// echoLimits bound what one command may make the echo server buffer: it only counts commands,
// so it has no use for large ones.
var echoLimits = protocol.Limits{MaxBulkLen: 16 << 20, MaxMultibulkLen: 1 << 20, MaxInlineLen: 64 << 10}

// echoReadSize is the read size of an echo connection, and its buffer's size while no command
// spans reads.
const echoReadSize = 16 << 10

// Echo is a server that answers +PONG to every complete command, whatever it is: the
// smallest round trip a RESP server can offer over a socket, i.e. the floor of the machine.
// Like a real server it writes the replies to everything one read brought in with one write.
type Echo struct {
	label string
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	done  bool
	cmds  atomic.Int64
}

// StartEcho listens on network ("tcp" or "unix") and addr and serves until Close; label is
// what String returns. An addr of "127.0.0.1:0" takes a free port (see Addr).
func StartEcho(label, network, addr string) (*Echo, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	e := &Echo{label: label, ln: ln, conns: map[net.Conn]struct{}{}}
	e.wg.Add(1)
	go e.accept()
	return e, nil
}

// Addr is the address the server listens on.
func (e *Echo) Addr() string { return e.ln.Addr().String() }

// String is the label and the address.
func (e *Echo) String() string { return e.label + " (" + e.Network() + " " + e.Addr() + ")" }

// Commands is the number of commands answered so far.
func (e *Echo) Commands() int64 { return e.cmds.Load() }

// Network is "tcp" or "unix".
func (e *Echo) Network() string { return e.ln.Addr().Network() }

// Close stops listening, closes every connection and waits for their goroutines.
func (e *Echo) Close() error {
	e.mu.Lock()
	e.done = true
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	err := e.ln.Close()
	e.wg.Wait()
	return err
}

func (e *Echo) accept() {
	defer e.wg.Done()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		e.mu.Lock()
		if e.done {
			e.mu.Unlock()
			c.Close()
			return
		}
		e.conns[c] = struct{}{}
		e.wg.Add(1)
		e.mu.Unlock()
		go e.serve(c)
	}
}

func (e *Echo) serve(c net.Conn) {
	defer e.wg.Done()
	defer func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
		c.Close()
	}()
	p := protocol.NewParser(echoLimits)
	in := make([]byte, 0, echoReadSize)
	var out []byte
	for {
		if cap(in)-len(in) < echoReadSize/4 {
			in = slices.Grow(in, echoReadSize)
		}
		n, err := c.Read(in[len(in):cap(in)])
		if err != nil {
			return
		}
		in = in[:len(in)+n]
		out = out[:0]
		used, cmds := 0, int64(0)
		for used < len(in) {
			args, n, err := p.Parse(in[used:])
			if err != nil {
				// The message is Redis's, "ERR Protocol error: ..."; Redis closes the connection too.
				c.Write(protocol.AppendError(out, err.Error()))
				return
			}
			if n == 0 {
				break
			}
			used += n
			if len(args) > 0 {
				out = append(out, "+PONG\r\n"...)
				cmds++
			}
		}
		e.cmds.Add(cmds)
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
		// Keep the incomplete rest at the buffer's start: the parser resumes from there
		// (it keeps offsets, not slices). A buffer grown for a big command is dropped once
		// that command is done.
		rest := copy(in, in[used:])
		in = in[:rest]
		if rest == 0 && cap(in) > 4*echoReadSize {
			in = make([]byte, 0, echoReadSize)
		}
	}
}

// startEchoTarget starts an echo server in this process on loopback TCP or on a Unix socket in
// a temporary directory; closing the target stops the server.
func startEchoTarget(label, network string) (Target, error) {
	addr, dir := "127.0.0.1:0", ""
	if network == "unix" {
		var err error
		if dir, err = os.MkdirTemp("", "loadgen-echo-"); err != nil {
			return nil, err
		}
		addr = filepath.Join(dir, "echo.sock")
	}
	e, err := StartEcho(label, network, addr)
	if err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	return &netTarget{label: label, network: network, addr: e.Addr(), echo: e, onClose: func() error {
		err := e.Close()
		if dir != "" {
			os.RemoveAll(dir)
		}
		return err
	}}, nil
}
