package protocol

import (
	"bytes"
	"iter"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

// feedCheck parses in fed up to each of ends, like a connection would, checking the
// parser's promises on every result, and renders what it saw as render does.
func feedCheck(t *testing.T, p *Parser, l Limits, in []byte, ends []int) string {
	t.Helper()
	var sb strings.Builder
	consumed := 0
	for _, e := range ends {
		for {
			buf := in[consumed:e]
			args, n, err := p.Parse(buf)
			if err != nil {
				if _, ok := err.(*ProtocolError); !ok || n != 0 {
					t.Fatalf("err %T %v n %d", err, err, n)
				}
				sb.WriteString("!" + err.Error())
				return sb.String()
			}
			if n < 0 || n > len(buf) {
				t.Fatalf("n %d of %d", n, len(buf))
			}
			if n == 0 {
				if args != nil {
					t.Fatalf("incomplete with args")
				}
				break
			}
			if int64(len(args)) > l.MaxMultibulkLen {
				t.Fatalf("%d args over the limit", len(args))
			}
			if buf[0] != '*' && n > l.MaxInlineLen+1 {
				t.Fatalf("inline line of %d bytes", n)
			}
			if cap(p.scratch) > l.MaxInlineLen+1 {
				t.Fatalf("scratch %d", cap(p.scratch))
			}
			sb.WriteByte('[')
			for _, a := range args {
				if int64(len(a)) > l.MaxBulkLen {
					t.Fatalf("arg of %d bytes", len(a))
				}
				if !within(a, buf[:n]) && !within(a, p.scratch[:cap(p.scratch)]) {
					t.Fatalf("arg %q outside buf and scratch", a)
				}
				sb.WriteString(string(a))
				sb.WriteByte(0)
			}
			sb.WriteByte(']')
			consumed += n
		}
	}
	return sb.String()
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\na\r\nSET \"a\\x41\" 'b c'\r\n"), uint64(1), uint8(0))
	f.Add([]byte("*1\r\n$4\r\nPINGxx*-1\r\n\r\n*1\r\n$70\r\n"), uint64(2), uint8(1))
	f.Add([]byte("a\"b c\" \"\\q\" '\\''\n*0\r\n*3\r\n$1\r\nx\r\nfoo"), uint64(3), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, lim uint8) {
		l := DefaultLimits()
		if lim&1 == 1 {
			l = Limits{MaxBulkLen: 64, MaxMultibulkLen: 8, MaxInlineLen: 32}
		}
		whole := feedCheck(t, NewParser(l), l, in, []int{len(in)})
		p := NewParser(l)
		rng := rand.New(rand.NewPCG(seed, uint64(len(in))))
		for round := 0; round < 4; round++ {
			var ends []int
			for e := 0; e < len(in); e += rng.IntN(1 + len(in)/4) {
				ends = append(ends, e)
				if rng.IntN(4) == 0 {
					e++
				}
			}
			ends = append(ends, len(in))
			if got := feedCheck(t, p, l, in, ends); got != whole {
				t.Fatalf("chunks %v: %q, whole: %q", ends, got, whole)
			}
		}
	})
}

// quoteInline writes a as one double-quoted sdssplitargs token.
func quoteInline(dst, a []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for _, c := range a {
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c >= 0x20 && c < 0x7f:
			dst = append(dst, c)
		default:
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&15])
		}
	}
	return append(dst, '"')
}

// fuzzArgs cuts in at 0xff bytes into at most 32 arguments.
func fuzzArgs(in []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		for i, a := range bytes.SplitN(in, []byte{0xff}, 32) {
			if !yield(a) || i == 31 {
				return
			}
		}
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("SET\xffkey\xffva\"l\r\nue"))
	f.Add([]byte("*2\r\n%1\r\n+a\r\n,1.5\r\n|1\r\n+x\r\n#t\r\n$-1\r\n=7\r\ntxt:abc\r\n"))
	f.Add([]byte(">2\r\n~1\r\n(123\r\n!3\r\nERR\r\n,nan\r\n_\r\n:-5\r\n-ERR x\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		// Commands: parse(encode(args)) == args, as multibulk and as quoted inline.
		var args [][]byte
		for a := range fuzzArgs(in) {
			args = append(args, a)
		}
		p := NewParser(DefaultLimits())
		mb := AppendCommand(nil, args...)
		var line []byte
		for i, a := range args {
			if i > 0 {
				line = append(line, ' ')
			}
			line = quoteInline(line, a)
		}
		line = append(line, "\r\n"...)
		for _, enc := range [][]byte{mb, line} {
			got, n, err := p.Parse(enc)
			if err != nil || n != len(enc) || len(got) != len(args) {
				t.Fatalf("%q: %q n %d err %v", enc, got, n, err)
			}
			for i := range args {
				if !bytes.Equal(got[i], args[i]) {
					t.Fatalf("%q: arg %d %q, want %q", enc, i, got[i], args[i])
				}
			}
		}

		// Replies: ReadValue(AppendValue(v)) == v, and a Reader reading the bytes one at a
		// time sees the same values as ReadValue.
		r := NewReader(iotest.OneByteReader(bytes.NewReader(in)))
		for rest, k := in, 0; k < 16; k++ {
			v, n, err := ReadValue(rest)
			if err != nil || n == 0 {
				break
			}
			rest = rest[n:]
			enc := AppendValue(nil, v)
			w, m, err := ReadValue(enc)
			if err != nil || m != len(enc) || !equalValue(v, w) {
				t.Fatalf("%q -> %q reads back %s (n %d, err %v), want %s", in, enc, show(w), m, err, show(v))
			}
			rv, err := r.ReadValue()
			if err != nil || !equalValue(v, rv) {
				t.Fatalf("Reader: %s err %v, want %s", show(rv), err, show(v))
			}
		}
	})
}
