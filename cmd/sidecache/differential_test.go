package main

// Differential tests: every script under testdata/diff/*.txt runs against sidecache and
// against the reference redis-server, and the raw reply bytes must be identical (after the
// normalisations below, each one named in the script where it is used).
//
// SIDECACHE_DIFF_VERBOSE=1 logs every command with the reference reply.
//
// SIDECACHE_DIFF_TARGET=redis runs the scripts against a second redis-server instead of
// sidecache (A/A mode): it proves the scripts and the normalisations themselves.
//
// Script format: one command per line, arguments split like redis-cli does (whitespace,
// "double quotes" with \n \r \t \" \\ \xHH escapes, 'single quotes'); '#' starts a comment
// line. A script runs twice, in RESP2 (a fresh connection) and in RESP3 (HELLO 3 first),
// unless it contains @resp2 or @resp3, which pins it to one run. Both sides start each run
// with FLUSHALL in db 0.
//
// Directives for the whole script:
//
//	@pending REASON   skip the script (t.Skip) with the reason: a gap in sidecache (A/A
//	                  mode still runs it, to keep the script itself proven)
//	@redis72          7.2-only commands: not compared with the 7.0.15 reference; every
//	                  command needs an @expect, checked against sidecache only (skipped in
//	                  A/A mode)
//
// Directives during a script:
//
//	@resp2, @resp3    send HELLO 2 / HELLO 3 on both sides; the replies are compared with
//	                  @mask-hello
//	@flush            FLUSHALL on both sides
//	@sleep DURATION   pause (for TTL cases), e.g. @sleep 1100ms
//	@raw N "BYTES"    send BYTES as they are (inline commands, protocol errors) and compare
//	                  the next N replies
//
// Modifiers that apply to the next command (or @raw) only:
//
//	@mask-hello       in a HELLO reply (RESP3 map or RESP2 flat array) the values of "id"
//	                  and "version" are masked: the client id is a per-process counter, and
//	                  sidecache reports version 7.2.0 where the reference says 7.0.15
//	                  (sidecache's must be exactly 7.2.0: checked separately)
//	@mask             every scalar in the reply is masked: only the shape and the types are
//	                  compared (TIME, CLIENT ID)
//	@sorted           the elements of the top-level array are sorted (KEYS: order is
//	                  unspecified)
//	@tolerance N      two non-negative integer replies within N of each other are equal
//	                  (PTTL); -1 and -2 still compare exactly
//	@scan             the command is a SCAN with cursor argument 0: the harness iterates
//	                  to cursor 0 on each side and compares the sorted set of all keys
//	                  returned (the order and the cursors are implementation details; each
//	                  step's shape is checked); or an HSCAN (key, then cursor 0): the set of
//	                  field/value pairs, sorted by field
//	@close            after the reply, the server must close the connection (both sides);
//	                  the harness then reconnects (and sends HELLO 3 again in a RESP3 run)
//	@expect "BYTES"   the reply sidecache must give (@redis72 scripts); @expect-resp2 and
//	                  @expect-resp3 give a protocol-specific expectation

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// diffTargetRedis reports whether the subject is a second redis-server (A/A mode).
func diffTargetRedis() bool { return os.Getenv("SIDECACHE_DIFF_TARGET") == "redis" }

// startSubject starts the server under test: sidecache, or redis-server in A/A mode.
func startSubject(t testing.TB) *proc {
	t.Helper()
	if diffTargetRedis() {
		return startRedisUnix(t)
	}
	return startSidecache(t)
}

// script is a parsed differential script.
type script struct {
	name    string
	pending string
	redis72 bool
	pinned  bool // has @resp2/@resp3: run once
	steps   []step
}

// step is one command, raw send or directive, with the modifiers that precede it.
type step struct {
	line    int
	text    string
	kind    string   // "cmd", "raw", "resp2", "resp3", "flush", "sleep"
	args    []string // cmd
	raw     []byte   // raw
	replies int      // raw: replies to compare
	sleep   time.Duration

	maskHello bool
	mask      bool
	sorted    bool
	tolerance int64
	scan      bool
	close     bool
	expect    map[int][]byte // protocol (0 = any) -> expected raw reply
}

func parseScript(name string, src string) (*script, error) {
	s := &script{name: name}
	var mods step
	for i, line := range strings.Split(src, "\n") {
		ln := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		errf := func(f string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", name, ln, fmt.Sprintf(f, a...))
		}
		if !strings.HasPrefix(line, "@") {
			args, err := splitArgs(line)
			if err != nil {
				return nil, errf("%v", err)
			}
			st := mods
			st.line, st.text, st.kind, st.args = ln, line, "cmd", args
			if st.scan && (len(args) < 2 || !strings.EqualFold(args[0], "scan")) &&
				(len(args) < 3 || !strings.EqualFold(args[0], "hscan")) {
				return nil, errf("@scan needs a SCAN or HSCAN command")
			}
			if s.redis72 && st.expect == nil {
				return nil, errf("@redis72 script: command without @expect")
			}
			s.steps = append(s.steps, st)
			mods = step{}
			continue
		}
		dir, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch dir {
		case "@pending":
			s.pending = rest
		case "@redis72":
			s.redis72 = true
		case "@resp2", "@resp3":
			s.pinned = true
			s.steps = append(s.steps, step{line: ln, text: line, kind: dir[1:], maskHello: true})
		case "@flush":
			s.steps = append(s.steps, step{line: ln, text: line, kind: "flush"})
		case "@sleep":
			d, err := time.ParseDuration(rest)
			if err != nil {
				return nil, errf("%v", err)
			}
			s.steps = append(s.steps, step{line: ln, text: line, kind: "sleep", sleep: d})
		case "@raw":
			nstr, q, _ := strings.Cut(rest, " ")
			n, err := strconv.Atoi(nstr)
			if err != nil {
				return nil, errf("@raw N \"bytes\": %v", err)
			}
			b, err := splitArgs(q)
			if err != nil || len(b) != 1 {
				return nil, errf("@raw N \"bytes\": one quoted argument expected")
			}
			st := mods
			st.line, st.text, st.kind, st.raw, st.replies = ln, line, "raw", []byte(b[0]), n
			s.steps = append(s.steps, st)
			mods = step{}
		case "@mask-hello":
			mods.maskHello = true
		case "@mask":
			mods.mask = true
		case "@sorted":
			mods.sorted = true
		case "@tolerance":
			n, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				return nil, errf("%v", err)
			}
			mods.tolerance = n
		case "@scan":
			mods.scan = true
		case "@close":
			mods.close = true
		case "@expect", "@expect-resp2", "@expect-resp3":
			b, err := splitArgs(rest)
			if err != nil || len(b) != 1 {
				return nil, errf("%s: one quoted argument expected", dir)
			}
			if mods.expect == nil {
				mods.expect = map[int][]byte{}
			}
			proto := 0
			if dir != "@expect" {
				proto = int(dir[len(dir)-1] - '0')
			}
			mods.expect[proto] = []byte(b[0])
		default:
			return nil, errf("unknown directive %s", dir)
		}
	}
	return s, nil
}

// splitArgs splits a line as redis-cli (sdssplitargs) does.
func splitArgs(line string) ([]string, error) {
	var args []string
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			return args, nil
		}
		var cur []byte
		switch line[i] {
		case '"':
			i++
			for {
				if i >= len(line) {
					return nil, fmt.Errorf("unbalanced quotes")
				}
				c := line[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(line) {
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'a':
						cur = append(cur, '\a')
					case 'b':
						cur = append(cur, '\b')
					case 'x':
						if i+2 >= len(line) {
							return nil, fmt.Errorf("bad \\x escape")
						}
						v, err := strconv.ParseUint(line[i+1:i+3], 16, 8)
						if err != nil {
							return nil, fmt.Errorf("bad \\x escape")
						}
						cur = append(cur, byte(v))
						i += 2
					default:
						cur = append(cur, line[i])
					}
					i++
					continue
				}
				cur = append(cur, c)
				i++
			}
		case '\'':
			i++
			for {
				if i >= len(line) {
					return nil, fmt.Errorf("unbalanced quotes")
				}
				c := line[i]
				if c == '\'' {
					i++
					break
				}
				if c == '\\' && i+1 < len(line) && line[i+1] == '\'' {
					i++
					c = '\''
				}
				cur = append(cur, c)
				i++
			}
		default:
			for i < len(line) && line[i] != ' ' && line[i] != '\t' {
				cur = append(cur, line[i])
				i++
			}
			args = append(args, string(cur))
			continue
		}
		if i < len(line) && line[i] != ' ' && line[i] != '\t' {
			return nil, fmt.Errorf("closing quote must be followed by a space")
		}
		args = append(args, string(cur))
	}
}

func loadScripts(t *testing.T) []*script {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "diff", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/diff: %v", err)
	}
	var out []*script
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := parseScript(filepath.Base(f), string(src))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestDiffScriptsParse(t *testing.T) {
	loadScripts(t)
}

func TestDifferential(t *testing.T) {
	scripts := loadScripts(t)
	ref := startRedis(t)
	sub := startSubject(t)
	for _, s := range scripts {
		if sub.exited() {
			// a crash fails the script that caused it; the next scripts get a new process
			t.Errorf("%s exited during the previous script:\n%s", sub.Name, tail(sub.out.String(), 4000))
			sub = startSubject(t)
		}
		t.Run(strings.TrimSuffix(s.name, ".txt"), func(t *testing.T) {
			if s.pending != "" && !diffTargetRedis() {
				t.Skipf("pending: %s", s.pending)
			}
			if s.redis72 && diffTargetRedis() {
				t.Skip("7.2-only script: checked against sidecache, not against redis 7.0.15")
			}
			if s.pinned || s.redis72 {
				runScript(t, s, 2, ref, sub)
				return
			}
			for _, proto := range []int{2, 3} {
				t.Run(fmt.Sprintf("resp%d", proto), func(t *testing.T) {
					runScript(t, s, proto, ref, sub)
				})
			}
		})
	}
}

// diffSide is one server's connection during a script run.
type diffSide struct {
	p    *proc
	conn *respConn
}

func (d *diffSide) connect(t *testing.T, proto int) {
	t.Helper()
	if d.conn != nil {
		d.conn.Close()
	}
	d.conn = dialResp(t, d.p.Addr)
	if proto == 3 {
		if rep := d.conn.Do("HELLO", "3"); !bytes.HasPrefix(rep, []byte("%")) {
			t.Fatalf("%s: HELLO 3 answered %q", d.p.Name, rep)
		}
	}
}

func runScript(t *testing.T, s *script, proto int, refP, subP *proc) {
	ref, sub := &diffSide{p: refP}, &diffSide{p: subP}
	sides := []*diffSide{ref, sub}
	if !s.redis72 {
		for _, d := range sides {
			d.connect(t, proto)
		}
	} else {
		sub.connect(t, proto)
	}
	defer func() {
		for _, d := range sides {
			if d.conn != nil {
				d.conn.Close()
			}
		}
	}()
	active := sides
	if s.redis72 {
		active = []*diffSide{sub}
	}
	for _, d := range active {
		if rep := d.conn.Do("FLUSHALL"); string(rep) != "+OK\r\n" {
			t.Fatalf("%s: FLUSHALL answered %q", d.p.Name, rep)
		}
	}
	fails := 0
	for _, st := range s.steps {
		if fails >= 20 {
			t.Fatalf("too many mismatches, stopping")
		}
		where := fmt.Sprintf("%s:%d %s", s.name, st.line, st.text)
		switch st.kind {
		case "sleep":
			time.Sleep(st.sleep)
			continue
		case "resp2", "resp3":
			proto = int(st.kind[4] - '0')
			st.args = []string{"HELLO", strconv.Itoa(proto)}
		case "flush":
			st.args = []string{"FLUSHALL"}
		}
		if s.redis72 {
			got, err := runStep(t, sub, st)
			if err != nil {
				t.Errorf("%s: sidecache: %v", where, err)
				fails++
				continue
			}
			want, ok := st.expect[proto]
			if !ok {
				want = st.expect[0]
			}
			if !bytes.Equal(got[0], want) {
				t.Errorf("%s (RESP%d):\n  want %q\n  got  %q", where, proto, want, got[0])
				fails++
			}
			if st.close {
				sub.connect(t, proto)
			}
			continue
		}
		r, errR := runStep(t, ref, st)
		g, errG := runStep(t, sub, st)
		if errR != nil {
			t.Fatalf("%s: reference redis: %v", where, errR)
		}
		if errG != nil {
			t.Errorf("%s (RESP%d): %s: %v\n  redis: %q", where, proto, sub.p.Name, errG, joinReplies(r))
			fails++
			// resynchronise: a fresh connection on both sides
			for _, d := range sides {
				d.connect(t, proto)
			}
			continue
		}
		if os.Getenv("SIDECACHE_DIFF_VERBOSE") != "" {
			t.Logf("%s (RESP%d) -> %q", where, proto, joinReplies(r))
		}
		if len(r) != len(g) {
			t.Errorf("%s (RESP%d): %d replies from redis, %d from %s", where, proto, len(r), len(g), sub.p.Name)
			fails++
			continue
		}
		for i := range r {
			rn, gn, err := normalise(st, r[i], g[i])
			if err != nil {
				t.Errorf("%s (RESP%d): normalise: %v\n  redis: %q\n  %s: %q", where, proto, err, r[i], sub.p.Name, g[i])
				fails++
				continue
			}
			if !bytes.Equal(rn, gn) {
				t.Errorf("%s (RESP%d):\n  redis:     %q\n  %s: %q", where, proto, r[i], sub.p.Name, g[i])
				fails++
			}
		}
		if (st.maskHello || st.kind == "resp2" || st.kind == "resp3") && !diffTargetRedis() {
			checkHelloVersion(t, where, g)
		}
		if st.close {
			for _, d := range sides {
				d.connect(t, proto)
			}
		}
	}
}

func joinReplies(rs [][]byte) string {
	return string(bytes.Join(rs, nil))
}

// checkHelloVersion asserts that sidecache's HELLO reports version 7.2.0 (DESIGN:
// compatibility level), the one field @mask-hello hides.
func checkHelloVersion(t *testing.T, where string, replies [][]byte) {
	t.Helper()
	for _, raw := range replies {
		v, err := parseValue(raw)
		if err != nil || (v.Kind != '%' && v.Kind != '*') {
			continue
		}
		for i := 0; i+1 < len(v.Elems); i += 2 {
			if v.Elems[i].Str == "version" && v.Elems[i+1].Str != "7.2.0" {
				t.Errorf("%s: HELLO version = %q, want 7.2.0", where, v.Elems[i+1].Str)
			}
		}
	}
}

// runStep runs one step on one side and returns the raw replies (after @scan's iteration,
// the synthesised set).
func runStep(t *testing.T, d *diffSide, st step) ([][]byte, error) {
	c := d.conn
	if st.scan {
		return scanAll(c, st.args)
	}
	var payload []byte
	n := 1
	if st.kind == "raw" {
		payload, n = st.raw, st.replies
	} else {
		payload = encodeCommand(st.args)
	}
	if err := c.Send(payload); err != nil {
		return nil, fmt.Errorf("send: %v", err)
	}
	var out [][]byte
	for i := 0; i < n; i++ {
		rep, err := c.Read()
		if err != nil {
			return out, fmt.Errorf("reply %d of %d: %v (got %q)", i+1, n, err, rep)
		}
		out = append(out, rep)
	}
	if st.close {
		if closed, extra := c.Closed(3 * time.Second); !closed {
			return out, fmt.Errorf("connection not closed after the reply (extra bytes %q)", extra)
		}
	}
	return out, nil
}

// scanAll iterates SCAN from cursor 0 to cursor 0 and returns the sorted distinct keys as one
// RESP array; an error reply is returned as it is. For HSCAN (cursor after the key, elements
// in field/value pairs) it returns the pairs, flat, sorted by field.
func scanAll(c *respConn, args []string) ([][]byte, error) {
	args = slices.Clone(args)
	seen := map[string]bool{}
	pairs := map[string]string{}
	at := 1 // the cursor argument
	if strings.EqualFold(args[0], "hscan") {
		at = 2
	}
	cursor := "0"
	for iter := 0; ; iter++ {
		if iter > 100000 {
			return nil, fmt.Errorf("SCAN did not finish")
		}
		args[at] = cursor
		if err := c.Send(encodeCommand(args)); err != nil {
			return nil, err
		}
		raw, err := c.Read()
		if err != nil {
			return nil, err
		}
		if raw[0] == '-' {
			return [][]byte{raw}, nil
		}
		v, err := parseValue(raw)
		if err != nil {
			return nil, err
		}
		if v.Kind != '*' || len(v.Elems) != 2 || v.Elems[0].Kind != '$' || v.Elems[1].Kind != '*' {
			return nil, fmt.Errorf("SCAN reply shape %q", raw)
		}
		for i, k := range v.Elems[1].Elems {
			if k.Kind != '$' || (at == 2 && len(v.Elems[1].Elems)%2 != 0) {
				return nil, fmt.Errorf("SCAN key %q", raw)
			}
			if at == 1 {
				seen[k.Str] = true
			} else if i%2 == 0 {
				pairs[k.Str] = v.Elems[1].Elems[i+1].Str
			}
		}
		cursor = v.Elems[0].Str
		if cursor == "0" {
			break
		}
	}
	all := &value{Kind: '*'}
	for _, k := range slices.Sorted(mapsKeys(seen)) {
		all.Elems = append(all.Elems, &value{Kind: '$', Str: k})
	}
	for _, f := range slices.Sorted(maps.Keys(pairs)) {
		all.Elems = append(all.Elems, &value{Kind: '$', Str: f}, &value{Kind: '$', Str: pairs[f]})
	}
	return [][]byte{all.encode(nil)}, nil
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// normalise applies the step's normalisations to both replies.
func normalise(st step, ref, got []byte) ([]byte, []byte, error) {
	if !st.maskHello && !st.mask && !st.sorted && st.tolerance == 0 && st.kind != "resp2" && st.kind != "resp3" {
		return ref, got, nil
	}
	rv, err := parseValue(ref)
	if err != nil {
		return nil, nil, fmt.Errorf("reference reply: %v", err)
	}
	gv, err := parseValue(got)
	if err != nil {
		return nil, nil, fmt.Errorf("subject reply: %v", err)
	}
	for _, v := range []*value{rv, gv} {
		if st.maskHello || st.kind == "resp2" || st.kind == "resp3" {
			maskHello(v)
		}
		if st.mask {
			maskAll(v)
		}
		if st.sorted {
			sortElems(v)
		}
	}
	if st.tolerance > 0 && rv.Kind == ':' && gv.Kind == ':' {
		a, errA := strconv.ParseInt(rv.Str, 10, 64)
		b, errB := strconv.ParseInt(gv.Str, 10, 64)
		// only remaining times: -1 (no TTL) and -2 (no key) must match exactly
		if errA == nil && errB == nil && a >= 0 && b >= 0 && a-b <= st.tolerance && b-a <= st.tolerance {
			gv.Str = rv.Str
		}
	}
	return rv.encode(nil), gv.encode(nil), nil
}

func maskHello(v *value) {
	if v.Kind != '%' && v.Kind != '*' {
		return
	}
	for i := 0; i+1 < len(v.Elems); i += 2 {
		if k := v.Elems[i].Str; k == "id" || k == "version" {
			v.Elems[i+1].Str = "<masked>"
		}
	}
}

func maskAll(v *value) {
	if len(v.Elems) == 0 && !v.Null && v.Kind != '-' {
		v.Str = "?"
	}
	for _, e := range v.Elems {
		maskAll(e)
	}
}

func sortElems(v *value) {
	slices.SortFunc(v.Elems, func(a, b *value) int {
		return bytes.Compare(a.encode(nil), b.encode(nil))
	})
}

// TestDiffProtocolLimits compares the replies to inputs too large to write in a script: an
// inline command, a multibulk count and a bulk length each longer than 64 KiB without a
// newline (Redis: "too big inline request", "too big mbulk count string", "too big bulk
// count string", then close).
func TestDiffProtocolLimits(t *testing.T) {
	ref := &diffSide{p: startRedis(t)}
	sub := &diffSide{p: startSubject(t)}
	long := strings.Repeat("1", 70000)
	for _, tc := range []struct{ name, raw string }{
		{"inline", "PING " + strings.Repeat("a", 70000)},
		{"mbulk-count", "*" + long},
		{"bulk-length", "*1\r\n$" + long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := step{kind: "raw", raw: []byte(tc.raw), replies: 1, close: true}
			var out [2][]byte
			for i, d := range []*diffSide{ref, sub} {
				d.connect(t, 2)
				r, err := runStep(t, d, st)
				if err != nil {
					t.Fatalf("%s: %v (replies %q)", d.p.Name, err, joinReplies(r))
				}
				out[i] = r[0]
				d.conn.Close()
			}
			if !bytes.Equal(out[0], out[1]) {
				t.Errorf("redis: %q\n  %s: %q", out[0], sub.p.Name, out[1])
			}
		})
	}
}

// TestDiffHarness checks the harness's own pieces: the line splitter, the reply parser's
// round trip, and the normalisations.
func TestDiffHarness(t *testing.T) {
	split := func(line string, want ...string) {
		t.Helper()
		got, err := splitArgs(line)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", line, got, err, want)
		}
	}
	split(`SET k v`, "SET", "k", "v")
	split(`  a   "b c"  'd e' `, "a", "b c", "d e")
	split(`"\x41\n\r\t\"\\" ''`, "A\n\r\t\"\\", "")
	split(`'it\'s'`, "it's")
	if _, err := splitArgs(`"open`); err == nil {
		t.Errorf("unbalanced quotes accepted")
	}

	round := func(raw string) {
		t.Helper()
		v, err := parseValue([]byte(raw))
		if err != nil {
			t.Fatalf("parseValue(%q): %v", raw, err)
		}
		if got := string(v.encode(nil)); got != raw {
			t.Errorf("round trip %q -> %q", raw, got)
		}
		r, err := readReply(bufio.NewReader(strings.NewReader(raw + "+next\r\n")))
		if err != nil || string(r) != raw {
			t.Errorf("readReply(%q) = %q, %v", raw, r, err)
		}
	}
	round("+OK\r\n")
	round("-ERR x\r\n")
	round(":-5\r\n")
	round("$-1\r\n")
	round("*-1\r\n")
	round("_\r\n")
	round("$3\r\na\r\n\r\n")
	round("*2\r\n$1\r\na\r\n*1\r\n:1\r\n")
	round("%1\r\n$2\r\nid\r\n:7\r\n")
	round("~1\r\n,1.5\r\n")
	round("|1\r\n+key\r\n+val\r\n:1\r\n")
	round("=7\r\ntxt:abc\r\n")

	norm := func(st step, a, b string, equal bool) {
		t.Helper()
		an, bn, err := normalise(st, []byte(a), []byte(b))
		if err != nil {
			t.Fatalf("normalise(%q, %q): %v", a, b, err)
		}
		if bytes.Equal(an, bn) != equal {
			t.Errorf("normalise(%q, %q): equal = %v, want %v", a, b, !equal, equal)
		}
	}
	hello := func(version string, id int) string {
		return "%3\r\n$7\r\nversion\r\n$" + strconv.Itoa(len(version)) + "\r\n" + version +
			"\r\n$2\r\nid\r\n:" + strconv.Itoa(id) + "\r\n$5\r\nproto\r\n:3\r\n"
	}
	norm(step{maskHello: true}, hello("7.0.15", 3), hello("7.2.0", 12), true)
	norm(step{maskHello: true}, hello("7.0.15", 3), strings.Replace(hello("7.2.0", 12), ":3\r\n", ":2\r\n", 1), false)
	norm(step{mask: true}, "*2\r\n$10\r\n1700000000\r\n$5\r\n12345\r\n", "*2\r\n$10\r\n1700000001\r\n$6\r\n999999\r\n", true)
	norm(step{mask: true}, "*2\r\n$1\r\n1\r\n$1\r\n2\r\n", "*2\r\n:1\r\n$1\r\n2\r\n", false)
	norm(step{sorted: true}, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n$1\r\nb\r\n$1\r\na\r\n", true)
	norm(step{tolerance: 1000}, ":99999\r\n", ":99500\r\n", true)
	norm(step{tolerance: 1000}, ":99999\r\n", ":98000\r\n", false)
	norm(step{tolerance: 1000}, ":-2\r\n", ":-1\r\n", false)
	norm(step{tolerance: 1000}, ":5\r\n", ":-1\r\n", false)
	norm(step{}, "$1\r\na\r\n", "+a\r\n", false)
}
