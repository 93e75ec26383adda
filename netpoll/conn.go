package netpoll

import (
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/sidecache/sidecache/command"
	"github.com/sidecache/sidecache/protocol"
)

// Buffers kept between batches are trimmed back to this capacity, so an idle connection costs
// little however large its biggest command or reply was.
const keepBufCap = 64 << 10

// maxBatchReply bounds the reply bytes one batch builds before it writes them and yields the
// rest of its commands to a later turn of the loop (via Wake), so one client pipelining large
// replies cannot make the server hold them all at once.
const maxBatchReply = 4 << 20

// conn is the state of one connection. Only its event loop touches it, except outPending,
// which the shutdown drain reads from another goroutine.
type conn struct {
	gc     gnet.Conn
	client *command.Client
	parser *protocol.Parser

	// pending holds input that outlives its batch: the start of an incomplete command, or
	// complete commands left for the next turn. It is the connection's own copy (invariant 2:
	// nothing borrowed from gnet is kept past OnTraffic).
	pending []byte
	// out collects the replies of one batch: every reply of a read goes out in one Write
	// (invariant 3).
	out []byte

	bytesIn, bytesOut atomic.Int64

	// outPending is true while gnet still holds reply bytes the peer has not read.
	outPending atomic.Bool
	// woken is true while a Wake is outstanding, so yielding never queues more than one.
	woken bool
}

// clientMemory is what this connection's buffers hold, for client limits and INFO.
func (c *conn) clientMemory() int {
	return cap(c.pending) + cap(c.out)
}

func trim(b []byte) []byte {
	if cap(b) > keepBufCap {
		return nil
	}
	return b[:0]
}
