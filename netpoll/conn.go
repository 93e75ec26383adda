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
	// (invariant 3). iov holds its pieces when it is large (write).
	out []byte
	iov [][]byte

	bytesIn, bytesOut atomic.Int64

	// outPending is true while gnet still holds reply bytes the peer has not read.
	outPending atomic.Bool
	// woken is true while a Wake is outstanding, so yielding never queues more than one.
	woken bool

	// The fields below belong to the event loop, like the buffers, except evicting.

	loop *loopState
	idx  int // position in loop.conns
	// lastIO is when the client last sent bytes or read replies, ms since the epoch (the
	// idle timeout's clock, Redis's lastinteraction); lastOut is the unsent reply bytes the
	// sweep saw last, so a backlog that shrinks counts as the client reading.
	lastIO  int64
	lastOut int
	// softSince is when the unsent replies first reached the soft output limit, ms since the
	// epoch; 0 while under it.
	softSince int64
	// closing is set once a close was asked for (limit, timeout), so it is counted and
	// logged once.
	closing bool
	// pub* are the sizes last published to the client and to the loop's total (account).
	pubQbuf, pubOut, pubTotal int
	// peakBuf is the largest capacity its input or reply buffer ever reached, in bytes. Such
	// a buffer is garbage once trimmed; closing a client that had a large one asks for the
	// memory back (sweep.go) even when it held little at the close.
	peakBuf int
	// evicting is set by the client evictor (another goroutine) when it picks this client.
	evicting atomic.Bool
	// pauseWait is set while a client pause holds this connection's next command back;
	// the unpause hook (another goroutine) clears it and wakes the connection (pause.go).
	pauseWait atomic.Bool
	// limitClosed is set by whoever closes the client over its output limit first (a batch,
	// the sweep, or a pusher: push.go), so the close is counted and logged once.
	limitClosed atomic.Bool
}

// memory returns the bytes this connection holds: its input and reply buffers, the replies
// gnet has not sent yet (outbound), and the command layer's scratch space.
func (c *conn) memory(outbound int) int {
	return cap(c.pending) + cap(c.out) + outbound + c.client.BufferMemory()
}

// outChunk is the largest piece of a batch's replies handed to gnet in one slice. What the
// peer does not take at once, gnet copies into pooled buffers rounded up to a power of two:
// a 5 MiB batch would hold 8 MiB. Pieces of a power-of-two size keep the backlog's memory
// close to its length, so client-output-buffer-limit bounds what it really costs.
const outChunk = 256 << 10

// write hands the batch's replies to gnet: in one piece when small (the common case), else
// as outChunk pieces in one Writev.
func (c *conn) write() (int, error) {
	if len(c.out) <= outChunk {
		return c.gc.Write(c.out)
	}
	c.iov = c.iov[:0]
	for b := c.out; len(b) > 0; {
		n := min(len(b), outChunk)
		c.iov = append(c.iov, b[:n])
		b = b[n:]
	}
	n, err := c.gc.Writev(c.iov)
	clear(c.iov) // drop the references to c.out
	return n, err
}

func trim(b []byte) []byte {
	if cap(b) > keepBufCap {
		return nil
	}
	return b[:0]
}
