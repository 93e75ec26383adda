package main

// Pub/sub and MONITOR across connections: the same scenario runs against redis-server and
// sidecache and the transcripts (every reply and every message each connection received,
// in order) must be equal. Then go-redis's PubSub API, a subscriber that never reads, and
// the ordering of messages against a subscriber's own replies.

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// transcript records what a scenario saw, one line per reply or message.
type transcript struct{ lines []string }

func (tr *transcript) add(who string, raw []byte) {
	tr.lines = append(tr.lines, who+": "+strconv.Quote(string(raw)))
}

// psConn is a connection of a scenario: its name in the transcript and its transport.
type psConn struct {
	name string
	*respConn
}

func psDial(t *testing.T, p *proc, name string, unix, resp3 bool) *psConn {
	t.Helper()
	addr := p.Addr
	if unix {
		addr = p.Socket
	}
	c := &psConn{name: name, respConn: dialResp(t, addr)}
	if resp3 {
		if rep := c.Do("HELLO", "3"); rep[0] != '%' {
			t.Fatalf("%s: HELLO 3 answered %q", p.Name, rep)
		}
	}
	if rep := c.Do("CLIENT", "SETNAME", name); string(rep) != "+OK\r\n" {
		t.Fatalf("%s: CLIENT SETNAME answered %q", p.Name, rep)
	}
	return c
}

// do sends args and records n replies.
func (c *psConn) do(t *testing.T, tr *transcript, n int, args ...string) {
	t.Helper()
	if err := c.Send(encodeCommand(args)); err != nil {
		t.Fatal(err)
	}
	c.expect(t, tr, n)
}

// expect records the next n values the connection receives.
func (c *psConn) expect(t *testing.T, tr *transcript, n int) {
	t.Helper()
	for range n {
		rep, err := c.Read()
		if err != nil {
			t.Fatalf("%s: %v (got %q)", c.name, err, rep)
		}
		tr.add(c.name, rep)
	}
}

// clientFields returns the CLIENT LIST fields that pub/sub sets, per client name.
func clientFields(t *testing.T, c *psConn) []string {
	t.Helper()
	rep := string(c.Do("CLIENT", "LIST"))
	var out []string
	for _, line := range strings.Split(rep, "\n") {
		f := map[string]string{}
		for _, kv := range strings.Fields(line) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				f[k] = v
			}
		}
		if f["name"] == "" {
			continue
		}
		out = append(out, fmt.Sprintf("%s flags=%s sub=%s psub=%s ssub=%s", f["name"], f["flags"], f["sub"], f["psub"], f["ssub"]))
	}
	slices.Sort(out)
	return out
}

// infoFields returns INFO stats' pub/sub lines.
func infoFields(t *testing.T, c *psConn) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(string(c.Do("INFO", "stats")), "\r\n") {
		if strings.HasPrefix(l, "pubsub") {
			out = append(out, l)
		}
	}
	return out
}

// pubsubScenario: subscribers on TCP and Unix, RESP2 and RESP3, on channels, patterns and
// shard channels; a publisher; counts, PUBSUB, CLIENT LIST and INFO as they change.
func pubsubScenario(t *testing.T, p *proc) []string {
	tr := &transcript{}
	s1 := psDial(t, p, "s1-tcp-resp2", false, false)
	s2 := psDial(t, p, "s2-unix-resp3", true, true)
	s3 := psDial(t, p, "s3-tcp-resp3", false, true)
	s4 := psDial(t, p, "s4-unix-resp2", true, false)
	pub := psDial(t, p, "pub", false, false)

	s1.do(t, tr, 2, "SUBSCRIBE", "news", "sport")
	s2.do(t, tr, 1, "SUBSCRIBE", "news")
	s2.do(t, tr, 1, "PSUBSCRIBE", "n*")
	s3.do(t, tr, 1, "PSUBSCRIBE", "*t")
	s4.do(t, tr, 2, "SSUBSCRIBE", "shard", "news")

	pub.do(t, tr, 1, "PUBLISH", "news", "hello")
	s1.expect(t, tr, 1)
	s2.expect(t, tr, 2) // the channel's message, then the pattern's
	pub.do(t, tr, 1, "PUBLISH", "sport", "goal")
	s1.expect(t, tr, 1)
	s3.expect(t, tr, 1)
	pub.do(t, tr, 1, "PUBLISH", "nothing", "x")
	s2.expect(t, tr, 1)
	pub.do(t, tr, 1, "PUBLISH", "nobody", "x")
	s2.expect(t, tr, 1)
	pub.do(t, tr, 1, "SPUBLISH", "news", "sharded")
	s4.expect(t, tr, 1)
	pub.do(t, tr, 1, "SPUBLISH", "nowhere", "x")
	pub.do(t, tr, 1, "PUBLISH", "news", "bin\x00\r\n\xff")
	s1.expect(t, tr, 1)
	s2.expect(t, tr, 2)

	pub.do(t, tr, 1, "PUBSUB", "NUMSUB", "news", "sport", "shard", "n*")
	pub.do(t, tr, 1, "PUBSUB", "NUMPAT")
	pub.do(t, tr, 1, "PUBSUB", "SHARDNUMSUB", "shard", "news")
	pub.do(t, tr, 1, "PUBSUB", "CHANNELS", "n*")
	pub.do(t, tr, 1, "PUBSUB", "SHARDCHANNELS", "s*")
	tr.lines = append(tr.lines, clientFields(t, pub)...)
	tr.lines = append(tr.lines, infoFields(t, pub)...)

	// Subscribers in RESP2 answer PING in their mode; a RESP3 one runs anything.
	s1.do(t, tr, 1, "PING", "x")
	s4.do(t, tr, 1, "GET", "k")
	s3.do(t, tr, 1, "GET", "k")

	// Unsubscribing, and a subscriber leaving by closing its connection.
	s1.do(t, tr, 1, "UNSUBSCRIBE", "news")
	s3.do(t, tr, 1, "PUNSUBSCRIBE")
	s2.Close()
	waitUntil(t, "the closed subscriber to leave", 10*time.Second, func() bool {
		return string(pub.Do("PUBSUB", "NUMPAT")) == ":0\r\n"
	})
	pub.do(t, tr, 1, "PUBLISH", "news", "after")
	pub.do(t, tr, 1, "PUBSUB", "NUMSUB", "news", "sport")
	tr.lines = append(tr.lines, clientFields(t, pub)...)
	tr.lines = append(tr.lines, infoFields(t, pub)...)
	s1.do(t, tr, 1, "UNSUBSCRIBE")
	s1.do(t, tr, 1, "PING")
	s4.do(t, tr, 1, "RESET")
	pub.do(t, tr, 1, "PUBSUB", "SHARDNUMSUB", "shard")
	return tr.lines
}

func compareTranscripts(t *testing.T, want, got []string) {
	t.Helper()
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			t.Errorf("line %d:\n  redis:     %s\n  sidecache: %s", i, w, g)
		}
	}
}

func TestPubSubAgainstRedis(t *testing.T) {
	ref := startRedisUnix(t)
	sub := startSidecache(t)
	want := pubsubScenario(t, ref)
	got := pubsubScenario(t, sub)
	compareTranscripts(t, want, got)
}

// monitorMask hides what differs between runs in a MONITOR line: the time (checked for its
// format first), TCP ports and the socket path.
var (
	monitorLine = regexp.MustCompile(`^\+\d{10}\.\d{6} \[\d+ (127\.0\.0\.1:\d+|unix:/\S+)\] .*\r\n$`)
	monitorTime = regexp.MustCompile(`^\+\d+\.\d+ `)
	monitorPeer = regexp.MustCompile(`\[(\d+) (127\.0\.0\.1:\d+|unix:\S+)\]`)
)

func monitorScenario(t *testing.T, p *proc, resp3 bool) []string {
	tr := &transcript{}
	mon := psDial(t, p, "mon", false, resp3)
	a := psDial(t, p, "a-tcp", false, false)
	b := psDial(t, p, "b-unix", true, true)
	mon.do(t, tr, 1, "MONITOR")
	peers := map[string]string{}
	commands := []struct {
		c    *psConn
		args []string
	}{
		{a, []string{"SET", "k", "123"}},
		{b, []string{"get", "k"}},
		{a, []string{"SELECT", "2"}},
		{a, []string{"SET", "weird", "a\x00b\"\\\n\r\t\a\b\xff é"}},
		{a, []string{"AUTH", "secret"}},
		{a, []string{"AUTH", "user", "secret"}},
		{a, []string{"AUTH", "user", "secret", "extra"}},
		{b, []string{"HELLO", "3", "AUTH", "default", "pw", "SETNAME", "n"}},
		{b, []string{"HELLO", "3", "SETNAME", "n2"}},
		{a, []string{"NOSUCH", "x"}},
		{a, []string{"GET"}},
		{a, []string{"CONFIG", "GET", "maxmemory"}},
		{a, []string{"CLIENT", "LIST"}},
		{a, []string{"CLIENT", "ID"}},
		{a, []string{"MULTI"}},
		{a, []string{"INCR", "n"}},
		{a, []string{"EXEC"}},
		{b, []string{"SUBSCRIBE", "c"}},
		{a, []string{"PUBLISH", "c", "m"}},
		{a, []string{"ECHO", "end"}},
	}
	for _, cmd := range commands {
		cmd.c.Do(cmd.args...)
		if cmd.args[0] == "PUBLISH" {
			if _, err := b.Read(); err != nil { // b's message
				t.Fatal(err)
			}
		}
	}
	for {
		rep, err := mon.Read()
		if err != nil {
			t.Fatalf("%s: monitor: %v", p.Name, err)
		}
		line := string(rep)
		if !monitorLine.MatchString(line) {
			t.Errorf("%s: malformed MONITOR line %q", p.Name, line)
		}
		line = monitorTime.ReplaceAllString(line, "+TIME ")
		if m := monitorPeer.FindStringSubmatchIndex(line); m != nil {
			peer := line[m[4]:m[5]]
			if peers[peer] == "" {
				peers[peer] = fmt.Sprintf("peer%d", len(peers))
			}
			line = line[:m[4]] + peers[peer] + line[m[5]:]
		}
		tr.lines = append(tr.lines, line)
		if strings.Contains(line, `"ECHO" "end"`) {
			break
		}
	}
	// The monitor sees its own commands after their replies; it may not touch keys.
	mon.do(t, tr, 1, "GET", "k")
	if err := mon.Send(encodeCommand([]string{"MONITOR"})); err != nil { // ignored, no reply
		t.Fatal(err)
	}
	rep := mon.Do("PING")
	tr.add("mon", rep)
	line, _ := mon.Read()
	tr.add("mon", monitorTime.ReplaceAll(monitorPeer.ReplaceAll(line, []byte("[$1 peer]")), []byte("+TIME ")))
	mon.do(t, tr, 1, "RESET")
	a.Do("PING")
	mon.do(t, tr, 1, "PING") // nothing more after RESET
	tr.lines = append(tr.lines, fmt.Sprint(len(peers), " peers"))
	return tr.lines
}

func TestMonitorAgainstRedis(t *testing.T) {
	ref := startRedisUnix(t)
	sub := startSidecache(t)
	for _, resp3 := range []bool{false, true} {
		t.Run(fmt.Sprintf("resp3=%v", resp3), func(t *testing.T) {
			want := monitorScenario(t, ref, resp3)
			got := monitorScenario(t, sub, resp3)
			compareTranscripts(t, want, got)
		})
	}
}

// go-redis's PubSub API works against sidecache in RESP2 and RESP3, over TCP and Unix.
func TestPubSubGoRedis(t *testing.T) {
	p := startSidecache(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, proto := range []int{2, 3} {
		for _, tp := range []struct{ network, addr string }{{"tcp", p.Addr}, {"unix", p.Socket}} {
			t.Run(fmt.Sprintf("resp%d-%s", proto, tp.network), func(t *testing.T) {
				opts := func() *redis.Options {
					return &redis.Options{Network: tp.network, Addr: tp.addr, Protocol: proto,
						DialTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second}
				}
				rdb := redis.NewClient(opts())
				defer rdb.Close()
				pubc := redis.NewClient(opts())
				defer pubc.Close()
				ch := fmt.Sprintf("gr-%d-%s", proto, tp.network)

				ps := rdb.Subscribe(ctx, ch)
				defer ps.Close()
				if _, err := ps.Receive(ctx); err != nil { // the subscription confirmation
					t.Fatal(err)
				}
				if err := ps.PSubscribe(ctx, ch+"-p*"); err != nil {
					t.Fatal(err)
				}
				n, err := pubc.Publish(ctx, ch, "one").Result()
				if err != nil || n != 1 {
					t.Fatalf("Publish = %d, %v", n, err)
				}
				m, err := ps.ReceiveMessage(ctx)
				if err != nil || m.Channel != ch || m.Payload != "one" || m.Pattern != "" {
					t.Fatalf("ReceiveMessage = %+v, %v", m, err)
				}
				if n, err := pubc.Publish(ctx, ch+"-pat", "two").Result(); err != nil || n != 1 {
					t.Fatalf("Publish to the pattern = %d, %v", n, err)
				}
				m, err = ps.ReceiveMessage(ctx)
				if err != nil || m.Pattern != ch+"-p*" || m.Channel != ch+"-pat" || m.Payload != "two" {
					t.Fatalf("pattern message = %+v, %v", m, err)
				}
				subs, err := pubc.PubSubNumSub(ctx, ch, "none").Result()
				if err != nil || subs[ch] != 1 || subs["none"] != 0 {
					t.Fatalf("PubSubNumSub = %v, %v", subs, err)
				}
				chans, err := pubc.PubSubChannels(ctx, ch+"*").Result()
				if err != nil || !slices.Equal(chans, []string{ch}) {
					t.Fatalf("PubSubChannels = %v, %v", chans, err)
				}
				// The channel API, then unsubscribing.
				msgs := ps.Channel()
				for i := range 50 {
					if err := pubc.Publish(ctx, ch, strconv.Itoa(i)).Err(); err != nil {
						t.Fatal(err)
					}
				}
				for i := range 50 {
					select {
					case m := <-msgs:
						if m.Payload != strconv.Itoa(i) {
							t.Fatalf("message %d: %q", i, m.Payload)
						}
					case <-time.After(5 * time.Second):
						t.Fatalf("message %d did not arrive", i)
					}
				}
				if err := ps.Unsubscribe(ctx, ch); err != nil {
					t.Fatal(err)
				}
				waitUntil(t, "the unsubscription", 10*time.Second, func() bool {
					subs, err := pubc.PubSubNumSub(ctx, ch).Result()
					return err == nil && subs[ch] == 0
				})

				// Shard channels.
				sps := rdb.SSubscribe(ctx, ch+"-s")
				defer sps.Close()
				if _, err := sps.Receive(ctx); err != nil {
					t.Fatal(err)
				}
				if n, err := pubc.SPublish(ctx, ch+"-s", "three").Result(); err != nil || n != 1 {
					t.Fatalf("SPublish = %d, %v", n, err)
				}
				m, err = sps.ReceiveMessage(ctx)
				if err != nil || m.Channel != ch+"-s" || m.Payload != "three" {
					t.Fatalf("shard message = %+v, %v", m, err)
				}
			})
		}
	}
}

// A subscriber that never reads is closed at client-output-buffer-limit pubsub (set from
// the command line) while the other subscribers keep receiving every message.
func TestPubSubSlowSubscriberDisconnected(t *testing.T) {
	p := startSidecache(t, "--client-output-buffer-limit", "pubsub 1mb 512kb 60")
	admin := dialResp(t, p.Addr)
	if rep := string(admin.Do("CONFIG", "GET", "client-output-buffer-limit")); !strings.Contains(rep, "pubsub 1048576 524288 60") {
		t.Fatalf("CONFIG GET client-output-buffer-limit = %q", rep)
	}
	slow := dialResp(t, p.Addr)
	slow.Do("SUBSCRIBE", "c") // and never reads again
	readers := []*respConn{dialResp(t, p.Socket), dialResp(t, p.Addr)}
	for _, r := range readers {
		r.Do("SUBSCRIBE", "c")
	}
	payload := strings.Repeat("p", 64<<10)
	var wg sync.WaitGroup
	counts := make([]int, len(readers))
	for i, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				rep, err := r.Read()
				if err != nil {
					return
				}
				if strings.HasSuffix(string(rep), "$3\r\nend\r\n") {
					return
				}
				counts[i]++
			}
		}()
	}
	pub := dialResp(t, p.Addr)
	sent := 0
	for ; ; sent++ {
		if sent == 2000 {
			t.Fatal("the slow subscriber was not disconnected after 125 MiB")
		}
		rep := string(pub.Do("PUBLISH", "c", payload))
		if rep == ":2\r\n" {
			break // the slow one is gone
		}
		if rep != ":3\r\n" {
			t.Fatalf("PUBLISH answered %q", rep)
		}
	}
	pub.Do("PUBLISH", "c", "end")
	wg.Wait()
	for i, n := range counts {
		if n != sent+1 {
			t.Errorf("reader %d got %d messages of %d", i, n, sent+1)
		}
	}
	// Whatever the socket buffers still hold, the connection ends (EOF or reset, not a
	// timeout).
	_ = slow.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, slow.br); err != nil && !isReset(err) {
		t.Errorf("the slow subscriber's connection is still open: %v", err)
	}
	if rep := string(admin.Do("INFO", "stats")); !strings.Contains(rep, "client_output_buffer_limit_disconnections:1\r\n") {
		t.Errorf("INFO stats does not count the disconnection:\n%s", rep)
	}
}

// A RESP3 subscriber pipelining its own commands while messages stream in from a publisher
// on (very likely) another event loop gets every reply and every message whole and in
// order. Several subscribers, so that some are served by a loop other than the publisher's.
func TestPubSubOrderingAcrossLoops(t *testing.T) {
	p := startSidecache(t)
	const msgs, pings = 2000, 2000
	var wg sync.WaitGroup
	for i := range 4 {
		addr := p.Addr
		if i%2 == 1 {
			addr = p.Socket
		}
		sub := dialResp(t, addr)
		if rep := sub.Do("HELLO", "3"); rep[0] != '%' {
			t.Fatalf("HELLO 3: %q", rep)
		}
		sub.Do("SUBSCRIBE", "o")
		wg.Add(2)
		go func() {
			defer wg.Done()
			var b []byte
			for j := range pings {
				b = append(b, encodeCommand([]string{"ECHO", strconv.Itoa(j)})...)
				if len(b) > 2048 || j == pings-1 {
					if err := sub.Send(b); err != nil {
						t.Error(err)
						return
					}
					b = b[:0]
				}
			}
		}()
		go func() {
			defer wg.Done()
			nextMsg, nextEcho := 0, 0
			for nextMsg < msgs || nextEcho < pings {
				rep, err := sub.Read()
				if err != nil {
					t.Errorf("subscriber %d: %v after %d messages, %d replies", i, err, nextMsg, nextEcho)
					return
				}
				s := string(rep)
				switch {
				case strings.HasPrefix(s, ">3\r\n$7\r\nmessage\r\n$1\r\no\r\n"):
					if want := fmt.Sprintf("$%d\r\n%d\r\n", len(strconv.Itoa(nextMsg)), nextMsg); !strings.HasSuffix(s, want) {
						t.Errorf("subscriber %d: message %q, want %d", i, s, nextMsg)
						return
					}
					nextMsg++
				case s == fmt.Sprintf("$%d\r\n%d\r\n", len(strconv.Itoa(nextEcho)), nextEcho):
					nextEcho++
				default:
					t.Errorf("subscriber %d: unexpected %q after %d messages, %d replies", i, s, nextMsg, nextEcho)
					return
				}
			}
		}()
	}
	pub := dialResp(t, p.Addr)
	var b []byte
	for j := range msgs {
		b = append(b, encodeCommand([]string{"PUBLISH", "o", strconv.Itoa(j)})...)
		if len(b) > 2048 || j == msgs-1 {
			if err := pub.Send(b); err != nil {
				t.Fatal(err)
			}
			b = b[:0]
		}
	}
	for range msgs {
		if rep, err := pub.Read(); err != nil || string(rep) != ":4\r\n" {
			t.Fatalf("PUBLISH answered %q, %v", rep, err)
		}
	}
	wg.Wait()
}
