package numtext

import (
	"strconv"
	"testing"
)

func TestParseInt(t *testing.T) {
	f := func(s string, want int64, ok bool) {
		t.Helper()
		got, gotOK := ParseInt([]byte(s))
		if got != want || gotOK != ok {
			t.Fatalf("ParseInt(%q) = %d, %v; want %d, %v", s, got, gotOK, want, ok)
		}
	}
	f("0", 0, true)
	f("-1", -1, true)
	f("123", 123, true)
	f("9223372036854775807", 9223372036854775807, true)
	f("-9223372036854775808", -9223372036854775808, true)
	f("9223372036854775808", 0, false)
	f("-9223372036854775809", 0, false)
	f("18446744073709551616", 0, false)
	f("", 0, false)
	f("-", 0, false)
	f("-0", 0, false)
	f("007", 0, false)
	f("+1", 0, false)
	f(" 1", 0, false)
	f("1 ", 0, false)
	f("1.0", 0, false)
	f("123456789012345678901", 0, false)
}

// FuzzParseInt: whatever ParseInt accepts, strconv reads as the same number and prints back
// as the same bytes (string2ll accepts exactly the canonical decimal forms of int64).
func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"0", "-1", "01", "+1", "-0", "9223372036854775807", "-9223372036854775808", "9223372036854775808", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := ParseInt(b)
		want, err := strconv.ParseInt(string(b), 10, 64)
		canonical := err == nil && strconv.FormatInt(want, 10) == string(b)
		if ok != canonical || ok && v != want {
			t.Fatalf("ParseInt(%q) = %d, %v; strconv: %d, %v (canonical %v)", b, v, ok, want, err, canonical)
		}
	})
}

func BenchmarkParseInt(b *testing.B) {
	in := []byte("-1234567890123")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseInt(in); !ok {
			b.Fatal("rejected")
		}
	}
}
