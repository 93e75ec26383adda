package loadgen

import (
	"fmt"
	"net"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// dialTimeout bounds connecting to a target; reads have no deadline (Run closes a connection
// that stops answering, which ends its read).
const dialTimeout = 5 * time.Second

// netTarget is any RESP server reached over TCP or a Unix socket.
type netTarget struct {
	label, network, addr string
	onClose              func() error // stops what the target started (the echo server)
	echo                 *Echo        // the echo server of an echo target
}

func (t *netTarget) Name() string { return t.label }

func (t *netTarget) Connect() (Conn, error) {
	c, err := net.DialTimeout(t.network, t.addr, dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.label, err)
	}
	return newNetConn(c), nil
}

func (t *netTarget) Close() error {
	if t.onClose != nil {
		return t.onClose()
	}
	return nil
}

// netConn speaks RESP2 over one connection: a batch is encoded into one buffer, written with
// one Write, and its replies are read in order. Both buffers are reused, so a batch allocates
// nothing once they have grown to the batch's size.
type netConn struct {
	c   net.Conn
	rd  *protocol.Reader
	out []byte
}

func newNetConn(c net.Conn) *netConn {
	return &netConn{c: c, rd: protocol.NewReader(c), out: make([]byte, 0, 4096)}
}

func (c *netConn) Do(now int64, ops []Op, out []Reply) error {
	b := c.out[:0]
	for i := range ops {
		b = AppendOp(b, &ops[i])
	}
	c.out = b
	if _, err := c.c.Write(b); err != nil {
		return err
	}
	for i := range ops {
		v, err := c.rd.ReadValue()
		if err != nil {
			return err
		}
		out[i] = Reply{At: Now(), Err: v.Kind == '-', Hit: v.Kind == '$' && !v.Null}
	}
	return nil
}

func (c *netConn) Close() error { return c.c.Close() }

// Unblock sets a deadline in the past: a read or write in progress returns at once.
func (c *netConn) Unblock() { c.c.SetDeadline(time.Unix(1, 0)) }

// AppendOp appends op as a RESP command: GET key, SET key value, or SET key value PX ms.
func AppendOp(dst []byte, op *Op) []byte {
	if !op.Set {
		dst = append(dst, "*2\r\n$3\r\nGET\r\n"...)
		return protocol.AppendBulk(dst, op.Key)
	}
	if op.TTLms > 0 {
		dst = append(dst, "*5\r\n$3\r\nSET\r\n"...)
	} else {
		dst = append(dst, "*3\r\n$3\r\nSET\r\n"...)
	}
	dst = protocol.AppendBulk(dst, op.Key)
	dst = protocol.AppendBulk(dst, op.Value)
	if op.TTLms > 0 {
		dst = append(dst, "$2\r\nPX\r\n"...)
		dst = protocol.AppendBulkInt(dst, op.TTLms)
	}
	return dst
}
