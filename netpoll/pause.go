package netpoll

// CLIENT PAUSE (command/pause.go): a command the pause holds back stays, unexecuted, at the
// head of the connection's pending input, and the batch stops there (OnTraffic). The
// connection is then woken when the pause ends, by the command layer's unpause hook, and
// executes its input from that command on. Between the two it costs nothing: no timer per
// connection, no polling; input that keeps arriving is buffered under the query buffer
// limit, as Redis buffers a blocked client's input.
//
// The hook and a connection that is being postponed race only when the pause ends at that
// moment: the connection marks itself waiting, then checks the pause; the hook turns the
// pause off, then looks for waiting connections. One of the two always sees the other, so
// no connection is left waiting for a pause that is over.

// waitUnpause registers c, whose command a client pause held back, for the end of the
// pause. Called on c's loop.
func (s *Server) waitUnpause(c *conn) {
	c.pauseWait.Store(true)
	if !s.cmd.Paused() && !c.woken {
		// The pause ended after the command was held back: the hook may have missed c.
		c.woken = true
		_ = c.gc.Wake(nil)
	}
}

// wakePaused is the command layer's unpause hook: it wakes every connection a pause held.
// Any goroutine.
func (s *Server) wakePaused() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.pauseWait.CompareAndSwap(true, false) {
			_ = c.gc.Wake(nil)
		}
	}
}
