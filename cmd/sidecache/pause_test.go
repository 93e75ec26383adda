package main

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// CLIENT PAUSE over real connections. Every scenario runs against sidecache and against
// redis-server, which proves the scenario itself. A command held back is observed through
// INFO's blocked_clients from a third connection, never by waiting for a reply that does
// not come.
func TestClientPauseConnections(t *testing.T) {
	for _, target := range []string{"sidecache", "redis"} {
		t.Run(target, func(t *testing.T) {
			var p *proc
			if target == "redis" {
				p = startRedis(t)
			} else {
				p = startSidecache(t)
			}
			t.Run("write", func(t *testing.T) { pauseWrite(t, p.Addr) })
			t.Run("self", func(t *testing.T) { pauseSelf(t, p.Addr) })
			t.Run("pipeline", func(t *testing.T) { pausePipeline(t, p.Addr) })
			t.Run("timeout", func(t *testing.T) { pauseTimeout(t, p.Addr) })
			t.Run("publish", func(t *testing.T) { pausePublish(t, p.Addr) })
		})
	}
}

// waitBlocked polls INFO clients on c until blocked_clients is n.
func waitBlocked(t *testing.T, c *respConn, n int) {
	t.Helper()
	want := "blocked_clients:" + strconv.Itoa(n) + "\r\n"
	deadline := time.Now().Add(ioTimeout)
	for {
		rep := string(c.Do("INFO", "clients"))
		if strings.Contains(rep, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("INFO clients never showed %q: %s", strings.TrimSpace(want), rep)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func expectReply(t *testing.T, c *respConn, want string) {
	t.Helper()
	rep, err := c.Read()
	if err != nil || string(rep) != want {
		t.Fatalf("reply %q, %v; want %q", rep, err, want)
	}
}

// pauseWrite: in WRITE mode a write waits while reads pass; UNPAUSE releases it.
func pauseWrite(t *testing.T, addr string) {
	a, b, c := dialResp(t, addr), dialResp(t, addr), dialResp(t, addr)
	c.Do("DEL", "pw")
	if rep := string(a.Do("CLIENT", "PAUSE", "60000", "WRITE")); rep != "+OK\r\n" {
		t.Fatalf("CLIENT PAUSE: %q", rep)
	}
	if err := b.Send(encodeCommand([]string{"SET", "pw", "v"})); err != nil {
		t.Fatal(err)
	}
	waitBlocked(t, c, 1)
	if rep := string(c.Do("GET", "pw")); rep != "$-1\r\n" {
		t.Fatalf("GET during the pause: %q (the SET ran)", rep)
	}
	if rep := string(c.Do("CLIENT", "LIST")); !strings.Contains(rep, " flags=b") || !strings.Contains(rep, " cmd=set ") {
		t.Fatalf("CLIENT LIST does not show the blocked SET: %s", rep)
	}
	if rep := string(a.Do("CLIENT", "UNPAUSE")); rep != "+OK\r\n" {
		t.Fatalf("CLIENT UNPAUSE: %q", rep)
	}
	expectReply(t, b, "+OK\r\n")
	if rep := string(c.Do("GET", "pw")); rep != "$1\r\nv\r\n" {
		t.Fatalf("GET after the pause: %q", rep)
	}
	waitBlocked(t, c, 0)
}

// pauseSelf: the pausing client is paused too, from the next command of its own pipeline.
func pauseSelf(t *testing.T, addr string) {
	a, c := dialResp(t, addr), dialResp(t, addr)
	c.Do("DEL", "ps")
	if err := a.Send([]byte("CLIENT PAUSE 60000 WRITE\r\nSET ps 1\r\nGET ps\r\n")); err != nil {
		t.Fatal(err)
	}
	expectReply(t, a, "+OK\r\n")
	waitBlocked(t, c, 1)
	if rep := string(c.Do("GET", "ps")); rep != "$-1\r\n" {
		t.Fatalf("GET during the pause: %q", rep)
	}
	c.Do("CLIENT", "UNPAUSE")
	expectReply(t, a, "+OK\r\n")
	expectReply(t, a, "$1\r\n1\r\n")
}

// pausePipeline: a long pipeline held back by the pause runs whole and in order after it.
func pausePipeline(t *testing.T, addr string) {
	a, b, c := dialResp(t, addr), dialResp(t, addr), dialResp(t, addr)
	c.Do("DEL", "pp")
	a.Do("CLIENT", "PAUSE", "60000", "WRITE")
	const n = 2000
	var buf []byte
	for i := range n {
		buf = append(buf, encodeCommand([]string{"INCR", "pp"})...)
		if i%500 == 0 {
			buf = append(buf, encodeCommand([]string{"GET", "pp"})...)
		}
	}
	if err := b.Send(buf); err != nil {
		t.Fatal(err)
	}
	waitBlocked(t, c, 1)
	c.Do("CLIENT", "UNPAUSE")
	for i := range n {
		expectReply(t, b, ":"+strconv.Itoa(i+1)+"\r\n")
		if i%500 == 0 {
			expectReply(t, b, "$"+strconv.Itoa(len(strconv.Itoa(i+1)))+"\r\n"+strconv.Itoa(i+1)+"\r\n")
		}
	}
}

// pauseTimeout: an ALL pause holds every command back and ends by itself at its timeout.
func pauseTimeout(t *testing.T, addr string) {
	a, b := dialResp(t, addr), dialResp(t, addr)
	a.Do("CLIENT", "PAUSE", "200", "ALL")
	if err := b.Send([]byte("PING\r\nSET pt 1\r\nGET pt\r\n")); err != nil {
		t.Fatal(err)
	}
	expectReply(t, b, "+PONG\r\n")
	expectReply(t, b, "+OK\r\n")
	expectReply(t, b, "$1\r\n1\r\n")
	if rep := string(a.Do("PING")); rep != "+PONG\r\n" {
		t.Fatalf("PING after the pause: %q", rep)
	}
}

// pausePublish: PUBLISH and SPUBLISH are may-replicate commands, held back by a WRITE
// pause like writes, while pub/sub reads pass; the message goes out after UNPAUSE.
func pausePublish(t *testing.T, addr string) {
	a, b, c, sub := dialResp(t, addr), dialResp(t, addr), dialResp(t, addr), dialResp(t, addr)
	if rep := string(sub.Do("SUBSCRIBE", "pch")); rep != "*3\r\n$9\r\nsubscribe\r\n$3\r\npch\r\n:1\r\n" {
		t.Fatalf("SUBSCRIBE: %q", rep)
	}
	for _, cmd := range [][]string{{"PUBLISH", "pch", "m"}, {"SPUBLISH", "psc", "m"}} {
		a.Do("CLIENT", "PAUSE", "60000", "WRITE")
		if err := b.Send(encodeCommand(cmd)); err != nil {
			t.Fatal(err)
		}
		waitBlocked(t, c, 1)
		if rep := string(c.Do("CLIENT", "LIST")); !strings.Contains(rep, " flags=b") || !strings.Contains(rep, " cmd="+strings.ToLower(cmd[0])+" ") {
			t.Fatalf("CLIENT LIST does not show the blocked %s: %s", cmd[0], rep)
		}
		if rep := string(c.Do("PUBSUB", "NUMSUB", "pch")); rep != "*2\r\n$3\r\npch\r\n:1\r\n" {
			t.Fatalf("PUBSUB NUMSUB during the pause: %q", rep)
		}
		c.Do("CLIENT", "UNPAUSE")
		if cmd[0] == "PUBLISH" {
			expectReply(t, b, ":1\r\n")
			expectReply(t, sub, "*3\r\n$7\r\nmessage\r\n$3\r\npch\r\n$1\r\nm\r\n")
		} else {
			expectReply(t, b, ":0\r\n")
		}
		waitBlocked(t, c, 0)
	}
}
