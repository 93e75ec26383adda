package protocol

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// within reports whether a lies inside region's memory.
func within(a, region []byte) bool {
	if len(a) == 0 {
		return true
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(region)))
	s := uintptr(unsafe.Pointer(unsafe.SliceData(a)))
	return s >= lo && s+uintptr(len(a)) <= lo+uintptr(len(region))
}

// render describes what a connection would see for in fed in the given chunk ends:
// "[a b]" per command, "!msg" on an error, "..." for a trailing incomplete command.
func render(p *Parser, in []byte, ends []int) string {
	var sb strings.Builder
	consumed := 0
	for _, e := range ends {
		for {
			args, n, err := p.Parse(in[consumed:e])
			if err != nil {
				sb.WriteString("!" + err.Error())
				return sb.String()
			}
			if n == 0 {
				break
			}
			sb.WriteByte('[')
			for i, a := range args {
				if i > 0 {
					sb.WriteByte(' ')
				}
				sb.WriteString(strconv.Quote(string(a)))
			}
			sb.WriteByte(']')
			consumed += n
		}
	}
	if consumed < len(in) {
		sb.WriteString("...")
	}
	return sb.String()
}

// checkSplits asserts that in gives want whole, byte by byte, and split at every point
// (every pair of points for short inputs).
func checkSplits(t *testing.T, l Limits, in, want string) {
	t.Helper()
	b := []byte(in)
	if got := render(NewParser(l), b, []int{len(b)}); got != want {
		t.Fatalf("%q: got %s, want %s", in, got, want)
	}
	p := NewParser(l)
	var ends []int
	for i := 1; i <= len(b); i++ {
		ends = append(ends, i)
	}
	if got := render(p, b, ends); got != want {
		t.Fatalf("%q byte by byte: got %s, want %s", in, got, want)
	}
	for i := 0; i <= len(b); i++ {
		if got := render(p, b, []int{i, len(b)}); got != want {
			t.Fatalf("%q split at %d: got %s, want %s", in, i, got, want)
		}
		if len(b) > 48 {
			continue
		}
		for j := i; j <= len(b); j++ {
			if got := render(p, b, []int{i, j, len(b)}); got != want {
				t.Fatalf("%q split at %d, %d: got %s, want %s", in, i, j, got, want)
			}
		}
	}
}

func TestParseMultibulk(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		checkSplits(t, DefaultLimits(), in, want)
	}
	f("*1\r\n$4\r\nPING\r\n", `["PING"]`)
	f("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$0\r\n\r\n", `["GET" "a"]["SET" "b" ""]`)
	f("*1\r\n$3\r\na\x00b\r\n", `["a\x00b"]`)
	f("*1\r\n$4\r\n\r\n\r\n\r\n", `["\r\n\r\n"]`)
	f("*0\r\n", `[]`)
	f("*-1\r\n", `[]`)
	f("*-10\r\n*1\r\n$1\r\nx\r\n", `[]["x"]`)
	f("*1\r\n$1\r\n", `...`)
	f("*2\r\n$1\r\na\r\n", `...`)
	f("*2147483647\r\n", `...`)
	// Redis skips the two bytes after a payload and the byte after a count's '\r' unchecked.
	f("*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n", `["PING"]["PING"]`)
	f("*1\rX$4\r\nPING\r\n", `["PING"]`)
	f("*1\r\n$1\rXa\r\n", `["a"]`)
	// A NUL before the '\r' hides it, as Redis's strchr does.
	f("*1\x00\r\n$4\r\nPING\r\n", `...`)
	f("*1\r\n$1\x00\r\na\r\n", `...`)
	// Errors.
	f("*\r\n", `!ERR Protocol error: invalid multibulk length`)
	f("*-0\r\n", `!ERR Protocol error: invalid multibulk length`)
	f("*01\r\n", `!ERR Protocol error: invalid multibulk length`)
	f("*+1\r\n", `!ERR Protocol error: invalid multibulk length`)
	f("*1a\r\n", `!ERR Protocol error: invalid multibulk length`)
	f("* 1\r\n", `!ERR Protocol error: invalid multibulk length`)
	f("*2147483648\r\n", `!ERR Protocol error: invalid multibulk length`)
	f("*3000000000\r\n", `!ERR Protocol error: invalid multibulk length`)
	f("*99999999999999999999\r\n", `!ERR Protocol error: invalid multibulk length`)
	f("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", `!ERR Protocol error: expected '$', got 'f'`)
	f("*1\r\n\r\n", "!ERR Protocol error: expected '$', got ' '")
	f("*1\r\n$-1\r\n", `!ERR Protocol error: invalid bulk length`)
	f("*1\r\n$-0\r\n", `!ERR Protocol error: invalid bulk length`)
	f("*1\r\n$01\r\na\r\n", `!ERR Protocol error: invalid bulk length`)
	f("*1\r\n$+1\r\na\r\n", `!ERR Protocol error: invalid bulk length`)
	f("*1\r\n$\r\n", `!ERR Protocol error: invalid bulk length`)
	f("*1\r\n$536870913\r\n", `!ERR Protocol error: invalid bulk length`)
	f("*1\r\n$536870912\r\n", `...`)
	f("*1\r\n$1\r\nab\r\n", `["a"][]`) // "b\r" skipped, "\n" is an empty inline line
}

func TestParseInline(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		checkSplits(t, DefaultLimits(), in, want)
	}
	f("PING\r\n", `["PING"]`)
	f("PING\n", `["PING"]`)
	f("PING", `...`)
	f("PING\r", `...`)
	f("\r\n", `[]`)
	f("\n", `[]`)
	f(" \t\v\f\r\n", `[]`)
	f("\r\n*-5\r\n*0\r\n   \nPING\r\n", `[][][][]["PING"]`)
	f("SET  a\tb \r\n", `["SET" "a" "b"]`)
	f("a\rb\r\r\n", `["a" "b"]`)
	f("\va\r\n", `["a"]`)
	f("a\vb\fc\r\n", `["a\vb\fc"]`)
	f("a\x80\xff\r\n", `["a\x80\xff"]`)
	f(`SET "a b" 'c d'`+"\r\n", `["SET" "a b" "c d"]`)
	f(`"" ''`+"\n", `["" ""]`)
	f(`"\x41\x4a\x4A\n\r\t\b\a\\\"\q\'"`+"\n", `["AJJ\n\r\t\b\a\\\"q'"]`)
	f(`"\x4g" "\x" "\x4"`+"\n", `["x4g" "x" "x4"]`)
	f(`'it\'s' 'a\nb' 'a"b'`+"\n", `["it's" "a\\nb" "a\"b"]`)
	f(`a"b c"d`+"\n", `!ERR Protocol error: unbalanced quotes in request`)
	f(`a"b c" d'e f'`+"\n", `["ab c" "de f"]`)
	f("\"a b\"\v\"c\"\n", `["a b" "c"]`)
	f("\"a\r\"\r\n", `["a\r"]`)
	f(`"a"b`+"\n", `!ERR Protocol error: unbalanced quotes in request`)
	f(`'a'b`+"\n", `!ERR Protocol error: unbalanced quotes in request`)
	f(`"abc`+"\r\n", `!ERR Protocol error: unbalanced quotes in request`)
	f(`'abc`+"\r\n", `!ERR Protocol error: unbalanced quotes in request`)
	f(`"a\"`+"\n", `!ERR Protocol error: unbalanced quotes in request`)
	f(`"a\`+"\n", `!ERR Protocol error: unbalanced quotes in request`)
	f("PING\nPING\r\nECHO x\n", `["PING"]["PING"]["ECHO" "x"]`)
	// A NUL before the '\n' hides it, as Redis's strchr does.
	f("PING\x00\nPING\n", `...`)
	f("*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPING\r\n", `["PING"]["PING"]["PING"]`)
}

func TestParseLimits(t *testing.T) {
	l := Limits{MaxBulkLen: 3, MaxMultibulkLen: 2, MaxInlineLen: 16}
	f := func(in, want string) {
		t.Helper()
		checkSplits(t, l, in, want)
	}
	f("0123456789abcdef\n", `["0123456789abcdef"]`)
	f("0123456789abcde\r\n", `["0123456789abcde"]`)
	f("0123456789abcdef\r\n", `!ERR Protocol error: too big inline request`)
	f("0123456789abcdefg\n", `!ERR Protocol error: too big inline request`)
	f("0123456789abcdef", `...`)
	f("0123456789abcdefg", `!ERR Protocol error: too big inline request`)
	f("\x00123456789abcde\n", `...`)
	f("\x00123456789abcde\nx", `!ERR Protocol error: too big inline request`)
	f("*00000000000000\r\n", `!ERR Protocol error: invalid multibulk length`)
	f("*111111111111111", `...`)
	f("*1111111111111111", `!ERR Protocol error: too big mbulk count string`)
	f("*1\r\n$111111111111111", `...`)
	f("*1\r\n$1111111111111111", `!ERR Protocol error: too big bulk count string`)
	f("*2\r\n$3\r\nabc\r\n$3\r\nde", `...`)
	f("*2\r\n$3\r\nabc\r\n$3\r\ndef\r\n", `["abc" "def"]`)
	f("*3\r\n", `!ERR Protocol error: invalid multibulk length`)
	f("*1\r\n$4\r\n", `!ERR Protocol error: invalid bulk length`)
}

func TestParsePending(t *testing.T) {
	f := func(in string, want int) {
		t.Helper()
		p := NewParser(DefaultLimits())
		if _, n, err := p.Parse([]byte(in)); n != 0 || err != nil {
			t.Fatalf("%q: n=%d err=%v", in, n, err)
		}
		if got := p.Pending(); got != want {
			t.Fatalf("%q: Pending %d, want %d", in, got, want)
		}
	}
	f("*1\r\n$10\r\nab", 10)
	f("*1\r\n$10\r\n", 12)
	f("*2\r\n$1\r\na\r\n$3\r\nabc\r", 1)
	f("*1\r\n$10", 0)
	f("*1", 0)
	f("PING", 0)
}

func TestParseSetLimits(t *testing.T) {
	p := NewParser(DefaultLimits())
	p.SetLimits(Limits{MaxBulkLen: 1, MaxMultibulkLen: 10, MaxInlineLen: 10})
	if _, _, err := p.Parse([]byte("*1\r\n$2\r\nab\r\n")); err == nil || err.Error() != "ERR Protocol error: invalid bulk length" {
		t.Fatalf("err %v", err)
	}
	// Reset after an error: the next command parses from scratch.
	if args, n, err := p.Parse([]byte("*1\r\n$1\r\na\r\n")); err != nil || n != 11 || string(args[0]) != "a" {
		t.Fatalf("args %q n %d err %v", args, n, err)
	}
	// Reset drops a partial command.
	p.Parse([]byte("*2\r\n$1\r\na\r\n"))
	p.Reset()
	if args, n, err := p.Parse([]byte("PING\n")); err != nil || n != 5 || len(args) != 1 {
		t.Fatalf("args %q n %d err %v", args, n, err)
	}
}

// TestParseArgsMemory checks where arguments live: plain ones in buf, unescaped ones in
// the scratch buffer, and that each ends at its capacity.
func TestParseArgsMemory(t *testing.T) {
	p := NewParser(DefaultLimits())
	buf := []byte(`SET key "v\x41l" "plain"` + "\r\n")
	args, _, err := p.Parse(buf)
	if err != nil || len(args) != 4 {
		t.Fatalf("args %q err %v", args, err)
	}
	inside := func(a, region []byte) bool { return len(a) > 0 && within(a, region) }
	for i, where := range []string{"buf", "buf", "scratch", "buf"} {
		a := args[i]
		if cap(a) != len(a) {
			t.Fatalf("arg %d: cap %d len %d", i, cap(a), len(a))
		}
		if where == "buf" && !inside(a, buf) || where == "scratch" && !inside(a, p.scratch[:cap(p.scratch)]) {
			t.Fatalf("arg %d %q not in %s", i, a, where)
		}
	}
	if string(args[2]) != "vAl" || string(args[3]) != "plain" {
		t.Fatalf("args %q", args)
	}
}

// TestParseBigBulkLinear feeds a large payload in small reads; the parser only compares
// lengths, so this stays linear in the bytes received.
func TestParseBigBulkLinear(t *testing.T) {
	const size = 1 << 20
	in := append([]byte("*2\r\n$3\r\nSET\r\n$"+strconv.Itoa(size)+"\r\n"), bytes.Repeat([]byte{'v'}, size)...)
	in = append(in, "\r\n"...)
	p := NewParser(DefaultLimits())
	for e := 1; e < len(in); e += 61 {
		if _, n, err := p.Parse(in[:e]); n != 0 || err != nil {
			t.Fatalf("at %d: n %d err %v", e, n, err)
		}
		if need := p.Pending(); e > len(in)-size-2 && need != len(in)-e {
			t.Fatalf("at %d: Pending %d, want %d", e, need, len(in)-e)
		}
	}
	args, n, err := p.Parse(in)
	if err != nil || n != len(in) || len(args[1]) != size {
		t.Fatalf("n %d err %v", n, err)
	}
}

func TestParseRandomChunks(t *testing.T) {
	var in []byte
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		switch rng.IntN(3) {
		case 0:
			in = AppendCommandString(in, "SET", "key:"+strconv.Itoa(i), strings.Repeat("x", rng.IntN(300)))
		case 1:
			in = append(in, "GET \"key:"+strconv.Itoa(i)+"\\n\"\r\n"...)
		default:
			in = AppendCommandString(in, "MGET", "a", "b", "c")
		}
	}
	want := render(NewParser(DefaultLimits()), in, []int{len(in)})
	if strings.Contains(want, "!") || strings.HasSuffix(want, "...") {
		t.Fatalf("bad input: %s", want)
	}
	p := NewParser(DefaultLimits())
	for round := 0; round < 20; round++ {
		var ends []int
		for e := 0; e < len(in); e += 1 + rng.IntN(200) {
			ends = append(ends, e)
		}
		ends = append(ends, len(in))
		if got := render(p, in, ends); got != want {
			t.Fatalf("round %d differs", round)
		}
	}
}

func TestParseAllocs(t *testing.T) {
	var batch []byte
	for i := 0; i < 8; i++ {
		batch = AppendCommandString(batch, "SET", "key:"+strconv.Itoa(i), "value")
		batch = AppendCommandString(batch, "GET", "key:"+strconv.Itoa(i))
	}
	inline := []byte("SET \"a b\" 'c\\'d' plain\r\nGET x\r\n")
	p := NewParser(DefaultLimits())
	parseAll := func(buf []byte) {
		for len(buf) > 0 {
			_, n, err := p.Parse(buf)
			if err != nil || n == 0 {
				t.Fatalf("n %d err %v", n, err)
			}
			buf = buf[n:]
		}
	}
	parseAll(batch)
	parseAll(inline)
	if a := testing.AllocsPerRun(100, func() { parseAll(batch) }); a != 0 {
		t.Fatalf("multibulk: %v allocs", a)
	}
	if a := testing.AllocsPerRun(100, func() { parseAll(inline) }); a != 0 {
		t.Fatalf("inline: %v allocs", a)
	}
	// A partial command resumed: offsets only, no allocation either.
	if a := testing.AllocsPerRun(100, func() {
		p.Parse(batch[:30])
		parseAll(batch)
	}); a != 0 {
		t.Fatalf("partial: %v allocs", a)
	}
}

// TestParseSetLimitsMidCommand: new limits wait for the next command.
func TestParseSetLimitsMidCommand(t *testing.T) {
	p := NewParser(DefaultLimits())
	in := []byte("*1\r\n$40\r\n" + strings.Repeat("x", 40) + "\r\n")
	if _, n, err := p.Parse(in[:12]); n != 0 || err != nil {
		t.Fatalf("n %d err %v", n, err)
	}
	p.SetLimits(Limits{MaxBulkLen: 4, MaxMultibulkLen: 4, MaxInlineLen: 4})
	if args, n, err := p.Parse(in); err != nil || n != len(in) || len(args[0]) != 40 {
		t.Fatalf("n %d err %v", n, err)
	}
	if _, _, err := p.Parse(in); err != errInvalidBulkLen {
		t.Fatalf("next command: %v", err)
	}
	p = NewParser(DefaultLimits())
	line := []byte("GET " + strings.Repeat("k", 100) + "\n")
	p.Parse(line[:50])
	p.SetLimits(Limits{MaxBulkLen: 4, MaxMultibulkLen: 4, MaxInlineLen: 4})
	if args, n, err := p.Parse(line); err != nil || n != len(line) || len(args) != 2 {
		t.Fatalf("inline: n %d err %v", n, err)
	}
}
