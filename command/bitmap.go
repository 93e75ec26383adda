package command

import (
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

// Bitmap commands, following bitops.c. Redis 7.2 (like 7.0) looks BITCOUNT's key up before
// it parses the range, and BITPOS's after the bit but before the range: a missing key
// answers 0 (BITPOS: its default) even when the range is malformed, and a key of another type
// answers WRONGTYPE first. The handlers keep that order.

const (
	errBitOffset = "ERR bit offset is not an integer or out of range"
	errBitValue  = "ERR bit is not an integer or out of range"
	errBitArg    = "ERR The bit argument must be 1 or 0."
)

// parseBitOffset is getBitOffsetFromArgument: a bit offset, or with hash (BITFIELD) "#n",
// meaning n*bits (multiplied with C's wrap-around, then range checked). limit is
// proto-max-bulk-len: offset>>3 must stay below it.
func parseBitOffset(arg []byte, hash bool, bits int, limit int64) (uint64, bool) {
	usehash := hash && bits > 0 && len(arg) > 0 && arg[0] == '#'
	if usehash {
		arg = arg[1:]
	}
	v, ok := parseInt(arg)
	if !ok {
		return 0, false
	}
	if usehash {
		v *= int64(bits)
	}
	if v < 0 || v>>3 >= limit {
		return 0, false
	}
	return uint64(v), true
}

func cmdSetBit(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	off, ok := parseBitOffset(args[2], false, 0, s.eng.MaxValueSize())
	if !ok {
		return appendErr(out, errBitOffset)
	}
	on, ok := parseInt(args[3])
	if !ok || on&^1 != 0 {
		return appendErr(out, errBitValue)
	}
	old, err := s.db(c).SetBit(args[1], off, on == 1, now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, int64(old))
}

func cmdGetBit(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	off, ok := parseBitOffset(args[2], false, 0, s.eng.MaxValueSize())
	if !ok {
		return appendErr(out, errBitOffset)
	}
	bit, err := s.db(c).GetBit(args[1], off, now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, int64(bit))
}

// parseBitUnit reads BYTE or BIT (case-insensitive): bit reports BIT.
func parseBitUnit(arg []byte) (bit, ok bool) {
	switch {
	case eqFold(arg, "bit"):
		return true, true
	case eqFold(arg, "byte"):
		return false, true
	}
	return false, false
}

// parseBitCountRange parses BITCOUNT's [start end [BYTE|BIT]], returning the error text
// Redis would give ("" for none) in its order: start, end, then the unit.
func parseBitCountRange(args [][]byte) (engine.BitRange, string) {
	var r engine.BitRange
	switch len(args) {
	case 2:
		return r, ""
	case 4, 5:
	default:
		return r, errSyntax
	}
	var ok bool
	if r.Start, ok = parseInt(args[2]); !ok {
		return r, errNotInt
	}
	if r.End, ok = parseInt(args[3]); !ok {
		return r, errNotInt
	}
	// Redis 7.0 answers 0 for two negative bounds in the wrong order before it looks at
	// the unit (bitcountCommand), so "BITCOUNT k -6 -8 WORD" is 0, not a syntax error;
	// the range is empty in either unit.
	if len(args) == 5 && !(r.Start < 0 && r.End < 0 && r.Start > r.End) {
		if r.Bit, ok = parseBitUnit(args[4]); !ok {
			return r, errSyntax
		}
	}
	r.HasStart, r.HasEnd = true, true
	return r, ""
}

// parseBitPosRange parses BITPOS's [start [end [BYTE|BIT]]] in Redis's order: start, the
// unit, then end.
func parseBitPosRange(args [][]byte) (engine.BitRange, string) {
	var r engine.BitRange
	switch len(args) {
	case 3:
		return r, ""
	case 4, 5, 6:
	default:
		return r, errSyntax
	}
	var ok bool
	if r.Start, ok = parseInt(args[3]); !ok {
		return r, errNotInt
	}
	if len(args) == 6 {
		if r.Bit, ok = parseBitUnit(args[5]); !ok {
			return r, errSyntax
		}
	}
	if len(args) >= 5 {
		if r.End, ok = parseInt(args[4]); !ok {
			return r, errNotInt
		}
		r.HasEnd = true
	}
	r.HasStart = true
	return r, ""
}

// noValue is a Get callback for a lookup that only wants the key's existence and type.
func noValue([]byte) {}

// appendLookupThenErr is the reply when the arguments are bad but Redis looks the key up
// first: WRONGTYPE for another type, def for a missing key, else the argument error.
func (s *Server) appendLookupThenErr(c *Client, key []byte, now int64, def int64, msg string, out []byte) []byte {
	found, err := s.db(c).Get(key, now, noValue)
	switch {
	case err != nil:
		return appendEngineErr(out, err)
	case !found:
		return protocol.AppendInt(out, def)
	}
	return appendErr(out, msg)
}

func cmdBitCount(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	r, msg := parseBitCountRange(args)
	if msg != "" {
		return s.appendLookupThenErr(c, args[1], now, 0, msg, out)
	}
	n, err := s.db(c).BitCount(args[1], r, now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, n)
}

func cmdBitPos(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	bit, ok := parseInt(args[2])
	if !ok {
		return appendErr(out, errNotInt)
	}
	if bit != 0 && bit != 1 {
		return appendErr(out, errBitArg)
	}
	r, msg := parseBitPosRange(args)
	if msg != "" {
		return s.appendLookupThenErr(c, args[1], now, -bit, msg, out)
	}
	pos, err := s.db(c).BitPos(args[1], int(bit), r, now)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, pos)
}

func cmdBitOp(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var op engine.BitOpKind
	switch name := args[1]; {
	case eqFold(name, "and"):
		op = engine.BitAnd
	case eqFold(name, "or"):
		op = engine.BitOr
	case eqFold(name, "xor"):
		op = engine.BitXor
	case eqFold(name, "not"):
		op = engine.BitNot
	default:
		return appendErr(out, errSyntax)
	}
	if op == engine.BitNot && len(args) != 4 {
		return appendErr(out, "ERR BITOP NOT must be called with a single source key.")
	}
	n, buf, err := s.db(c).BitOp(op, args[2], args[3:], now, c.scratch[:0])
	c.keepScratch(buf)
	if err != nil {
		return appendEngineErr(out, err)
	}
	return protocol.AppendInt(out, n)
}
