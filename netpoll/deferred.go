package netpoll

// Deferred replies (upstream mode, command/upstream.go): a command whose reply the upstream
// gives later is executed, appends nothing and sets Client.Deferred. The batch stops after
// it, as for a command CLIENT PAUSE holds back (pause.go), but its bytes are consumed; the
// replies before it are written and the input after it stays pending. Until the reply is
// queued (Client.Waiting), OnTraffic runs nothing for the connection and only buffers what
// arrives, under the query buffer limit.
//
//	loop:       exec ─► Deferred ─► batch stops, replies so far written
//	goroutine:  upstream reply ─► Client.Push(reply) ─► wait over ─► resume: Wake
//	loop:       flushPushes or OnTraffic writes the reply (the push path, push.go);
//	            OnTraffic runs the pending commands
//
// Order: the reply is queued before the wait ends, and OnTraffic reads the wait before it
// drains the queue, so a batch that runs the next command has the reply in its buffer
// first. Pushes queued while the command was away (invalidations) go out before it, as in
// Redis a push can come between two replies.

// hookDeferred gives c's client the wake-up for its deferred replies. Called in OnOpen.
func (s *Server) hookDeferred(c *conn) {
	gc := c.gc
	c.client.SetResume(func() { _ = gc.Wake(nil) })
}
