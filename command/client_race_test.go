package command

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestClientListRaces: CLIENT LIST, INFO and KILL read other clients while those change
// their state on their own loops (HELLO, SELECT, SETNAME, RESET) and while new clients
// connect (registered before their closer is installed). Run with -race: every read of
// another client must be of an atomic or under a lock.
func TestClientListRaces(t *testing.T) {
	h := newHarness(t)
	changer := h.s.NewClient("127.0.0.1:40001", "127.0.0.1:6379", false)
	lister := h.s.NewClient("127.0.0.1:40002", "127.0.0.1:6379", false)
	const rounds = 300
	var wg sync.WaitGroup
	var stop atomic.Bool
	run := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds || !stop.Load() && i < 100*rounds; i++ {
				f(i)
			}
		}()
	}
	run(func(i int) {
		switch i % 6 {
		case 0:
			execOn(h, changer, "HELLO", "3")
		case 1:
			execOn(h, changer, "SELECT", strconv.Itoa(i%16))
		case 2:
			execOn(h, changer, "HELLO", "2")
		case 3:
			execOn(h, changer, "CLIENT", "SETNAME", "n"+strconv.Itoa(i))
		case 4:
			execOn(h, changer, "RESET")
		case 5:
			execOn(h, changer, "SUBSCRIBE", "ch")
			execOn(h, changer, "UNSUBSCRIBE")
		}
	})
	// Connections that come and go; CLIENT KILL below matches them by address.
	run(func(i int) {
		c := h.s.NewClient("10.0.0.9:1", "127.0.0.1:6379", false)
		c.SetCloser(func() {})
		h.s.ReleaseClient(c)
	})
	var lists atomic.Int64
	run(func(i int) {
		switch i % 4 {
		case 0, 1:
			if got := execOn(h, lister, "CLIENT", "LIST"); !strings.Contains(got, "id="+strconv.FormatInt(changer.ID, 10)+" addr=") {
				t.Errorf("CLIENT LIST: %q", got)
			}
			lists.Add(1)
		case 2:
			execOn(h, lister, "CLIENT", "LIST", "ID", strconv.FormatInt(changer.ID, 10))
		case 3:
			execOn(h, lister, "CLIENT", "KILL", "ADDR", "10.0.0.9:1")
		}
	})
	for lists.Load() < rounds/2 {
		execOn(h, h.c, "CLIENT", "INFO")
	}
	stop.Store(true)
	wg.Wait()
	// At rest, the published fields are the live ones.
	execOn(h, changer, "HELLO", "3")
	execOn(h, changer, "SELECT", "5")
	line := execOn(h, lister, "CLIENT", "LIST", "ID", strconv.FormatInt(changer.ID, 10))
	if !strings.Contains(line, " db=5 ") || !strings.Contains(line, " resp=3 ") {
		t.Fatalf("CLIENT LIST of a client in db 5, RESP3: %q", line)
	}
}

// TestClientInfoInsideMulti: a client's own CLIENT INFO and LIST show its database and
// protocol as changed earlier in the same transaction, as Redis does.
func TestClientInfoInsideMulti(t *testing.T) {
	h := newHarness(t)
	f := h.f()
	f("MULTI", "+OK\r\n")
	f("SELECT 3", "+QUEUED\r\n")
	f("CLIENT INFO", "+QUEUED\r\n")
	got := h.run("EXEC")
	if !strings.Contains(got, " db=3 ") {
		t.Fatalf("EXEC: %q", got)
	}
}
