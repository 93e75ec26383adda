// Package protocol parses RESP2/RESP3 and inline commands and encodes replies.
// It knows nothing of commands, the keyspace or sockets.
//
// The server side (Parser, the Append* encoders) follows Redis 7.0's networking.c byte for
// byte, quirks included; the client side (ReadValue, Reader, AppendValue, AppendCommand)
// serves tests and the load generator.
package protocol

import "math"

// Version is the RESP version a connection speaks (HELLO 2 / HELLO 3).
type Version uint8

const (
	RESP2 Version = 2
	RESP3 Version = 3
)

// Limits bounds what one command may make the server hold (DESIGN invariant 6).
type Limits struct {
	MaxBulkLen      int64 // proto-max-bulk-len in bytes; default 512 MiB
	MaxMultibulkLen int64 // most arguments in one command; default math.MaxInt32, Redis's INT_MAX check
	// MaxInlineLen is the longest inline command line in bytes, and also how far the parser
	// looks for the end of a "*<count>" or "$<len>" line before it gives up; Redis uses
	// PROTO_INLINE_MAX_SIZE (64 KiB) for both. Default 64 KiB.
	MaxInlineLen int
}

// DefaultLimits are Redis's defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxBulkLen:      512 << 20,
		MaxMultibulkLen: math.MaxInt32,
		MaxInlineLen:    64 << 10,
	}
}

// ProtocolError is a malformed-input error; Error() is the exact Redis reply text without the
// leading '-', e.g. "ERR Protocol error: invalid bulk length". After replying with it the
// connection is closed, as Redis does.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return e.Msg }

// The fixed protocol errors, shared so that the error path allocates nothing either.
var (
	errTooBigInline     = &ProtocolError{"ERR Protocol error: too big inline request"}
	errUnbalancedQuotes = &ProtocolError{"ERR Protocol error: unbalanced quotes in request"}
	errTooBigMbulkCount = &ProtocolError{"ERR Protocol error: too big mbulk count string"}
	errInvalidMbulkLen  = &ProtocolError{"ERR Protocol error: invalid multibulk length"}
	errTooBigBulkCount  = &ProtocolError{"ERR Protocol error: too big bulk count string"}
	errInvalidBulkLen   = &ProtocolError{"ERR Protocol error: invalid bulk length"}
)

// errExpectedDollar is Redis's "expected '$', got '%c'" with the raw byte, except that
// '\r' and '\n' become ' ' as addReplyErrorFormat makes them (a reply line cannot hold them).
func errExpectedDollar(c byte) *ProtocolError {
	if c == '\r' || c == '\n' {
		c = ' '
	}
	return &ProtocolError{"ERR Protocol error: expected '$', got '" + string([]byte{c}) + "'"}
}
