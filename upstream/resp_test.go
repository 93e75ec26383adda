package upstream

import (
	"strings"
	"testing"

	"github.com/sidecache/sidecache/protocol"
)

// TestConvert sends commands through the pass-through path to a fake upstream answering
// canned RESP3, and checks what RESP2 and RESP3 clients get: the RESP3 reply itself, and
// what Redis answers a RESP2 client. It also pins rueidis's serialised form (resp.go).
func TestConvert(t *testing.T) {
	fs := startFake(t)
	canned := map[string]string{}
	fs.onCommand = func(fc *fakeConn, args []string) []byte {
		if r, ok := canned[strings.Join(args, " ")]; ok {
			return []byte(r)
		}
		return nil
	}
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	f := func(cmd, resp3, resp2 string) {
		t.Helper()
		canned[cmd] = resp3
		for _, c := range []struct {
			proto protocol.Version
			want  string
		}{{protocol.RESP3, resp3}, {protocol.RESP2, resp2}} {
			a.proto = c.proto
			if got := a.do(t, strings.Fields(cmd)...); got != c.want {
				t.Errorf("%s in RESP%d: %q, want %q", cmd, c.proto, got, c.want)
			}
		}
	}
	f("XRAW int", ":5\r\n", ":5\r\n")
	f("XRAW simple", "+OK\r\n", "+OK\r\n")
	f("XRAW err", "-ERR no such thing\r\n", "-ERR no such thing\r\n")
	f("XRAW blob", "$3\r\na\r\n\r\n", "$3\r\na\r\n\r\n")
	f("XRAW empty", "*0\r\n", "*0\r\n")
	f("XRAW map", "%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n,1.5\r\n", "*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n$3\r\n1.5\r\n")
	f("XRAW emptymap", "%0\r\n", "*0\r\n")
	f("XRAW set", "~2\r\n$1\r\nx\r\n$1\r\ny\r\n", "*2\r\n$1\r\nx\r\n$1\r\ny\r\n")
	f("XRAW true", "#t\r\n", ":1\r\n")
	f("XRAW false", "#f\r\n", ":0\r\n")
	f("XRAW double", ",3.14\r\n", "$4\r\n3.14\r\n")
	f("XRAW inf", ",inf\r\n", "$3\r\ninf\r\n")
	f("XRAW big", "(12345678901234567890\r\n", "$20\r\n12345678901234567890\r\n")
	f("XRAW verbatim", "=15\r\ntxt:hello world\r\n", "$11\r\nhello world\r\n")
	f("XRAW bloberr", "!21\r\nSYNTAX invalid syntax\r\n", "-SYNTAX invalid syntax\r\n")
	f("XRAW nested", "*2\r\n%1\r\n$1\r\nk\r\n~1\r\n:1\r\n_\r\n", "*2\r\n*2\r\n$1\r\nk\r\n*1\r\n:1\r\n$-1\r\n")
	f("ZSCORE z m", "_\r\n", "$-1\r\n")
	f("BLPOP l 1", "_\r\n", "*-1\r\n")
	f("LPOP l 2", "_\r\n", "*-1\r\n")
	f("LPOP l", "_\r\n", "$-1\r\n")
	f("ZRANGE z 0 -1 WITHSCORES", "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n",
		"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n")
	f("ZRANGE z 0 -1", "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n$1\r\na\r\n$1\r\nb\r\n")
	f("ZPOPMIN z", "*2\r\n$1\r\na\r\n,1\r\n", "*2\r\n$1\r\na\r\n$1\r\n1\r\n")
	f("HRANDFIELD h 2 WITHVALUES", "*2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$1\r\ng\r\n$1\r\nw\r\n",
		"*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n$1\r\nw\r\n")
	f("ZMPOP 1 z MIN", "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\na\r\n,1\r\n", "*2\r\n$1\r\nz\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n")
	f("ZMPOP 1 y MIN", "_\r\n", "*-1\r\n")
	f("GEOPOS g a b", "*2\r\n*2\r\n,1\r\n,2\r\n_\r\n", "*2\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n*-1\r\n")
	f("XREAD STREAMS s 0", "%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n",
		"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
	f("XREAD STREAMS s $", "_\r\n", "*-1\r\n")
}
