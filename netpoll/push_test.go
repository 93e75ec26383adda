package netpoll

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// loopNum returns the number of the event loop serving the client with id. It asks each
// loop to look at its own connections (loop-owned state is read on the loop).
func loopNum(t *testing.T, s *testServer, id int64) int {
	t.Helper()
	s.mu.Lock()
	loops := append([]*loopState(nil), s.loops...)
	s.mu.Unlock()
	found := make(chan int, len(loops))
	for _, l := range loops {
		err := l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			n := -1
			for _, c := range l.conns {
				if c.client.ID == id {
					n = l.num
				}
			}
			found <- n
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
	}
	for range loops {
		select {
		case n := <-found:
			if n >= 0 {
				return n
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a loop did not answer")
		}
	}
	t.Fatalf("no connection with id %d", id)
	return -1
}

// dialOnOtherLoop returns a connection served by a loop other than notLoop.
func dialOnOtherLoop(t *testing.T, s *testServer, network, addr string, notLoop int) *client {
	t.Helper()
	for range 8 {
		c := dial(t, network, addr)
		if loopNum(t, s, clientID(t, c)) != notLoop {
			return c
		}
	}
	t.Fatal("every connection landed on the same loop")
	return nil
}

func subscribe(t *testing.T, c *client, resp3 bool, channel string) {
	t.Helper()
	if resp3 {
		c.send(cmdBytes("HELLO", "3"))
		c.read()
	}
	c.send(cmdBytes("SUBSCRIBE", channel))
	if v := c.read(); len(v.Elems) != 3 || string(v.Elems[0].Str) != "subscribe" {
		t.Fatalf("SUBSCRIBE: %+v", v)
	}
}

// Messages published on one loop reach subscribers on another whole and in order, and a
// subscriber pipelining PINGs meanwhile gets every reply in order: a message never lands
// inside a reply, nor reorders the replies (RESP2 and RESP3, TCP and Unix).
func TestPushCrossLoopOrdering(t *testing.T) {
	s := startServer(t, Options{})
	pub := dial(t, "tcp", s.tcp)
	pubLoop := loopNum(t, s, clientID(t, pub))
	const msgs, pings = 3000, 3000
	for _, tc := range []struct {
		network string
		resp3   bool
	}{{"tcp", false}, {"tcp", true}, {"unix", false}, {"unix", true}} {
		t.Run(fmt.Sprintf("%s-resp%d", tc.network, map[bool]int{false: 2, true: 3}[tc.resp3]), func(t *testing.T) {
			addr := s.tcp
			if tc.network == "unix" {
				addr = s.unix
			}
			sub := dialOnOtherLoop(t, s, tc.network, addr, pubLoop)
			ch := "order-" + t.Name()
			subscribe(t, sub, tc.resp3, ch)

			var wg sync.WaitGroup
			wg.Add(2)
			go func() { // the publisher, in pipelined bursts
				defer wg.Done()
				var b []byte
				for i := 0; i < msgs; i++ {
					b = append(b, cmdBytes("PUBLISH", ch, strconv.Itoa(i))...)
					if len(b) > 4096 || i == msgs-1 {
						if _, err := pub.c.Write(b); err != nil {
							t.Error(err)
							return
						}
						b = b[:0]
					}
				}
			}()
			go func() { // the subscriber's own commands, pipelined likewise
				defer wg.Done()
				var b []byte
				for i := 0; i < pings; i++ {
					b = append(b, cmdBytes("PING", strconv.Itoa(i))...)
					if len(b) > 4096 || i == pings-1 {
						if _, err := sub.c.Write(b); err != nil {
							t.Error(err)
							return
						}
						b = b[:0]
					}
				}
			}()
			nextMsg, nextPong := 0, 0
			for nextMsg < msgs || nextPong < pings {
				v := sub.read()
				switch {
				case len(v.Elems) == 3 && string(v.Elems[0].Str) == "message":
					if tc.resp3 != (v.Kind == '>') {
						t.Fatalf("message of kind %c", v.Kind)
					}
					if got := string(v.Elems[2].Str); got != strconv.Itoa(nextMsg) {
						t.Fatalf("message %q, want %d", got, nextMsg)
					}
					nextMsg++
				case tc.resp3 && v.Kind == '$':
					if got := string(v.Str); got != strconv.Itoa(nextPong) {
						t.Fatalf("PING reply %q, want %d", got, nextPong)
					}
					nextPong++
				case !tc.resp3 && len(v.Elems) == 2 && string(v.Elems[0].Str) == "pong":
					if got := string(v.Elems[1].Str); got != strconv.Itoa(nextPong) {
						t.Fatalf("PING reply %q, want %d", got, nextPong)
					}
					nextPong++
				default:
					t.Fatalf("unexpected %+v after %d messages, %d pongs", v, nextMsg, nextPong)
				}
			}
			wg.Wait()
			for range msgs { // the publisher's replies: one receiver each
				if v := pub.read(); v.Int != 1 {
					t.Fatalf("PUBLISH answered %+v", v)
				}
			}
		})
	}
}

// A subscriber that never reads is closed at the pubsub class's hard limit, counted once;
// a subscriber that reads keeps receiving every message, and the closed one's memory is
// given back.
func TestPushSlowSubscriberClosed(t *testing.T) {
	s := startServer(t, Options{PubSubOutputLimit: OutputLimit{Hard: 1 << 20}})
	pub := dial(t, "tcp", s.tcp)
	good := dial(t, "unix", s.unix)
	subscribe(t, good, true, "big")
	slow := dial(t, "tcp", s.tcp)
	subscribe(t, slow, false, "big")
	base := s.ClientMemory()

	payload := strings.Repeat("x", 32<<10)
	got := make(chan int, 1)
	go func() { // the reading subscriber counts messages until "end"
		n := 0
		for {
			v, err := good.rd.ReadValue()
			if err != nil || len(v.Elems) != 3 {
				got <- -1
				return
			}
			if string(v.Elems[2].Str) == "end" {
				got <- n
				return
			}
			if len(v.Elems[2].Str) != len(payload) {
				got <- -1
				return
			}
			n++
		}
	}()
	// Publish until the slow subscriber is gone (the socket buffers take a few MiB first).
	sent := 0
	for receivers := int64(2); receivers == 2; sent++ {
		if sent == 4000 {
			t.Fatal("the slow subscriber was not closed after 125 MiB")
		}
		pub.send(cmdBytes("PUBLISH", "big", payload))
		receivers = pub.read().Int
	}
	pub.send(cmdBytes("PUBLISH", "big", "end"))
	if v := pub.read(); v.Int != 1 {
		t.Fatalf("PUBLISH end answered %d", v.Int)
	}
	select {
	case n := <-got:
		if n != sent {
			t.Fatalf("the reading subscriber got %d messages of %d", n, sent)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the reading subscriber did not get every message")
	}
	if !closedByPeer(slow.c, 10*time.Second) {
		t.Fatal("the slow subscriber's connection is still open")
	}
	if got := s.Stats().OutputLimitClosed.Load(); got != 1 {
		t.Errorf("OutputLimitClosed = %d, want 1", got)
	}
	pub.send(cmdBytes("PUBSUB", "NUMSUB", "big"))
	if v := pub.read(); len(v.Elems) != 2 || v.Elems[1].Int != 1 {
		t.Errorf("NUMSUB after the close: %+v", v)
	}
	waitFor(t, "client memory back to its baseline", 10*time.Second, func() bool { return s.ClientMemory() <= base+256<<10 })
}

// The normal class's limit does not apply to a subscriber; the pubsub one does not apply
// to a client that holds no subscription.
func TestPushLimitClassBySubscription(t *testing.T) {
	s := startServer(t, Options{OutputLimit: OutputLimit{Hard: 64 << 10}, PubSubOutputLimit: OutputLimit{Hard: 64 << 20}})
	pub := dial(t, "tcp", s.tcp)
	sub := dial(t, "tcp", s.tcp)
	subscribe(t, sub, true, "c")
	payload := strings.Repeat("y", 16<<10)
	for range 32 { // 512 KiB unread: over normal's limit, under pubsub's
		pub.send(cmdBytes("PUBLISH", "c", payload))
		pub.read()
	}
	mustPong(t, pub)
	for range 32 {
		if v := sub.read(); len(v.Elems) != 3 {
			t.Fatalf("message: %+v", v)
		}
	}
	if got := s.Stats().OutputLimitClosed.Load(); got != 0 {
		t.Fatalf("a subscriber was closed by the normal class's limit")
	}
}

// A burst of messages costs a few allocations per loop wake, none per message: the queue's
// buffers are reused and a woken loop takes every message queued meanwhile.
func TestPushBurstAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	s := startServer(t, Options{})
	pub := dial(t, "tcp", s.tcp)
	sub := dialOnOtherLoop(t, s, "tcp", s.tcp, loopNum(t, s, clientID(t, pub)))
	subscribe(t, sub, true, "a")
	const perBatch, batches = 100, 100
	req := bytes.Repeat(cmdBytes("PUBLISH", "a", "0123456789"), perBatch)
	msg := []byte(">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$10\r\n0123456789\r\n")
	pubBuf := make([]byte, len(":1\r\n")*perBatch)
	subBuf := make([]byte, len(msg)*perBatch)
	round := func() {
		pub.send(req)
		if _, err := io.ReadFull(pub.c, pubBuf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(sub.c, subBuf); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		round()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range batches {
		round()
	}
	runtime.ReadMemStats(&after)
	if !bytes.Equal(subBuf[:len(msg)], msg) {
		t.Fatalf("message %q", subBuf[:len(msg)])
	}
	per := float64(after.Mallocs-before.Mallocs) / (batches * perBatch)
	t.Logf("%.3f allocations per message", per)
	if per > 0.2 {
		t.Fatalf("%.3f allocations per message", per)
	}
}
