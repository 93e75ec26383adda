package command

import "testing"

// BenchmarkPushDrain is one message queued by another goroutine's Push and drained by the
// client's loop, in batches of 16 (a publish burst between two loop turns).
func BenchmarkPushDrain(b *testing.B) {
	h := newHarness(b)
	c := h.c
	c.SetPushHooks(PushHooks{Wake: func() {}, HardLimit: func() int64 { return 1 << 30 }})
	msg := []byte(">3\r\n$7\r\nmessage\r\n$7\r\nchannel\r\n$24\r\na message of some length\r\n")
	out := make([]byte, 0, 16*len(msg))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Push(msg)
		if i%16 == 15 {
			out = c.DrainPush(out[:0])
		}
	}
	sinkLen = len(out)
}

var sinkLen int
