package protocol

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// show renders a Value compactly for one-line test expectations.
func show(v Value) string {
	var sb strings.Builder
	var w func(v Value)
	list := func(open string, es []Value) {
		sb.WriteString(open)
		for i, e := range es {
			if i > 0 {
				sb.WriteByte(' ')
			}
			w(e)
		}
		sb.WriteByte(']')
	}
	w = func(v Value) {
		if len(v.Attrs) > 0 {
			list("|[", v.Attrs)
		}
		sb.WriteByte(byte(v.Kind))
		switch {
		case v.Null:
			sb.WriteString("null")
		case v.Kind == ':':
			sb.WriteString(strconv.FormatInt(v.Int, 10))
		case v.Kind == ',':
			sb.WriteString(strconv.FormatFloat(v.Float, 'g', -1, 64))
		case v.Kind == '#':
			sb.WriteString(strconv.FormatBool(v.Bool))
		case v.Kind == '*' || v.Kind == '%' || v.Kind == '~' || v.Kind == '>':
			list("[", v.Elems)
		default:
			sb.WriteString(strconv.Quote(string(v.Str)))
		}
	}
	w(v)
	return sb.String()
}

// equalValue compares Values, treating nil and empty slices alike and NaN as equal to NaN.
func equalValue(a, b Value) bool {
	if a.Kind != b.Kind || !bytes.Equal(a.Str, b.Str) || a.Int != b.Int || a.Bool != b.Bool || a.Null != b.Null ||
		len(a.Elems) != len(b.Elems) || len(a.Attrs) != len(b.Attrs) {
		return false
	}
	if math.Float64bits(a.Float) != math.Float64bits(b.Float) && !(math.IsNaN(a.Float) && math.IsNaN(b.Float)) {
		return false
	}
	for i := range a.Elems {
		if !equalValue(a.Elems[i], b.Elems[i]) {
			return false
		}
	}
	for i := range a.Attrs {
		if !equalValue(a.Attrs[i], b.Attrs[i]) {
			return false
		}
	}
	return true
}

func TestReadValue(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		v, n, err := ReadValue([]byte(in))
		got := ""
		switch {
		case err != nil:
			got = "!" + err.Error()
		case n == 0:
			got = "..."
		default:
			got = show(v)
			if n != len(in) {
				got += " +" + in[n:]
			}
			// Every shorter prefix is incomplete, and AppendValue reproduces a value
			// that reads back the same.
			for i := 0; i < n; i++ {
				if _, m, err := ReadValue([]byte(in[:i])); m != 0 || err != nil {
					t.Fatalf("%q prefix %d: n %d err %v", in, i, m, err)
				}
			}
			enc := AppendValue(nil, v)
			w, m, err := ReadValue(enc)
			if err != nil || m != len(enc) || !equalValue(v, w) {
				t.Fatalf("%q: re-encoded %q reads back %s (n %d, err %v)", in, enc, show(w), m, err)
			}
		}
		if got != want {
			t.Fatalf("%q: got %s, want %s", in, got, want)
		}
	}
	f("+OK\r\n", `+"OK"`)
	f("+a\rb\r\n", `+"a\rb"`)
	f("-ERR x\r\n", `-"ERR x"`)
	f(":-12\r\n", `:-12`)
	f(":+7\r\n", `:7`)
	f(":9223372036854775807\r\n", `:9223372036854775807`)
	f(":-9223372036854775808\r\n", `:-9223372036854775808`)
	f("$3\r\nfoo\r\n+x", `$"foo" ++x`)
	f("$0\r\n\r\n", `$""`)
	f("$-1\r\n", `$null`)
	f("*-1\r\n", `*null`)
	f("*2\r\n:1\r\n$1\r\na\r\n", `*[:1 $"a"]`)
	f("*0\r\n", `*[]`)
	f("_\r\n", `_null`)
	f(",3.5\r\n", `,3.5`)
	f(",inf\r\n", `,+Inf`)
	f(",-inf\r\n", `,-Inf`)
	f(",nan\r\n", `,NaN`)
	f(",0.10000000000000001\r\n", `,0.1`)
	f("#t\r\n", `#true`)
	f("#f\r\n", `#false`)
	f("(3492890328409238509324850943850943825024385\r\n", `("3492890328409238509324850943850943825024385"`)
	f("=8\r\ntxt:abcd\r\n", `="txt:abcd"`)
	f("!5\r\nERR x\r\n", `!"ERR x"`)
	f("%1\r\n+k\r\n:1\r\n", `%[+"k" :1]`)
	f("~2\r\n+a\r\n+b\r\n", `~[+"a" +"b"]`)
	f(">2\r\n+message\r\n+x\r\n", `>[+"message" +"x"]`)
	f("|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n", `|[+"ttl" :3]$"v"`)
	f("*1\r\n|1\r\n+a\r\n+b\r\n:5\r\n", `*[|[+"a" +"b"]:5]`)
	f("|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n+v\r\n", `|[+"a" +"b" +"c" +"d"]+"v"`)
	f("", `...`)
	f("$3\r\nfo", `...`)
	f("*3\r\n:1\r\n", `...`)
	f("|1\r\n+a\r\n+b\r\n", `...`)
	f("*1000000000\r\n", `...`)
	f("?\r\n", `!`+ErrBadReply.Error())
	f(":1x\r\n", `!`+ErrBadReply.Error())
	f(":\r\n", `!`+ErrBadReply.Error())
	f(":99999999999999999999\r\n", `!`+ErrBadReply.Error())
	f("$3\r\nfooXY", `!`+ErrBadReply.Error())
	f("$-2\r\n", `!`+ErrBadReply.Error())
	f("~-1\r\n", `!`+ErrBadReply.Error())
	f("=-1\r\n", `!`+ErrBadReply.Error())
	f("=3\r\ntxt\r\n", `!`+ErrBadReply.Error())
	f("_x\r\n", `!`+ErrBadReply.Error())
	f("#x\r\n", `!`+ErrBadReply.Error())
	f(",abc\r\n", `!`+ErrBadReply.Error())
	f(strings.Repeat("*1\r\n", 300)+":1\r\n", `!`+ErrReplyTooDeep.Error())
}

func TestReader(t *testing.T) {
	stream := []byte("+OK\r\n$3\r\nfoo\r\n*2\r\n:1\r\n%1\r\n+a\r\n,1.5\r\n|1\r\n+x\r\n+y\r\n_\r\n$-1\r\n")
	stream = append(stream, "$70000\r\n"+strings.Repeat("z", 70000)+"\r\n"...)
	var want []string
	for rest := stream; len(rest) > 0; {
		v, n, err := ReadValue(rest)
		if err != nil || n == 0 {
			t.Fatalf("n %d err %v", n, err)
		}
		want = append(want, show(v))
		rest = rest[n:]
	}
	for _, src := range []io.Reader{bytes.NewReader(stream), iotest.OneByteReader(bytes.NewReader(stream)), iotest.HalfReader(bytes.NewReader(stream))} {
		r := NewReader(src)
		for i, w := range want {
			v, err := r.ReadValue()
			if err != nil || show(v) != w {
				t.Fatalf("value %d: got %.60s err %v, want %.60s", i, show(v), err, w)
			}
		}
		if _, err := r.ReadValue(); err != io.EOF {
			t.Fatalf("end: %v", err)
		}
	}
	r := NewReader(strings.NewReader("+OK\r\n$5\r\nab"))
	if _, err := r.ReadValue(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadValue(); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated: %v", err)
	}
	r = NewReader(strings.NewReader("?x\r\n"))
	if _, err := r.ReadValue(); !errors.Is(err, ErrBadReply) {
		t.Fatalf("malformed: %v", err)
	}
}

// loop is an endless, allocation-free io.Reader repeating b.
type loop struct {
	b   []byte
	off int
}

func (l *loop) Read(p []byte) (int, error) {
	n := copy(p, l.b[l.off:])
	l.off = (l.off + n) % len(l.b)
	return n, nil
}

func TestReaderAllocs(t *testing.T) {
	var replies []byte
	replies = AppendBulkString(replies, "value")
	replies = AppendInt(replies, 7)
	replies = AppendSimple(replies, "OK")
	replies = AppendArrayLen(replies, 3)
	for i := 0; i < 3; i++ {
		replies = AppendBulkString(replies, "v"+strconv.Itoa(i))
	}
	r := NewReader(&loop{b: replies})
	for i := 0; i < 100; i++ {
		if _, err := r.ReadValue(); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(200, func() {
		if _, err := r.ReadValue(); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Fatalf("%v allocs", a)
	}
}
