package command

import (
	"bytes"
	"testing"

	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// The replies are redis-server 7.0.15's (the differential scripts bitmaps.txt and lcs.txt
// cover far more); these pin the command layer's argument order and reply shapes.
func TestBitmapCommands(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("setbit b 7 1", ":0\r\n")
	f("setbit b 7 0", ":1\r\n")
	f("get b", "$1\r\n\x00\r\n")
	f("setbit b -1 1", "-ERR bit offset is not an integer or out of range\r\n")
	f("setbit b 4294967296 1", "-ERR bit offset is not an integer or out of range\r\n")
	f("setbit b -1 x", "-ERR bit offset is not an integer or out of range\r\n")
	f("setbit b 1 2", "-ERR bit is not an integer or out of range\r\n")
	f("setbit b 1", "-ERR wrong number of arguments for 'setbit' command\r\n")
	f("getbit missing 4294967295", ":0\r\n")
	f("getbit missing 4294967296", "-ERR bit offset is not an integer or out of range\r\n")
	f("set s foobar", "+OK\r\n")
	f("bitcount s", ":26\r\n")
	f("bitcount s 1 1", ":6\r\n")
	f("bitcount s 5 30 BIT", ":17\r\n")
	f("bitcount s 0", "-ERR syntax error\r\n")
	f("bitcount s a 1 x", "-ERR value is not an integer or out of range\r\n")
	f("bitcount s 0 1 x", "-ERR syntax error\r\n")
	f("bitcount missing 0", ":0\r\n") // Redis looks the key up before it parses the range
	f("bitpos s 1 2", ":17\r\n")
	f("bitpos s 2", "-ERR The bit argument must be 1 or 0.\r\n")
	f("bitpos missing 2", "-ERR The bit argument must be 1 or 0.\r\n")
	f("bitpos missing 1 0 1 x", ":-1\r\n")
	f("bitpos missing 0 a", ":0\r\n")
	f("bitpos s 1 0 a x", "-ERR syntax error\r\n")
	f("bitop not d s s", "-ERR BITOP NOT must be called with a single source key.\r\n")
	f("bitop nand d s", "-ERR syntax error\r\n")
	f("bitop not d s", ":6\r\n")
	f("bitop and d nokey", ":0\r\n")
	f("exists d", ":0\r\n")
	f("bitfield bf set u8 0 255 incrby u8 0 1 overflow fail incrby u8 0 -1", "*3\r\n:0\r\n:0\r\n$-1\r\n")
	f("bitfield_ro bf get u8 0 set u8 0 1", "-ERR BITFIELD_RO only supports the GET subcommand\r\n")
	f("bitfield_ro bf get u8 x set u8 0 1", "-ERR bit offset is not an integer or out of range\r\n")
	f("bitfield bf overflow what", "-ERR Invalid OVERFLOW type specified\r\n")
	f("set k1 ohmytext", "+OK\r\n")
	f("set k2 mynewtext", "+OK\r\n")
	f("lcs k1 k2", "$6\r\nmytext\r\n")
	f("lcs k1 k2 len", ":6\r\n")
	f("lcs k1 k2 idx minmatchlen 4 withmatchlen",
		"*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n")
	f("lcs k1 k2 len idx", "-ERR If you want both the length and indexes, please just use IDX.\r\n")
	h.c.Proto = protocol.RESP3
	f("bitfield bf overflow fail incrby u8 0 -1", "*1\r\n_\r\n")
	f("lcs k1 k2 idx minmatchlen 4",
		"%2\r\n$7\r\nmatches\r\n*1\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n$3\r\nlen\r\n:6\r\n")
}

func TestParseBitField(t *testing.T) {
	const limit = 512 << 20
	f := func(cmd string, wantOps int, wantRO bool, wantMsg string) {
		t.Helper()
		args := bytes.Split([]byte(cmd), []byte(" "))
		ops, ro, msg := parseBitField(args, limit, nil)
		if len(ops) != wantOps || ro != wantRO || msg != wantMsg {
			t.Errorf("%s: %d ops, ro %v, %q; want %d, %v, %q", cmd, len(ops), ro, msg, wantOps, wantRO, wantMsg)
		}
	}
	f("bitfield k", 0, true, "")
	f("bitfield k get u8 0 get i64 #3", 2, true, "")
	f("bitfield k overflow sat", 0, true, "")
	f("bitfield k get u8 0 set i8 1 -1 incrby u1 2 1", 3, false, "")
	f("bitfield k get u8", 0, true, errSyntax)
	f("bitfield k set u8 0", 0, true, errSyntax)
	f("bitfield k overflow", 0, true, errSyntax)
	f("bitfield k overflow x", 0, true, errOverflowType)
	f("bitfield k get u64 0", 0, true, errBitFieldType)
	f("bitfield k get i65 0", 0, true, errBitFieldType)
	f("bitfield k get u0 0", 0, true, errBitFieldType)
	f("bitfield k get i8 #", 0, true, errBitOffset)
	f("bitfield k get i8 4294967296", 0, true, errBitOffset)
	f("bitfield k get i8 #536870912", 0, true, errBitOffset)
	f("bitfield k get i8 #536870911", 1, true, "")
	f("bitfield k set i8 0 x", 0, false, errNotInt)
	if _, _, ok := parseBitFieldType([]byte("i8\x00junk")); !ok {
		t.Error("the width is read up to a NUL, as C's strlen does")
	}
}

// FuzzParseBitField: any arguments parse without panicking, and what parses is within the
// limits the engine relies on (widths, offsets below proto-max-bulk-len bytes).
func FuzzParseBitField(f *testing.F) {
	f.Add([]byte("get u8 0 set i64 #3 -1 overflow fail incrby u63 100 5"))
	f.Add([]byte("overflow sat get i1 #9223372036854775807"))
	f.Add([]byte("set u8 0"))
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1 << 20
		args := append([][]byte{[]byte("bitfield"), []byte("k")}, bytes.Fields(in)...)
		ops, ro, msg := parseBitField(args, limit, nil)
		if msg != "" {
			return
		}
		allGet := true
		for _, op := range ops {
			if op.Bits < 1 || op.Bits > 64 || (!op.Signed && op.Bits > 63) {
				t.Fatalf("width %d signed %v", op.Bits, op.Signed)
			}
			if op.Offset>>3 >= limit {
				t.Fatalf("offset %d beyond the limit", op.Offset)
			}
			if op.Kind != engine.BitFieldGet {
				allGet = false
			}
		}
		if ro != allGet {
			t.Fatalf("readonly %v with ops %+v", ro, ops)
		}
	})
}
