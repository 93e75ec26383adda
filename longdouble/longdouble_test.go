package longdouble

import "testing"

func TestAdd(t *testing.T) {
	// f adds the two numbers as INCRBYFLOAT does; want "" means refused. The expectations are
	// replies of the reference redis-server (x86-64, 80-bit long double).
	f := func(a, b, want string) {
		t.Helper()
		x, ok1 := Parse([]byte(a))
		y, ok2 := Parse([]byte(b))
		got := ""
		if ok1 && ok2 {
			if r, ok := Add(x, y); ok {
				got = string(r.AppendHuman(nil))
			}
		}
		if got != want {
			t.Errorf("%s + %s = %q, want %q", a, b, got, want)
		}
	}
	f("0", "10.5", "10.5")
	f("10.5", "0.1", "10.6")
	f("5.6", "2.0e2", "205.60000000000000001")
	f("205.60000000000000001", "5.0e3", "5205.60000000000000009")
	f("0.1", "0.2", "0.3")
	f("1", "-1", "0")
	f("0", "-0", "0")
	f("-1", "0.5", "-0.5")
	f("0", "1e200", "100000000000000000002458586534161025661508068040050002887327500487325785432383926208372890736129198739813658147359652238566592960617854587787845326097835852628442219969983473365844529789269081145212928")
	f("9223372036854775807", "1", "9223372036854775808")
	f("0", "1e308", "99999999999999999996685879655845645660560099847415567207797047994921734868838061872100126921888539320446747225054013223152134749593960583597420814430196418767959100019603190778663109604507106667939153395788938914560543563061268364901618630217086589253444881623791300855757318142424510452728255046343928578048")
	f("0", "0x10", "16")
	f("0", "0x1.8p1", "3")
	f("0", ".5", "0.5")
	f("0", "5.", "5")
	f("0", "1E3", "1000")
	f("0", "+2", "2")
	f("0", "-1e-30", "0") // "-0.00000000000000000" prints as "0"
	f("0", "inf", "")
	f("0", "-Infinity", "")
	f("inf", "-inf", "")
	f("0", "nan", "")
	f("0", "", "")
	f("0", " 1", "")
	f("0", "1 ", "")
	f("0", "1\x00", "") // an embedded NUL is refused (checked on redis-server 7.0.15)
	f("0", "1e", "")
	f("0", "e5", "")
	f("0", ".", "")
	f("0", "-", "")
	f("0", "0x", "")
	f("0", "0b101", "")
	f("0", "1_000", "")
	f("0", "0x1_0", "")
	f("0", "1e5000", "")  // overflow
	f("0", "1e-5000", "") // underflow to zero
	if _, ok := Parse([]byte("1e4000")); !ok {
		t.Error("1e4000 refused")
	}
	f("1e4932", "1e4932", "") // the sum overflows
}

func TestZeroValueAndInf(t *testing.T) {
	f := func(v Value, want string) {
		t.Helper()
		if got := string(v.AppendHuman([]byte("x"))); got != "x"+want {
			t.Errorf("AppendHuman = %q, want %q", got, "x"+want)
		}
	}
	f(Value{}, "0")
	if s, ok := Add(Value{}, Value{}); !ok {
		t.Error("0+0 refused")
	} else {
		f(s, "0")
	}
	inf, _ := Parse([]byte("-INF"))
	f(inf, "-inf")
	inf, _ = Parse([]byte("Infinity"))
	f(inf, "inf")
	long := make([]byte, MaxChars)
	for i := range long {
		long[i] = '1'
	}
	if _, ok := Parse(long); ok {
		t.Error("MaxChars digits accepted")
	}
	if _, ok := Parse(long[:MaxChars-1]); ok {
		t.Error("a 5119-digit number is beyond long double's range and must be refused")
	}
}
