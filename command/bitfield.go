package command

import (
	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/protocol"
)

const (
	errBitFieldType = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
	errOverflowType = "ERR Invalid OVERFLOW type specified"
	errBitFieldRO   = "ERR BITFIELD_RO only supports the GET subcommand"
)

// parseBitFieldType is getBitfieldTypeFromArgument: "i1".."i64" or "u1".."u63". The width
// is read as C's strlen sees it, up to a NUL byte.
func parseBitFieldType(arg []byte) (signed bool, bits int, ok bool) {
	if len(arg) == 0 {
		return false, 0, false
	}
	switch arg[0] {
	case 'i':
		signed = true
	case 'u':
	default:
		return false, 0, false
	}
	n, ok := parseInt(cString(arg[1:], len(arg)))
	if !ok || n < 1 || (signed && n > 64) || (!signed && n > 63) {
		return false, 0, false
	}
	return signed, int(n), true
}

// parseBitField parses BITFIELD's operations (args[2:]) into ops, as bitfieldGeneric does
// before it touches the key, and returns them with the error text for the first bad
// argument ("" if none). limit is proto-max-bulk-len for the offsets. readonly reports
// that every operation is a GET.
func parseBitField(args [][]byte, limit int64, ops []engine.BitFieldOp) (_ []engine.BitFieldOp, readonly bool, msg string) {
	overflow := engine.OverflowWrap
	readonly = true
	for j := 2; j < len(args); j++ {
		rem := len(args) - j - 1
		var kind engine.BitFieldKind
		switch sub := args[j]; {
		case eqFold(sub, "get") && rem >= 2:
			kind = engine.BitFieldGet
		case eqFold(sub, "set") && rem >= 3:
			kind = engine.BitFieldSet
		case eqFold(sub, "incrby") && rem >= 3:
			kind = engine.BitFieldIncrBy
		case eqFold(sub, "overflow") && rem >= 1:
			j++
			switch mode := args[j]; {
			case eqFold(mode, "wrap"):
				overflow = engine.OverflowWrap
			case eqFold(mode, "sat"):
				overflow = engine.OverflowSat
			case eqFold(mode, "fail"):
				overflow = engine.OverflowFail
			default:
				return ops, readonly, errOverflowType
			}
			continue
		default:
			return ops, readonly, errSyntax
		}
		signed, bits, ok := parseBitFieldType(args[j+1])
		if !ok {
			return ops, readonly, errBitFieldType
		}
		off, ok := parseBitOffset(args[j+2], true, bits, limit)
		if !ok {
			return ops, readonly, errBitOffset
		}
		op := engine.BitFieldOp{Kind: kind, Signed: signed, Bits: uint8(bits), Overflow: overflow, Offset: off}
		if kind != engine.BitFieldGet {
			readonly = false
			if op.Arg, ok = parseInt(args[j+3]); !ok {
				return ops, readonly, errNotInt
			}
			j++
		}
		ops = append(ops, op)
		j += 2
	}
	return ops, readonly, ""
}

func cmdBitField(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.bitField(c, args, now, out, false)
}

func cmdBitFieldRO(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return s.bitField(c, args, now, out, true)
}

// bitField is bitfieldGeneric: every argument is checked before the key is looked up;
// BITFIELD_RO refuses SET and INCRBY after that parse.
func (s *Server) bitField(c *Client, args [][]byte, now int64, out []byte, ro bool) []byte {
	var buf [8]engine.BitFieldOp // most commands carry a few operations
	ops, readonly, msg := parseBitField(args, s.eng.MaxValueSize(), buf[:0])
	if msg != "" {
		return appendErr(out, msg)
	}
	if ro && !readonly {
		return appendErr(out, errBitFieldRO)
	}
	if err := s.db(c).BitField(args[1], ops, now); err != nil {
		return appendEngineErr(out, err)
	}
	out = protocol.AppendArrayLen(out, len(ops))
	for k := range ops {
		if ops[k].Fail {
			out = protocol.AppendNull(out, c.Proto)
		} else {
			out = protocol.AppendInt(out, ops[k].Result)
		}
	}
	return out
}
