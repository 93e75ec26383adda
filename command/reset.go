package command

import "github.com/sidecache/sidecache/protocol"

// cmdReset is RESET: the connection goes back to a new connection's state, then answers
// +RESET (in RESP2, the protocol it has just returned to).
func cmdReset(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	out = c.resetPubSub(s, out) // leaves channels and MONITOR; queued messages go first
	s.resetConnection(c)
	return protocol.AppendSimple(out, "RESET")
}

// resetConnection is Redis's clearClientConnectionState. Each piece of state owned by
// another part of the server is reset by that part's own hook. The library name and
// version stay (they still describe the client behind the connection), as in Redis; so
// does a pending CLIENT REPLY SKIP, which then swallows +RESET, as in Redis.
func (s *Server) resetConnection(c *Client) {
	// Subscriptions and MONITOR: cmdReset's resetPubSub.
	s.trackRelease(c) // CLIENT TRACKING off
	s.resetMulti(c)   // DISCARD and UNWATCH
	c.DB = 0
	c.Proto = protocol.RESP2
	c.authenticated = !s.authRequired() // clientSetDefaultAuth, as NewClient
	c.user.Store(s.defaultUser)
	c.setAttr(&c.name, nil)
	c.replyFlags &^= replyOff | replySkipNext
	c.noTouch.Store(false)
	c.noEvict.Store(false)
}
