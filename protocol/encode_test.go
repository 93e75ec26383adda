package protocol

import (
	"math"
	"testing"
)

func TestEncoders(t *testing.T) {
	f := func(got []byte, want string) {
		t.Helper()
		if string(got) != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	pre := []byte("x")
	f(AppendSimple(pre, "OK"), "x+OK\r\n")
	f(AppendSimpleBytes(nil, []byte("PONG")), "+PONG\r\n")
	f(AppendError(nil, "ERR bad"), "-ERR bad\r\n")
	f(AppendInt(nil, 0), ":0\r\n")
	f(AppendInt(nil, math.MinInt64), ":-9223372036854775808\r\n")
	f(AppendBulk(nil, []byte("ab")), "$2\r\nab\r\n")
	f(AppendBulk(nil, nil), "$0\r\n\r\n")
	f(AppendBulkString(nil, "héllo"), "$6\r\nhéllo\r\n")
	f(AppendBulkInt(nil, -42), "$3\r\n-42\r\n")
	f(AppendBulkInt(nil, math.MaxInt64), "$19\r\n9223372036854775807\r\n")
	f(AppendBulkHeader(nil, 10), "$10\r\n")
	f(AppendArrayLen(nil, 3), "*3\r\n")
	f(AppendNull(nil, RESP2), "$-1\r\n")
	f(AppendNull(nil, RESP3), "_\r\n")
	f(AppendNullArray(nil, RESP2), "*-1\r\n")
	f(AppendNullArray(nil, RESP3), "_\r\n")
	f(AppendMapLen(nil, RESP2, 3), "*6\r\n")
	f(AppendMapLen(nil, RESP3, 3), "%3\r\n")
	f(AppendSetLen(nil, RESP2, 2), "*2\r\n")
	f(AppendSetLen(nil, RESP3, 2), "~2\r\n")
	f(AppendPushLen(nil, RESP2, 3), "*3\r\n")
	f(AppendPushLen(nil, RESP3, 3), ">3\r\n")
	f(AppendAttrLen(nil, 1), "|1\r\n")
	f(AppendBool(nil, RESP3, true), "#t\r\n")
	f(AppendBool(nil, RESP3, false), "#f\r\n")
	f(AppendBool(nil, RESP2, true), ":1\r\n")
	f(AppendBool(nil, RESP2, false), ":0\r\n")
	f(AppendBigNumber(nil, RESP3, "-1234567890123456789012"), "(-1234567890123456789012\r\n")
	f(AppendBigNumber(nil, RESP2, "12"), "$2\r\n12\r\n")
	f(AppendVerbatim(nil, RESP3, "txt", []byte("hi")), "=6\r\ntxt:hi\r\n")
	f(AppendVerbatim(nil, RESP2, "txt", []byte("hi")), "$2\r\nhi\r\n")
	f(AppendBulkError(nil, RESP3, "ERR x"), "!5\r\nERR x\r\n")
	f(AppendBulkError(nil, RESP2, "ERR x"), "-ERR x\r\n")
	f(AppendCommand(nil, []byte("GET"), []byte("k")), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
	f(AppendCommand(nil), "*0\r\n")
	f(AppendCommandString(nil, "SET", "k", ""), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n")
}

// TestAppendDouble pins the texts redis-server 7.0.15 sends for ZSCORE (HELLO 3 and 2).
func TestAppendDouble(t *testing.T) {
	f := func(x float64, resp3, resp2 string) {
		t.Helper()
		if got := string(AppendDouble(nil, RESP3, x)); got != resp3 {
			t.Fatalf("%v RESP3: got %q, want %q", x, got, resp3)
		}
		if got := string(AppendDouble(nil, RESP2, x)); got != resp2 {
			t.Fatalf("%v RESP2: got %q, want %q", x, got, resp2)
		}
	}
	f(0.1, ",0.10000000000000001\r\n", "$19\r\n0.10000000000000001\r\n")
	f(1e21, ",1e+21\r\n", "$5\r\n1e+21\r\n")
	f(3, ",3\r\n", "$1\r\n3\r\n")
	f(-2.5, ",-2.5\r\n", "$4\r\n-2.5\r\n")
	f(1e-5, ",1.0000000000000001e-05\r\n", "$22\r\n1.0000000000000001e-05\r\n")
	f(1e16, ",10000000000000000\r\n", "$17\r\n10000000000000000\r\n")
	f(1e17, ",1e+17\r\n", "$5\r\n1e+17\r\n")
	f(math.Copysign(0, -1), ",-0\r\n", "$2\r\n-0\r\n")
	f(5e-324, ",4.9406564584124654e-324\r\n", "$23\r\n4.9406564584124654e-324\r\n")
	f(math.MaxFloat64, ",1.7976931348623157e+308\r\n", "$23\r\n1.7976931348623157e+308\r\n")
	f(math.Inf(1), ",inf\r\n", "$3\r\ninf\r\n")
	f(math.Inf(-1), ",-inf\r\n", "$4\r\n-inf\r\n")
	f(math.NaN(), ",nan\r\n", "$3\r\nnan\r\n")
}

func TestEncodersAllocs(t *testing.T) {
	dst := make([]byte, 0, 4096)
	val := []byte("value")
	a := testing.AllocsPerRun(100, func() {
		d := dst[:0]
		d = AppendSimple(d, "OK")
		d = AppendSimpleBytes(d, val)
		d = AppendError(d, "ERR x")
		d = AppendInt(d, -12345)
		d = AppendBulk(d, val)
		d = AppendBulkString(d, "s")
		d = AppendBulkInt(d, 99)
		d = AppendBulkHeader(d, 5)
		d = AppendArrayLen(d, 2)
		d = AppendNull(d, RESP2)
		d = AppendNullArray(d, RESP3)
		d = AppendMapLen(d, RESP2, 1)
		d = AppendSetLen(d, RESP3, 1)
		d = AppendPushLen(d, RESP3, 1)
		d = AppendAttrLen(d, 1)
		d = AppendDouble(d, RESP2, 0.1)
		d = AppendDouble(d, RESP3, math.Inf(1))
		d = AppendBool(d, RESP3, true)
		d = AppendBigNumber(d, RESP3, "1")
		d = AppendVerbatim(d, RESP3, "txt", val)
		d = AppendBulkError(d, RESP3, "ERR y")
		d = AppendCommand(d, val, val)
		d = AppendValue(d, Value{Kind: '*', Elems: []Value{{Kind: ':', Int: 1}}})
		dst = d
	})
	if a != 0 {
		t.Fatalf("%v allocs", a)
	}
}
