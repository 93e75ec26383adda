package main

// Pub/sub across pods in upstream mode (upstream/pubsub.go, command/upstream_pubsub.go):
// two sidecars in front of one redis-server, app connections on each, frames compared byte
// for byte with Redis's. A subscriber must get a message published right after its
// SUBSCRIBE was confirmed, without polling: the confirmation waits for the upstream's.

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// psFrame is a pub/sub frame (confirmation or message) as Redis encodes it: a RESP2 array
// or a RESP3 push of bulk strings, an integer last for confirmations (a string starting
// with ':').
func psFrame(proto int, parts ...string) string {
	head := "*"
	if proto == 3 {
		head = ">"
	}
	s := head + strconv.Itoa(len(parts)) + "\r\n"
	for _, p := range parts {
		if strings.HasPrefix(p, ":") {
			s += p + "\r\n"
		} else {
			s += l1Bulk(p)
		}
	}
	return s
}

// psDialProto connects to addr speaking RESP proto.
func psDialProto(t *testing.T, addr string, proto int) *respConn {
	t.Helper()
	c := dialResp(t, addr)
	if proto == 3 {
		c.Do("HELLO", "3")
	}
	return c
}

func psWant(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Fatalf("%s: %q, want %q", what, got, want)
	}
}

func psRead(t *testing.T, c *respConn) []byte {
	t.Helper()
	b, err := c.Read()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return b
}

// upNumSub is PUBSUB NUMSUB name's count, asked of the upstream itself.
func upNumSub(u *respConn, name string) string {
	return string(u.Do("PUBSUB", "NUMSUB", name))
}

func TestUpstreamPubSubAcrossSidecars(t *testing.T) {
	up := startRedis(t)
	a := startSidecache(t, "--upstream", "redis://"+up.Addr)
	b := startSidecache(t, "--upstream", "redis://"+up.Addr)
	u := dialResp(t, up.Addr)
	for _, proto := range []int{2, 3} {
		t.Run("resp"+strconv.Itoa(proto), func(t *testing.T) {
			p := strconv.Itoa(proto)
			ch, pat, pch := "ch"+p, "pat"+p+"*", "pat"+p+"x"
			sub := psDialProto(t, a.Addr, proto)
			pub := psDialProto(t, b.Addr, proto)
			local := psDialProto(t, a.Addr, proto)

			psWant(t, "SUBSCRIBE", sub.Do("SUBSCRIBE", ch), psFrame(proto, "subscribe", ch, ":1"))
			// Through the other sidecar, at once: the count is the upstream's (one relay).
			psWant(t, "PUBLISH via B", pub.Do("PUBLISH", ch, "from-b"), ":1\r\n")
			psWant(t, "message via B", psRead(t, sub), psFrame(proto, "message", ch, "from-b"))
			psWant(t, "PUBLISH upstream", u.Do("PUBLISH", ch, "direct"), ":1\r\n")
			psWant(t, "message direct", psRead(t, sub), psFrame(proto, "message", ch, "direct"))

			// Published through the subscriber's own sidecar: delivered once, from the
			// upstream. The PING after it shows nothing else was queued in between.
			psWant(t, "PUBLISH via A", local.Do("PUBLISH", ch, "from-a"), ":1\r\n")
			psWant(t, "message via A", psRead(t, sub), psFrame(proto, "message", ch, "from-a"))
			pong := "+PONG\r\n"
			if proto == 2 {
				pong = psFrame(2, "pong", "")
			}
			psWant(t, "PING after one message", sub.Do("PING"), pong)

			psWant(t, "PSUBSCRIBE", sub.Do("PSUBSCRIBE", pat), psFrame(proto, "psubscribe", pat, ":2"))
			psWant(t, "PUBLISH to the pattern", pub.Do("PUBLISH", pch, "pm"), ":1\r\n")
			psWant(t, "pmessage", psRead(t, sub), psFrame(proto, "pmessage", pat, pch, "pm"))
			psWant(t, "PUBSUB NUMPAT via B", pub.Do("PUBSUB", "NUMPAT"), string(u.Do("PUBSUB", "NUMPAT")))
			psWant(t, "PUBSUB NUMSUB via B", pub.Do("PUBSUB", "NUMSUB", ch), psFrameArr(ch, 1))
			if got := string(pub.Do("PUBSUB", "CHANNELS", ch)); got != "*1\r\n"+l1Bulk(ch) {
				t.Fatalf("PUBSUB CHANNELS via B: %q", got)
			}

			// A second local subscriber shares the upstream subscription.
			sub2 := psDialProto(t, a.Addr, proto)
			psWant(t, "second SUBSCRIBE", sub2.Do("SUBSCRIBE", ch), psFrame(proto, "subscribe", ch, ":1"))
			psWant(t, "upstream NUMSUB with two local subscribers", u.Do("PUBSUB", "NUMSUB", ch), psFrameArr(ch, 1))
			psWant(t, "PUBLISH to two", pub.Do("PUBLISH", ch, "both"), ":1\r\n")
			psWant(t, "first gets it", psRead(t, sub), psFrame(proto, "message", ch, "both"))
			psWant(t, "second gets it", psRead(t, sub2), psFrame(proto, "message", ch, "both"))

			// Unsubscribing the last local subscriber unsubscribes the upstream.
			psWant(t, "UNSUBSCRIBE first", sub.Do("UNSUBSCRIBE", ch), psFrame(proto, "unsubscribe", ch, ":1"))
			psWant(t, "upstream NUMSUB with one left", u.Do("PUBSUB", "NUMSUB", ch), psFrameArr(ch, 1))
			psWant(t, "UNSUBSCRIBE second", sub2.Do("UNSUBSCRIBE", ch), psFrame(proto, "unsubscribe", ch, ":0"))
			l1Eventually(t, "the upstream's unsubscription", func() bool { return upNumSub(u, ch) == psFrameArr(ch, 0) })
			psWant(t, "PUBLISH with no subscriber", pub.Do("PUBLISH", ch, "lost"), ":0\r\n")
			psWant(t, "PUNSUBSCRIBE", sub.Do("PUNSUBSCRIBE", pat), psFrame(proto, "punsubscribe", pat, ":0"))
			l1Eventually(t, "the upstream's punsubscription", func() bool { return string(u.Do("PUBSUB", "NUMPAT")) == ":0\r\n" })
			// Nothing reached the unsubscribed connection meanwhile.
			psWant(t, "PING after unsubscribing", sub.Do("PING"), "+PONG\r\n")
		})
	}
}

// psFrameArr is PUBSUB NUMSUB's reply for one channel.
func psFrameArr(ch string, n int) string {
	return "*2\r\n" + l1Bulk(ch) + ":" + strconv.Itoa(n) + "\r\n"
}

// A channel and a pattern matching it: the upstream sends a message and a pmessage, and
// each goes to its own subscription once.
func TestUpstreamPubSubChannelAndPattern(t *testing.T) {
	up, a := startL1(t)
	u := dialResp(t, up.Addr)
	sub := psDialProto(t, a.Addr, 3)
	psWant(t, "SUBSCRIBE", sub.Do("SUBSCRIBE", "news"), psFrame(3, "subscribe", "news", ":1"))
	psWant(t, "PSUBSCRIBE", sub.Do("PSUBSCRIBE", "n*"), psFrame(3, "psubscribe", "n*", ":2"))
	psWant(t, "PUBLISH", u.Do("PUBLISH", "news", "x"), ":2\r\n")
	psWant(t, "message", psRead(t, sub), psFrame(3, "message", "news", "x"))
	psWant(t, "pmessage", psRead(t, sub), psFrame(3, "pmessage", "n*", "news", "x"))
	psWant(t, "PING", sub.Do("PING"), "+PONG\r\n")

	// Pipelined behind a SUBSCRIBE that waits for the upstream, a command answers after it.
	if err := sub.Send([]byte("*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\nlater\r\n*2\r\n$4\r\nECHO\r\n$1\r\ne\r\n")); err != nil {
		t.Fatal(err)
	}
	psWant(t, "pipelined SUBSCRIBE", psRead(t, sub), psFrame(3, "subscribe", "later", ":3"))
	psWant(t, "ECHO after it", psRead(t, sub), "$1\r\ne\r\n")
	psWant(t, "PUBLISH later", u.Do("PUBLISH", "later", "y"), ":1\r\n")
	psWant(t, "message later", psRead(t, sub), psFrame(3, "message", "later", "y"))
}

// Shard channels are a namespace of their own on a standalone upstream.
func TestUpstreamPubSubShard(t *testing.T) {
	up := startRedis(t)
	a := startSidecache(t, "--upstream", "redis://"+up.Addr)
	b := startSidecache(t, "--upstream", "redis://"+up.Addr)
	u := dialResp(t, up.Addr)
	sub := psDialProto(t, a.Addr, 2)
	pub := dialResp(t, b.Addr)
	psWant(t, "SSUBSCRIBE", sub.Do("SSUBSCRIBE", "s"), psFrame(2, "ssubscribe", "s", ":1"))
	psWant(t, "PUBLISH on the same name", pub.Do("PUBLISH", "s", "not-shard"), ":0\r\n")
	psWant(t, "SPUBLISH via B", pub.Do("SPUBLISH", "s", "m"), ":1\r\n")
	psWant(t, "smessage", psRead(t, sub), psFrame(2, "smessage", "s", "m"))
	psWant(t, "PUBSUB SHARDNUMSUB via B", pub.Do("PUBSUB", "SHARDNUMSUB", "s"), psFrameArr("s", 1))
	psWant(t, "SUNSUBSCRIBE", sub.Do("SUNSUBSCRIBE", "s"), psFrame(2, "sunsubscribe", "s", ":0"))
	l1Eventually(t, "the upstream's sunsubscription", func() bool {
		return string(u.Do("PUBSUB", "SHARDNUMSUB", "s")) == psFrameArr("s", 0)
	})
}

// The relay resubscribes after the upstream restarts; messages published while it was away
// are lost, as for any Redis client.
func TestUpstreamPubSubRestart(t *testing.T) {
	r := newRestartableRedis(t)
	up := r.cur
	a := startSidecache(t, "--upstream", "redis://"+up.Addr)
	sub := psDialProto(t, a.Addr, 2)
	psWant(t, "SUBSCRIBE", sub.Do("SUBSCRIBE", "r"), psFrame(2, "subscribe", "r", ":1"))
	psWant(t, "PSUBSCRIBE", sub.Do("PSUBSCRIBE", "q*"), psFrame(2, "psubscribe", "q*", ":2"))
	up.stop()
	up = r.start()
	u := dialResp(t, up.Addr)
	l1Eventually(t, "the relay's resubscription", func() bool {
		return upNumSub(u, "r") == psFrameArr("r", 1) && string(u.Do("PUBSUB", "NUMPAT")) == ":1\r\n"
	})
	psWant(t, "PUBLISH after the restart", u.Do("PUBLISH", "r", "back"), ":1\r\n")
	psWant(t, "message after the restart", psRead(t, sub), psFrame(2, "message", "r", "back"))
	psWant(t, "PUBLISH to the pattern", u.Do("PUBLISH", "qq", "p"), ":1\r\n")
	psWant(t, "pmessage after the restart", psRead(t, sub), psFrame(2, "pmessage", "q*", "qq", "p"))
}

func TestUpstreamPubSubGoRedis(t *testing.T) {
	up := startRedis(t)
	a := startSidecache(t, "--upstream", "redis://"+up.Addr)
	b := startSidecache(t, "--upstream", "redis://"+up.Addr)
	for _, proto := range []int{2, 3} {
		t.Run("resp"+strconv.Itoa(proto), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			opt := func(addr string) *redis.Options {
				return &redis.Options{Addr: addr, Protocol: proto, MaxRetries: -1,
					DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
			}
			ra, rb := redis.NewClient(opt(a.Addr)), redis.NewClient(opt(b.Addr))
			defer ra.Close()
			defer rb.Close()
			p := strconv.Itoa(proto)
			ps := ra.Subscribe(ctx, "g"+p)
			defer ps.Close()
			if _, err := ps.Receive(ctx); err != nil { // the confirmation
				t.Fatal(err)
			}
			if err := ps.PSubscribe(ctx, "h"+p+"*"); err != nil {
				t.Fatal(err)
			}
			if _, err := ps.Receive(ctx); err != nil {
				t.Fatal(err)
			}
			if n, err := rb.Publish(ctx, "g"+p, "hello").Result(); err != nil || n != 1 {
				t.Fatalf("Publish = %d, %v", n, err)
			}
			if n, err := rb.Publish(ctx, "h"+p+"1", "world").Result(); err != nil || n != 1 {
				t.Fatalf("Publish to the pattern = %d, %v", n, err)
			}
			for _, want := range []redis.Message{
				{Channel: "g" + p, Payload: "hello"},
				{Channel: "h" + p + "1", Pattern: "h" + p + "*", Payload: "world"},
			} {
				m, err := ps.ReceiveMessage(ctx)
				if err != nil || m.Channel != want.Channel || m.Pattern != want.Pattern || m.Payload != want.Payload {
					t.Fatalf("ReceiveMessage = %+v, %v; want %+v", m, err, want)
				}
			}
			if n, err := rb.PubSubNumSub(ctx, "g"+p).Result(); err != nil || n["g"+p] != 1 {
				t.Fatalf("PubSubNumSub = %v, %v", n, err)
			}
		})
	}
}

// In front of a Redis Cluster, a message published on any node reaches subscribers behind
// every sidecar (Redis Cluster broadcasts PUBLISH); SSUBSCRIBE is refused.
func TestUpstreamPubSubCluster(t *testing.T) {
	cl := startCluster(t)
	a := startSidecache(t, "--upstream", "redis://"+cl.hot.Addr, "--upstream-cluster", "yes")
	b := startSidecache(t, "--upstream", "redis://"+cl.cold.Addr, "--upstream-cluster", "yes")
	sub := psDialProto(t, a.Addr, 2)
	pub := dialResp(t, b.Addr)
	psWant(t, "SUBSCRIBE c1", sub.Do("SUBSCRIBE", "c1", "c2"), psFrame(2, "subscribe", "c1", ":1"))
	psWant(t, "SUBSCRIBE c2", psRead(t, sub), psFrame(2, "subscribe", "c2", ":2"))
	for _, ch := range []string{"c1", "c2"} {
		// The count is the receiving node's, as for an app talking to the cluster.
		if r := string(pub.Do("PUBLISH", ch, "m-"+ch)); !strings.HasPrefix(r, ":") {
			t.Fatalf("PUBLISH %s = %q", ch, r)
		}
		psWant(t, "message on "+ch, psRead(t, sub), psFrame(2, "message", ch, "m-"+ch))
	}
	direct := dialResp(t, cl.cold.Addr)
	direct.Do("PUBLISH", "c1", "on-cold")
	psWant(t, "message published on another node", psRead(t, sub), psFrame(2, "message", "c1", "on-cold"))
	psWant(t, "SSUBSCRIBE", pub.Do("SSUBSCRIBE", "s"), "-"+"ERR SSUBSCRIBE is not supported by sidecache in front of a Redis Cluster upstream\r\n")
}

// PUBLISH queued in MULTI goes upstream with the transaction, its count in EXEC's array.
func TestUpstreamPubSubPublishInMulti(t *testing.T) {
	_, a := startL1(t)
	sub := psDialProto(t, a.Addr, 3)
	pub := dialResp(t, a.Addr)
	psWant(t, "SUBSCRIBE", sub.Do("SUBSCRIBE", "m"), psFrame(3, "subscribe", "m", ":1"))
	psWant(t, "MULTI", pub.Do("MULTI"), "+OK\r\n")
	psWant(t, "PUBLISH queued", pub.Do("PUBLISH", "m", "tx"), "+QUEUED\r\n")
	psWant(t, "PUBSUB NUMSUB queued", pub.Do("PUBSUB", "NUMSUB", "m"), "+QUEUED\r\n")
	psWant(t, "EXEC", pub.Do("EXEC"), "*2\r\n:1\r\n"+psFrameArr("m", 1))
	psWant(t, "message", psRead(t, sub), psFrame(3, "message", "m", "tx"))
}
