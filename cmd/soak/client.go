package main

import (
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// ioTimeout bounds one request or one pipeline's replies: a server that does not answer
// within it counts as stalled.
const ioTimeout = 10 * time.Second

// client is one RESP connection.
type client struct {
	c   net.Conn
	rd  *protocol.Reader
	buf []byte
}

func dial(network, addr string) (*client, error) {
	c, err := net.DialTimeout(network, addr, ioTimeout)
	if err != nil {
		return nil, err
	}
	return &client{c: c, rd: protocol.NewReader(c)}, nil
}

func (c *client) close() { _ = c.c.Close() }

// abort closes with a reset instead of a FIN, as a crashed client would.
func (c *client) abort() {
	if tc, ok := c.c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.c.Close()
}

// send writes the commands queued with add.
func (c *client) send() error {
	_ = c.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := c.c.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

func (c *client) add(args ...string) { c.buf = protocol.AppendCommandString(c.buf, args...) }

// read returns the next reply; it is valid until the next read.
func (c *client) read() (protocol.Value, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(ioTimeout))
	return c.rd.ReadValue()
}

// do sends one command and returns its reply as text; an error reply is an error.
func (c *client) do(args ...string) (string, error) {
	c.add(args...)
	if err := c.send(); err != nil {
		return "", err
	}
	v, err := c.read()
	if err != nil {
		return "", err
	}
	if v.Kind == '-' {
		return "", replyError(string(v.Str))
	}
	if v.Kind == ':' {
		return strconv.FormatInt(v.Int, 10), nil
	}
	return string(v.Str), nil
}

// replyError is an error reply from the server.
type replyError string

func (e replyError) Error() string { return string(e) }

// errKind classifies an error for the counters: the error reply's first word, or what
// happened to the connection.
func errKind(err error) string {
	var re replyError
	switch {
	case errors.As(err, &re):
		w, _, _ := strings.Cut(string(re), " ")
		return "reply:" + w
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed:eof"
	case strings.Contains(err.Error(), "reset by peer"):
		return "closed:reset"
	case strings.Contains(err.Error(), "broken pipe"):
		return "closed:pipe"
	case errors.Is(err, errCorrupt):
		return "corrupt"
	}
	return "other:" + err.Error()
}

// expectedKind reports whether errors of this kind are the workload's own doing (killed
// connections) rather than a server fault.
func expectedKind(k string) bool { return strings.HasPrefix(k, "closed:") }

var errCorrupt = errors.New("wrong reply")
