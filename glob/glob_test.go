package glob

import (
	"bytes"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	f := func(pattern, subject string, nocase, want bool) {
		t.Helper()
		if got := Match([]byte(pattern), []byte(subject), nocase); got != want {
			t.Fatalf("Match(%q, %q, nocase=%v) = %v, want %v", pattern, subject, nocase, got, want)
		}
		if got := MatchString(pattern, subject, nocase); got != want {
			t.Fatalf("MatchString(%q, %q, nocase=%v) = %v, want %v", pattern, subject, nocase, got, want)
		}
	}
	// Literals and '?'.
	f("", "", false, true)
	f("", "a", false, false)
	f("a", "", false, false)
	f("foo", "foo", false, true)
	f("foo", "fo", false, false)
	f("foo", "fooo", false, false)
	f("f?o", "fxo", false, true)
	f("f?o", "fo", false, false)
	f("???", "abc", false, true)
	// '*', consecutive stars; an empty subject matches nothing but the empty pattern
	// (Redis's loop never runs; KEYS * special-cases it before calling stringmatchlen).
	f("*", "", false, false)
	f("**", "", false, false)
	f("*", "anything", false, true)
	f("a*", "a", false, true)
	f("a**", "a", false, true)
	f("*a", "bba", false, true)
	f("*a", "bbab", false, false)
	f("a*b*c", "aXXbYYc", false, true)
	f("a*b*c", "aXXcYYb", false, false)
	f("h*llo", "hllo", false, true)
	f("h*llo", "heeeello", false, true)
	f("*o*o*", "foo", false, true)
	// Classes, as in Redis's KEYS tests (keyspace.tcl) and redis.io examples.
	f("h[ae]llo", "hello", false, true)
	f("h[ae]llo", "hallo", false, true)
	f("h[ae]llo", "hillo", false, false)
	f("h[^e]llo", "hallo", false, true)
	f("h[^e]llo", "hello", false, false)
	f("h[a-b]llo", "hbllo", false, true)
	f("h[a-b]llo", "hcllo", false, false)
	f("h[b-a]llo", "hallo", false, true) // reversed range
	f("[a-]", "_", false, true)          // "a-]" is the range ']'..'a', the class unterminated
	f("[a-]", "-", false, false)
	f("[a-]]", "-", false, false)
	f("[-a]", "-", false, true)
	f("[]", "]", false, false) // ']' right after '[' closes an empty class
	f("[]]", "]", false, false)
	f("[^]", "x", false, true)
	f("[\\]]", "]", false, true) // escaped ']' inside a class
	f("[\\-]", "-", false, true)
	f("[a\\-z]", "b", false, false)
	f("[abc", "b", false, true) // unterminated class runs to the end of the pattern
	f("[abc", "bc", false, false)
	f("a[", "a", false, false)
	f("a[", "ab", false, false)
	f("a[^", "ab", false, true)
	f("[\\", "\\", false, true) // trailing backslash in a class is literal
	// Escapes outside classes.
	f("\\*", "*", false, true)
	f("\\*", "a", false, false)
	f("\\?", "?", false, true)
	f("a\\", "a\\", false, true) // trailing backslash is literal
	f("\\[a]", "[a]", false, true)
	// Bytes >= 0x80 compare as signed char in ranges.
	f("[a-\xff]", "0", false, true)
	f("[a-\xff]", "b", false, false)
	f("[a-\xff]", "\x80", false, false)
	f("[\x80-\xff]", "\x90", false, true)
	f("\xff", "\xff", false, true)
	// nocase folds ASCII only.
	f("HELLO", "hello", true, true)
	f("HELLO", "hello", false, false)
	f("h[A-C]llo", "hbllo", true, true)
	f("h[A-C]llo", "hbllo", false, false)
	f("[^A]", "a", true, false)
	f("maxmemory*", "MAXMEMORY-POLICY", true, true)
	f("\xc4", "\xe4", true, false)
	// The nesting guard: "a*" x n matches a long run of 'a' up to n = 1001 stars, as
	// redis-server 7.0.15 does; n = 1002 needs 1001 nested frames and fails.
	long := strings.Repeat("a", 1200)
	f(strings.Repeat("a*", 1001), long, false, true)
	f(strings.Repeat("a*", 1002), long, false, false)
}

// Adversarial patterns finish: without Redis's skipLongerMatches these are exponential.
func TestMatchAdversarial(t *testing.T) {
	f := func(pattern, subject string, want bool) {
		t.Helper()
		if got := Match([]byte(pattern), []byte(subject), false); got != want {
			t.Fatalf("Match(%.40q..., %.40q...) = %v, want %v", pattern, subject, got, want)
		}
	}
	f(strings.Repeat("a*", 40)+"b", strings.Repeat("a", 200), false)
	f(strings.Repeat("*a", 40)+"*b", strings.Repeat("a", 200), false)
	f(strings.Repeat("*?", 30)+"b", strings.Repeat("a", 200), false)
	f(strings.Repeat("a*", 40)+"b", strings.Repeat("a", 200)+"b", true)
}

func TestMatchAllocs(t *testing.T) {
	p, s := []byte("h*[a-z]l?o\\*"), []byte("heeeello*")
	if n := testing.AllocsPerRun(100, func() { Match(p, s, true) }); n != 0 {
		t.Fatalf("Match allocates %v times", n)
	}
	ps, ss := string(p)+"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", string(s)
	if n := testing.AllocsPerRun(100, func() { MatchString(ps, ss, true) }); n != 0 {
		t.Fatalf("MatchString allocates %v times", n)
	}
}

// FuzzMatch: any pattern and subject terminate without a panic, and a few algebraic facts
// hold.
func FuzzMatch(f *testing.F) {
	f.Add([]byte("a*a*a*a*a*a*a*a*b"), []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), false)
	f.Add([]byte("[^a-z\\]]*?\\"), []byte("x]y\\"), true)
	f.Add([]byte("[abc"), []byte("c"), false)
	f.Fuzz(func(t *testing.T, pattern, subject []byte, nocase bool) {
		got := Match(pattern, subject, nocase)
		if !nocase && Match(pattern, subject, true) != got && !hasLetter(pattern, subject) {
			t.Fatalf("nocase changed the result without letters")
		}
		// (Far from the nesting guard, one more leading star cannot lose a match.)
		if len(subject) > 0 && bytes.Count(pattern, []byte("*")) < maxNesting/2 && !Match(append([]byte("*"), pattern...), append([]byte("x"), subject...), nocase) && got && len(pattern) > 0 && pattern[0] != '*' {
			t.Fatalf("a leading '*' lost a match")
		}
	})
}

func hasLetter(bs ...[]byte) bool {
	for _, b := range bs {
		for _, c := range b {
			if lower(c) != c || (c >= 'a' && c <= 'z') {
				return true
			}
		}
	}
	return false
}
