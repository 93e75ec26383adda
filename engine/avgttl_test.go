package engine

import (
	"strconv"
	"testing"
	"time"
)

// TestAvgTTL: active expiry's samples estimate the TTL left to a database's keys (INFO
// keyspace avg_ttl); a database without keys with a TTL reports 0.
func TestAvgTTL(t *testing.T) {
	e := open(t, Config{Databases: 2, Segments: 4})
	d := e.DB(0)
	if d.AvgTTL() != 0 {
		t.Fatal("avg_ttl before any key")
	}
	for i := range 400 {
		ttl := int64(10_000)
		if i%2 == 1 {
			ttl = 30_000
		}
		d.Set([]byte("k"+strconv.Itoa(i)), []byte("v"), t0, SetOptions{ExpireAt: t0 + ttl}, nil)
		d.Set([]byte("p"+strconv.Itoa(i)), []byte("v"), t0, SetOptions{}, nil) // no TTL: not counted
	}
	for range 50 {
		e.ActiveExpire(t0, time.Second)
	}
	if got := d.AvgTTL(); got < 15_000 || got > 25_000 {
		t.Fatalf("avg_ttl %d, want about 20000", got)
	}
	if e.DB(1).AvgTTL() != 0 {
		t.Fatal("an empty database has an avg_ttl")
	}
	// Once the keys are gone, the estimate goes with them.
	e.ActiveExpire(t0+40_000, time.Second)
	for range 50 {
		e.ActiveExpire(t0+40_000, time.Second)
	}
	if d.Expires() != 0 || d.AvgTTL() != 0 {
		t.Fatalf("after expiry: %d keys with a TTL, avg_ttl %d", d.Expires(), d.AvgTTL())
	}
}
