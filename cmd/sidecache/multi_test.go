package main

// Transactions with more than one connection (the differential scripts have one):
// WATCH against other clients' writes compared byte for byte with redis-server, isolation
// of EXEC from clients on other event loops, and go-redis's TxPipelined and Watch.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// txStep is one command on connection conn (1 or 2), or a pause, or a reconnect of conn.
type txStep struct {
	conn  int
	args  string // split on spaces; "" with sleep or reconnect
	sleep time.Duration
	redo  bool // close conn and connect again
}

func on(conn int, args string) txStep { return txStep{conn: conn, args: args} }

// runTxSteps runs steps on two fresh connections to p and returns one line per reply.
func runTxSteps(t *testing.T, p *proc, proto int, steps []txStep) []string {
	t.Helper()
	addr := p.Socket
	if addr == "" {
		addr = p.Addr
	}
	conns := [3]*respConn{}
	connect := func(i int) {
		conns[i] = dialResp(t, addr)
		if proto == 3 {
			conns[i].Do("HELLO", "3")
		}
	}
	connect(1)
	connect(2)
	conns[1].Do("FLUSHALL")
	var out []string
	for _, st := range steps {
		switch {
		case st.sleep > 0:
			time.Sleep(st.sleep)
		case st.redo:
			conns[st.conn].Close()
			connect(st.conn)
		default:
			rep := conns[st.conn].Do(strings.Split(st.args, " ")...)
			out = append(out, fmt.Sprintf("%d %s -> %q", st.conn, st.args, rep))
		}
	}
	return out
}

// TestWatchOtherClients compares with redis-server what EXEC answers after other clients'
// writes, flushes, expiry, transactions and a closed connection.
func TestWatchOtherClients(t *testing.T) {
	steps := []txStep{
		// A foreign write; a foreign read or write of another key is no change.
		on(1, "SET k 1"), on(1, "WATCH k"), on(2, "SET k 2"), on(1, "MULTI"), on(1, "GET k"), on(1, "EXEC"),
		on(1, "WATCH k"), on(2, "GET k"), on(2, "SET other 1"), on(2, "DEL nokey"), on(1, "MULTI"), on(1, "GET k"), on(1, "EXEC"),
		// Written after MULTI, before EXEC.
		on(1, "WATCH k"), on(1, "MULTI"), on(1, "SET k 5"), on(2, "SET k 6"), on(1, "EXEC"), on(1, "GET k"),
		// A key created by another client.
		on(1, "WATCH newkey"), on(2, "SET newkey 1 NX"), on(1, "MULTI"), on(1, "EXEC"),
		on(1, "WATCH newkey"), on(2, "SET newkey 2 NX"), on(1, "MULTI"), on(1, "EXEC"),
		// Another client's transaction: queued commands change nothing until its EXEC.
		on(1, "WATCH k"), on(2, "MULTI"), on(2, "SET k 8"), on(1, "MULTI"), on(1, "PING"), on(1, "EXEC"), on(2, "EXEC"),
		on(1, "WATCH k"), on(2, "MULTI"), on(2, "INCR k"), on(2, "EXEC"), on(1, "MULTI"), on(1, "EXEC"),
		on(1, "WATCH k"), on(2, "MULTI"), on(2, "SET k 9"), on(2, "DISCARD"), on(1, "MULTI"), on(1, "EXEC"),
		// Two watchers; one's EXEC changes the other's key.
		on(1, "WATCH k"), on(2, "WATCH k"), on(1, "MULTI"), on(1, "INCR k"), on(1, "EXEC"),
		on(2, "MULTI"), on(2, "INCR k"), on(2, "EXEC"), on(2, "GET k"),
		// Flushes by another client: only keys that existed.
		on(1, "WATCH k nokey"), on(2, "FLUSHDB"), on(1, "MULTI"), on(1, "EXEC"),
		on(1, "WATCH nokey"), on(2, "FLUSHALL"), on(1, "MULTI"), on(1, "EXEC"),
		on(1, "SET k 1"), on(1, "SELECT 5"), on(1, "WATCH k"), on(2, "FLUSHALL"), on(1, "MULTI"), on(1, "EXEC"), on(1, "SELECT 0"),
		// Expiry noticed by another client's read, and expiry alone.
		on(2, "SET e 1 PX 100"), on(1, "WATCH e"), {sleep: 200 * time.Millisecond}, on(2, "GET e"), on(1, "MULTI"), on(1, "EXEC"),
		on(2, "SET e 1 PX 100"), on(1, "WATCH e"), {sleep: 200 * time.Millisecond}, on(1, "MULTI"), on(1, "EXEC"),
		// A change after EXEC answered null is seen by the next WATCH only.
		on(1, "WATCH k"), on(2, "SET k 3"), on(1, "MULTI"), on(1, "EXEC"),
		// A client closing in MULTI: nothing of its transaction runs, its watches go.
		on(1, "WATCH k"), on(1, "MULTI"), on(1, "SET k closed"), {conn: 1, redo: true}, on(2, "GET k"), on(1, "EXEC"),
		on(2, "SET k 4"), on(1, "MULTI"), on(1, "EXEC"),
	}
	ref := startRedisUnix(t)
	sub := startSubject(t)
	for _, proto := range []int{2, 3} {
		want := runTxSteps(t, ref, proto, steps)
		got := runTxSteps(t, sub, proto, steps)
		for i := range want {
			if i >= len(got) || got[i] != want[i] {
				g := "(none)"
				if i < len(got) {
					g = got[i]
				}
				t.Fatalf("RESP%d step %d:\nredis:     %s\nsidecache: %s", proto, i, want[i], g)
			}
		}
	}
}

// TestExecIsolated: while one client runs MULTI, INCR k x20, EXEC in a loop, another client
// (on another event loop: connections are spread round robin) never reads k mid-transaction.
func TestExecIsolated(t *testing.T) {
	p := startSubject(t)
	w := dialResp(t, p.Addr)
	r := dialResp(t, p.Addr)
	const perTx, txs = 20, 500
	var req []byte
	req = append(req, encodeCommand([]string{"MULTI"})...)
	for i := 0; i < perTx; i++ {
		req = append(req, encodeCommand([]string{"INCR", "k"})...)
	}
	req = append(req, encodeCommand([]string{"EXEC"})...)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var readErr error
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := r.Send(encodeCommand([]string{"GET", "k"})); err != nil {
				readErr = err
				return
			}
			rep, err := r.Read()
			if err != nil {
				readErr = err
				return
			}
			if bytes.HasPrefix(rep, []byte("$-1")) {
				continue
			}
			lines := strings.Split(string(rep), "\r\n")
			if n, _ := strconv.Atoi(lines[1]); n%perTx != 0 {
				readErr = fmt.Errorf("GET k = %d inside a transaction", n)
				return
			}
		}
	}()
	for i := 0; i < txs; i++ {
		if err := w.Send(req); err != nil {
			t.Fatal(err)
		}
		for j := 0; j < perTx+2; j++ {
			if _, err := w.Read(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
}

// TestGoRedisTransactions: go-redis's TxPipelined, Watch with its optimistic-locking retry
// loop under contention, and TxFailedErr, in RESP3 and RESP2.
func TestGoRedisTransactions(t *testing.T) {
	p := startSubject(t)
	for _, proto := range []int{3, 2} {
		t.Run("resp"+strconv.Itoa(proto), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			newClient := func() *redis.Client {
				return redis.NewClient(&redis.Options{Network: "unix", Addr: p.Socket, Protocol: proto,
					DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 5 * time.Second,
					PoolSize: 8})
			}
			rdb := newClient()
			defer rdb.Close()
			prefix := "tx" + strconv.Itoa(proto) + ":"
			if err := rdb.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}

			var incr *redis.IntCmd
			var get *redis.StringCmd
			cmds, err := rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.Set(ctx, prefix+"a", "1", 0)
				incr = pipe.Incr(ctx, prefix+"a")
				get = pipe.Get(ctx, prefix+"a")
				return nil
			})
			if err != nil || len(cmds) != 3 || incr.Val() != 2 || get.Val() != "2" {
				t.Fatalf("TxPipelined: %v %v %d %q", cmds, err, incr.Val(), get.Val())
			}
			// An error at run time fails that command only.
			_, err = rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.Set(ctx, prefix+"s", "x", 0)
				incr = pipe.Incr(ctx, prefix+"s")
				get = pipe.Get(ctx, prefix+"s")
				return nil
			})
			if err == nil || incr.Err() == nil || get.Val() != "x" {
				t.Fatalf("TxPipelined with an error: %v, INCR %v, GET %q", err, incr.Err(), get.Val())
			}

			// Watch: a concurrent change makes EXEC fail with TxFailedErr.
			other := newClient()
			defer other.Close()
			err = rdb.Watch(ctx, func(tx *redis.Tx) error {
				if err := other.Set(ctx, prefix+"w", "theirs", 0).Err(); err != nil {
					return err
				}
				_, err := tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
					pipe.Set(ctx, prefix+"w", "mine", 0)
					return nil
				})
				return err
			}, prefix+"w")
			if !errors.Is(err, redis.TxFailedErr) {
				t.Fatalf("Watch after a concurrent write: %v, want TxFailedErr", err)
			}
			if v := rdb.Get(ctx, prefix+"w").Val(); v != "theirs" {
				t.Fatalf("w = %q", v)
			}

			// The optimistic increment of go-redis's documentation, under contention: every
			// increment lands exactly once.
			const workers, each = 4, 50
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			for g := 0; g < workers; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := newClient()
					defer c.Close()
					for i := 0; i < each; i++ {
						for {
							err := c.Watch(ctx, func(tx *redis.Tx) error {
								n, err := tx.Get(ctx, prefix+"counter").Int()
								if err != nil && err != redis.Nil {
									return err
								}
								_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
									pipe.Set(ctx, prefix+"counter", n+1, 0)
									return nil
								})
								return err
							}, prefix+"counter")
							if err == nil {
								break
							}
							if !errors.Is(err, redis.TxFailedErr) {
								errs <- err
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n, err := rdb.Get(ctx, prefix+"counter").Int(); err != nil || n != workers*each {
				t.Fatalf("counter = %d, %v; want %d", n, err, workers*each)
			}
		})
	}
}
