package protocol

import (
	"bytes"
	"io"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startRedis runs a reference redis-server on a Unix socket in a temporary directory and
// returns a dial function; the test is skipped when no redis-server is installed.
func startRedis(t *testing.T) func() net.Conn {
	t.Helper()
	if testing.Short() {
		t.Skip("-short")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server")
	}
	sock := filepath.Join(t.TempDir(), "r.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	dial := func() net.Conn {
		t.Helper()
		for i := 0; ; i++ {
			c, err := net.Dial("unix", sock)
			if err == nil {
				// A safety net against a hung test, not a measurement.
				c.SetDeadline(time.Now().Add(10 * time.Second))
				return c
			}
			if i == 200 {
				t.Fatalf("redis-server not reachable: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	dial().Close()
	return dial
}

// exchange sends in, half-closes, and returns everything the server wrote before closing.
// Redis flushes the replies of what it parsed before it notices the end of input.
func exchange(t *testing.T, c net.Conn, in []byte) []byte {
	t.Helper()
	defer c.Close()
	if _, err := c.Write(in); err != nil {
		t.Fatal(err)
	}
	c.(*net.UnixConn).CloseWrite()
	out, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v", err)
	}
	return out
}

// TestRedisDiffParse compares, byte for byte, Redis's replies to request streams made of
// PING commands in every form followed by malformed input with what our parser implies.
func TestRedisDiffParse(t *testing.T) {
	dial := startRedis(t)
	f := func(in string) {
		t.Helper()
		var want []byte
		p := NewParser(DefaultLimits())
		for buf := []byte(in); len(buf) > 0; {
			args, n, err := p.Parse(buf)
			if err != nil {
				want = AppendError(want, err.Error())
				break
			}
			if n == 0 {
				break
			}
			if len(args) > 0 {
				if !strings.EqualFold(string(args[0]), "PING") || len(args) > 1 {
					t.Fatalf("%q: test inputs may only hold PING, got %q", in, args)
				}
				want = AppendSimple(want, "PONG")
			}
			buf = buf[n:]
		}
		if got := exchange(t, dial(), []byte(in)); !bytes.Equal(got, want) {
			t.Fatalf("%q: redis %q, ours %q", in, got, want)
		}
	}
	f("PING\r\nping\n\"PING\"\r\n'ping' \r\n\r\n   \n*0\r\n*-1\r\n*-7\r\n*1\r\n$4\r\nPING\r\n")
	f("*1\r\n$4\r\nPINGxx*1\rX$4\r\nPING\r\n")
	f("PING\r\n*1\x00\r\n$4\r\nPING\r\n")
	f("PING\x00\nPING\n")
	f("*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPI")
	for _, bad := range []string{
		"*\r\n", "*-0\r\n", "*01\r\n", "*+1\r\n", "*1a\r\n", "* 1\r\n", "*2147483648\r\n",
		"*99999999999999999999\r\n", "*1\r\nfoo\r\n", "*1\r\n\r\n", "*1\r\n$-1\r\n", "*1\r\n$-0\r\n",
		"*1\r\n$01\r\n", "*1\r\n$+1\r\n", "*1\r\n$\r\n", "*1\r\n$536870913\r\n", "\"PING\r\n",
		"'PING\r\n", "\"PI\"NG\r\n", "PI\"NG\r\n", "\"\\\"\r\n",
		strings.Repeat("P", 64<<10+1), "*" + strings.Repeat("1", 64<<10+1),
		"*1\r\n$" + strings.Repeat("1", 64<<10+1),
	} {
		f("PING\r\n" + bad)
	}
}

// TestRedisDiffDouble compares AppendDouble with ZSCORE's reply in RESP2 and RESP3.
func TestRedisDiffDouble(t *testing.T) {
	dial := startRedis(t)
	scores := []float64{0.1, 1.5, -2.25, 3, 1e21, 1e-5, 1e16, 1e17, 123456789.123456789, 5e-324,
		math.MaxFloat64, math.Inf(1), math.Inf(-1), 1.0 / 3} // ZADD stores -0 as 0
	for _, v := range []Version{RESP2, RESP3} {
		var in, want []byte
		in = AppendCommandString(in, "HELLO", strconv.Itoa(int(v)))
		for i, s := range scores {
			member := "m" + strconv.Itoa(i)
			text := strconv.FormatFloat(s, 'g', -1, 64)
			switch {
			case math.IsInf(s, 1):
				text = "+inf"
			case math.IsInf(s, -1):
				text = "-inf"
			}
			in = AppendCommandString(in, "ZADD", "z"+strconv.Itoa(int(v)), text, member)
			in = AppendCommandString(in, "ZSCORE", "z"+strconv.Itoa(int(v)), member)
			want = AppendInt(want, 1)
			want = AppendDouble(want, v, s)
		}
		out := exchange(t, dial(), in)
		_, n, err := ReadValue(out) // the HELLO reply
		if err != nil || n == 0 {
			t.Fatalf("HELLO: %q", out)
		}
		if got := out[n:]; !bytes.Equal(got, want) {
			t.Fatalf("RESP%d: redis %q, ours %q", v, got, want)
		}
	}
}
