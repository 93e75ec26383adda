package upstream

import (
	"bytes"

	"github.com/sidecache/sidecache/engine"
	"github.com/sidecache/sidecache/numtext"
	"github.com/sidecache/sidecache/protocol"
)

// The cached reads, and how each answers from what the L1 knows of its keys. One function
// per command answers both from an L1 entry (on the event loop, arena bytes) and from a
// fetched result (on a goroutine), so a hit and a miss answer alike.

// op is a cached read, or opForward for everything else.
type op uint8

const (
	opForward op = iota
	opGet
	opMGet
	opExists
	opStrlen
	opGetRange
	opHGet
	opHMGet
	opHGetAll
	opHExists
	opHLen
)

// kind is what a fetch asks the upstream for a key.
type kind uint8

const (
	kindString kind = iota // PTTL + GET
	kindExists             // PTTL
	kindHash               // PTTL + HGETALL
)

// opOf returns the cached read named name (lower case), opForward for the others.
func opOf(name string) op {
	switch name {
	case "get":
		return opGet
	case "mget":
		return opMGet
	case "exists":
		return opExists
	case "strlen":
		return opStrlen
	case "getrange", "substr":
		return opGetRange
	case "hget":
		return opHGet
	case "hmget":
		return opHMGet
	case "hgetall":
		return opHGetAll
	case "hexists":
		return opHExists
	case "hlen":
		return opHLen
	}
	return opForward
}

// kind returns what a fetch for o asks for.
func (o op) kind() kind {
	switch o {
	case opExists:
		return kindExists
	case opHGet, opHMGet, opHGetAll, opHExists, opHLen:
		return kindHash
	}
	return kindString
}

// multiKey reports whether o's keys are args[1:] (else args[1] only).
func (o op) multiKey() bool { return o == opMGet || o == opExists }

// argsOK checks the arguments a cached read parses itself, before any key is looked at
// (as Redis does), and returns the error reply text or "".
func argsOK(o op, args [][]byte) string {
	if o == opGetRange {
		if _, ok := numtext.ParseInt(args[2]); !ok {
			return errNotInt
		}
		if _, ok := numtext.ParseInt(args[3]); !ok {
			return errNotInt
		}
	}
	return ""
}

const (
	errNotInt = "ERR value is not an integer or out of range"
)

var errWrongType = engine.ErrWrongType.Error()

// result is what a fetch learnt of one key.
type result struct {
	tag    byte     // tagValue, tagAbsent, tagNotString, tagExists, tagHash, tagBigHash; 0 for an error
	val    []byte   // tagValue: the string
	fields [][]byte // tagHash, tagBigHash: field, value, field, value ... in the upstream's order
	err    string   // tag 0: the error reply's text
}

// appendStringRead appends the reply of a single-key string read (GET, STRLEN, GETRANGE)
// to a key in state tag holding val; a key of another type answers WRONGTYPE.
func appendStringRead(out []byte, o op, tag byte, val []byte, args [][]byte, proto protocol.Version) []byte {
	switch tag {
	case tagValue:
	case tagAbsent:
		val = nil
	default: // tagNotString, tagBigHash, tagHash
		return protocol.AppendError(out, errWrongType)
	}
	switch o {
	case opGet:
		if tag == tagAbsent {
			return protocol.AppendNull(out, proto)
		}
		return protocol.AppendBulk(out, val)
	case opStrlen:
		return protocol.AppendInt(out, int64(len(val)))
	case opGetRange:
		start, _ := numtext.ParseInt(args[2])
		end, _ := numtext.ParseInt(args[3])
		return appendRange(out, val, start, end)
	}
	return out
}

// appendRange appends GETRANGE's reply for val.
func appendRange(out, val []byte, start, end int64) []byte {
	return protocol.AppendBulk(out, engine.Substr(val, start, end))
}

// appendMGetElem appends one element of an MGET reply: the string, or a null for a missing
// key or one of another type.
func appendMGetElem(out []byte, tag byte, val []byte, proto protocol.Version) []byte {
	if tag == tagValue {
		return protocol.AppendBulk(out, val)
	}
	return protocol.AppendNull(out, proto)
}

// appendHashRead appends the reply of a hash read from a fetched result (fields in the
// upstream's order). Hits on L1 hashes are answered by the engine (conn.go).
func appendHashRead(out []byte, o op, r *result, args [][]byte, proto protocol.Version) []byte {
	switch r.tag {
	case tagHash, tagBigHash, tagAbsent:
	default:
		return protocol.AppendError(out, errWrongType)
	}
	fv := r.fields
	switch o {
	case opHGet:
		if v, ok := field(fv, args[2]); ok {
			return protocol.AppendBulk(out, v)
		}
		return protocol.AppendNull(out, proto)
	case opHMGet:
		out = protocol.AppendArrayLen(out, len(args)-2)
		for _, f := range args[2:] {
			if v, ok := field(fv, f); ok {
				out = protocol.AppendBulk(out, v)
			} else {
				out = protocol.AppendNull(out, proto)
			}
		}
		return out
	case opHGetAll:
		out = protocol.AppendMapLen(out, proto, len(fv)/2)
		for _, b := range fv {
			out = protocol.AppendBulk(out, b)
		}
		return out
	case opHExists:
		_, ok := field(fv, args[2])
		return protocol.AppendInt(out, b2i(ok))
	case opHLen:
		return protocol.AppendInt(out, int64(len(fv)/2))
	}
	return out
}

func field(fv [][]byte, f []byte) ([]byte, bool) {
	for i := 0; i+1 < len(fv); i += 2 {
		if bytes.Equal(fv[i], f) {
			return fv[i+1], true
		}
	}
	return nil, false
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// appendResults appends the reply of a cached read whose keys' states are res (one per key,
// in order).
func appendResults(out []byte, o op, res []result, args [][]byte, proto protocol.Version) []byte {
	for i := range res {
		if res[i].tag == 0 {
			return protocol.AppendError(out, res[i].err)
		}
	}
	switch o {
	case opGet, opStrlen, opGetRange:
		return appendStringRead(out, o, res[0].tag, res[0].val, args, proto)
	case opMGet:
		out = protocol.AppendArrayLen(out, len(res))
		for i := range res {
			out = appendMGetElem(out, res[i].tag, res[i].val, proto)
		}
		return out
	case opExists:
		n := int64(0)
		for i := range res {
			if res[i].tag != tagAbsent {
				n++
			}
		}
		return protocol.AppendInt(out, n)
	}
	return appendHashRead(out, o, &res[0], args, proto)
}
