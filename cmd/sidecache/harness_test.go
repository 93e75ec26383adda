package main

// Test harness for the end-to-end tests of the server binary: it builds the sidecache binary
// once (TestMain), starts sidecache and redis-server processes on free loopback ports and
// Unix sockets in t.TempDir(), and talks RESP to them over raw connections so replies can be
// compared byte for byte.
//
// Every process is killed by PID in t.Cleanup (also when the test fails) and waited for;
// every socket operation carries a deadline.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	startTimeout = 15 * time.Second // a server must answer PING within this after exec
	ioTimeout    = 10 * time.Second // one request/reply round trip on a test connection
)

var (
	binPath  string // the sidecache binary built by TestMain; "" if the build failed
	buildErr error  // the build failure, with the compiler's output
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sidecache-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	binPath, buildErr = buildSidecache(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildSidecache compiles the server binary into dir.
func buildSidecache(dir string) (string, error) {
	out := filepath.Join(dir, "sidecache")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/sidecache/sidecache/cmd/sidecache")
	b, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/sidecache: %v\n%s", err, b)
	}
	return out, nil
}

// proc is a server process started by a test.
type proc struct {
	Name   string // "sidecache" or "redis"
	Addr   string // 127.0.0.1:port
	Socket string // Unix socket path, "" if none
	PID    int

	cmd  *exec.Cmd
	out  *syncBuffer // combined stdout+stderr, logged when the test fails
	done chan struct{}
}

// syncBuffer collects a process's output; safe for the writer goroutines of exec.Cmd.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // keep the log bounded
		return len(p), nil
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// sidecacheBinary returns the built binary or fails the test with the build output.
func sidecacheBinary(t testing.TB) string {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("sidecache binary not available: %v", buildErr)
	}
	return binPath
}

// startSidecache starts the server binary on a free loopback port, a Unix socket in
// t.TempDir() and an admin address on a port the kernel picks, and waits until it answers
// PING. args come last, so they override these.
func startSidecache(t testing.TB, args ...string) *proc {
	t.Helper()
	bin := sidecacheBinary(t)
	port := freePort(t)
	sock := filepath.Join(shortTempDir(t), "s.sock")
	all := append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--unixsocket", sock,
		"--admin-addr", "127.0.0.1:0",
	}, args...)
	return startProc(t, "sidecache", bin, all, port, sock)
}

// startRedis starts the reference redis-server on a free loopback port, without persistence.
func startRedis(t testing.TB, args ...string) *proc {
	t.Helper()
	return startRedisSock(t, false, args...)
}

// startRedisUnix is startRedis with a Unix socket in t.TempDir() as well.
func startRedisUnix(t testing.TB, args ...string) *proc {
	t.Helper()
	return startRedisSock(t, true, args...)
}

func startRedisSock(t testing.TB, unix bool, args ...string) *proc {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skipf("redis-server not installed: %v", err)
	}
	port := freePort(t)
	all := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", shortTempDir(t),
	}
	sock := ""
	if unix {
		sock = filepath.Join(shortTempDir(t), "r.sock")
		all = append(all, "--unixsocket", sock)
	}
	all = append(all, args...)
	return startProc(t, "redis", bin, all, port, sock)
}

// shortTempDir is t.TempDir(), or a shorter directory when the test name would push a Unix
// socket path beyond the 108-byte sun_path limit.
func shortTempDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	if len(d) < 80 {
		return d
	}
	d, err := os.MkdirTemp("", "sc")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func startProc(t testing.TB, name, bin string, args []string, port int, sock string) *proc {
	t.Helper()
	p := &proc{
		Name:   name,
		Addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Socket: sock,
		out:    &syncBuffer{},
		done:   make(chan struct{}),
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p.PID = p.cmd.Process.Pid
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s (pid %d, %s) output:\n%s", name, p.PID, p.Addr, tail(p.out.String(), 4000))
		}
	})
	if err := p.waitReady(); err != nil {
		t.Fatalf("%s %v did not become ready: %v\noutput:\n%s", name, args, err, tail(p.out.String(), 4000))
	}
	return p
}

// exited reports whether the process has ended (a crash, or stop).
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop kills the process by PID and waits for it.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// waitReady polls until the server answers PING with +PONG.
func (p *proc) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("process exited: %v", p.cmd.ProcessState)
		default:
		}
		c, err := net.DialTimeout("tcp", p.Addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Write([]byte("*1\r\n$4\r\nPING\r\n"))
			if err == nil {
				var rep []byte
				rep, err = readReply(bufio.NewReader(c))
				if err == nil && string(rep) != "+PONG\r\n" {
					err = fmt.Errorf("PING answered %q", rep)
				}
			}
			c.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no PONG within %v: %v", startTimeout, last)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// respConn is a raw RESP connection: it sends bytes and reads exactly one complete reply as
// its raw bytes.
type respConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

// dialResp connects over TCP to addr, or over the Unix socket when addr is a path.
func dialResp(t testing.TB, addr string) *respConn {
	t.Helper()
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	c, err := net.DialTimeout(network, addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &respConn{t: t, c: c, br: bufio.NewReaderSize(c, 64<<10)}
}

// Send writes raw bytes.
func (r *respConn) Send(b []byte) error {
	r.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := r.c.Write(b)
	return err
}

// Read reads one complete reply (an attribute is kept together with the reply it
// annotates).
func (r *respConn) Read() ([]byte, error) {
	r.c.SetReadDeadline(time.Now().Add(ioTimeout))
	return readReply(r.br)
}

// Do sends args as a RESP multibulk and returns the raw reply; it fails the test on I/O
// errors.
func (r *respConn) Do(args ...string) []byte {
	r.t.Helper()
	if err := r.Send(encodeCommand(args)); err != nil {
		r.t.Fatalf("send %q: %v", args, err)
	}
	rep, err := r.Read()
	if err != nil {
		r.t.Fatalf("reply to %q: %v", args, err)
	}
	return rep
}

// Closed reports whether the peer closed the connection: a read within the timeout returns
// EOF (or a reset) with no further bytes.
func (r *respConn) Closed(timeout time.Duration) (bool, []byte) {
	r.c.SetReadDeadline(time.Now().Add(timeout))
	b, err := io.ReadAll(r.br)
	if err == nil || errors.Is(err, io.EOF) || isReset(err) {
		return len(b) == 0, b
	}
	return false, b
}

func isReset(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil && strings.Contains(err.Error(), "reset")
}

func (r *respConn) Close() { r.c.Close() }

// encodeCommand encodes args as a RESP multibulk.
func encodeCommand(args []string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, "\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// readReply reads exactly one complete RESP2/RESP3 reply and returns its raw bytes.
func readReply(br *bufio.Reader) ([]byte, error) {
	var raw []byte
	err := readValue(br, &raw)
	return raw, err
}

func readValue(br *bufio.Reader, raw *[]byte) error {
	line, err := br.ReadSlice('\n')
	if err != nil {
		*raw = append(*raw, line...)
		if errors.Is(err, io.EOF) && len(*raw) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	*raw = append(*raw, line...)
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return fmt.Errorf("malformed reply line %q", line)
	}
	body := string(line[1 : len(line)-2])
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return nil
	case '$', '!', '=':
		n, err := strconv.Atoi(body)
		if err != nil {
			return fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return err
		}
		*raw = append(*raw, buf...)
		return nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(body)
		if err != nil {
			return fmt.Errorf("bad aggregate length %q", line)
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			if err := readValue(br, raw); err != nil {
				return err
			}
		}
		if line[0] == '|' { // an attribute precedes the reply it annotates
			return readValue(br, raw)
		}
		return nil
	}
	return fmt.Errorf("unknown reply type %q", line)
}

// value is a parsed reply, used by the normalisations of the differential tests.
type value struct {
	Kind  byte     // the RESP type byte
	Str   string   // line payload, or bulk contents
	Null  bool     // $-1 or *-1
	Elems []*value // aggregate elements (maps: key, value, key, value ...)
}

// parseValue parses one raw reply.
func parseValue(raw []byte) (*value, error) {
	v, rest, err := parseAt(raw)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("trailing bytes %q", rest)
	}
	return v, nil
}

func parseAt(b []byte) (*value, []byte, error) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 1 {
		return nil, nil, fmt.Errorf("malformed reply %q", b)
	}
	v := &value{Kind: b[0], Str: string(b[1:i])}
	b = b[i+2:]
	switch v.Kind {
	case '$', '!', '=':
		n, err := strconv.Atoi(v.Str)
		if err != nil {
			return nil, nil, err
		}
		if n < 0 {
			v.Null, v.Str = true, ""
			return v, b, nil
		}
		if len(b) < n+2 {
			return nil, nil, fmt.Errorf("short bulk")
		}
		v.Str = string(b[:n])
		return v, b[n+2:], nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(v.Str)
		if err != nil {
			return nil, nil, err
		}
		v.Str = ""
		if n < 0 {
			v.Null = true
			return v, b, nil
		}
		if v.Kind == '%' || v.Kind == '|' {
			n *= 2
		}
		for k := 0; k < n; k++ {
			var e *value
			e, b, err = parseAt(b)
			if err != nil {
				return nil, nil, err
			}
			v.Elems = append(v.Elems, e)
		}
		if v.Kind == '|' {
			var e *value
			e, b, err = parseAt(b)
			if err != nil {
				return nil, nil, err
			}
			v.Elems = append(v.Elems, e)
		}
		return v, b, nil
	}
	return v, b, nil
}

// encode writes v back in RESP; parse then encode reproduces the raw bytes exactly.
func (v *value) encode(dst []byte) []byte {
	dst = append(dst, v.Kind)
	switch v.Kind {
	case '$', '!', '=':
		if v.Null {
			return append(dst, "-1\r\n"...)
		}
		dst = strconv.AppendInt(dst, int64(len(v.Str)), 10)
		dst = append(dst, "\r\n"...)
		dst = append(dst, v.Str...)
		return append(dst, "\r\n"...)
	case '*', '~', '>', '%', '|':
		if v.Null {
			return append(dst, "-1\r\n"...)
		}
		n, elems := len(v.Elems), v.Elems
		if v.Kind == '|' {
			n--
			elems = elems[:n]
		}
		if v.Kind == '%' || v.Kind == '|' {
			n /= 2
		}
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, "\r\n"...)
		for _, e := range elems {
			dst = e.encode(dst)
		}
		if v.Kind == '|' {
			dst = v.Elems[len(v.Elems)-1].encode(dst)
		}
		return dst
	}
	dst = append(dst, v.Str...)
	return append(dst, "\r\n"...)
}
