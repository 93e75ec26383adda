package inproc

import (
	"context"
	"testing"
	"time"

	"github.com/sidecache/sidecache/loadgen"
)

func TestRegister(t *testing.T) {
	Register()
	Register()
	f := func(spec, name string) {
		t.Helper()
		tg, err := loadgen.ParseTarget(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		defer tg.Close()
		if tg.Name() != name {
			t.Errorf("%s: named %q", spec, tg.Name())
		}
	}
	f("engine", "engine")
	f("proto", "proto")
	f("sidecache-engine=engine", "sidecache-engine")
	f("sidecache-inproc=proto", "sidecache-inproc")
}

var workload = loadgen.Workload{Keys: 1000, ReadRatio: 0.9, ValueMin: 10, ValueMax: 200, TTL: time.Hour, Seed: 3}

// TestEngineTarget: after prefill every GET hits, every key is there with its TTL.
func TestEngineTarget(t *testing.T) {
	tg, err := NewEngine("engine")
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	r, err := loadgen.Run(context.Background(), tg, loadgen.Options{Workload: workload, Conns: 2, Pipeline: 3, Requests: 5000, Prefill: true})
	if err != nil {
		t.Fatal(err)
	}
	db := tg.Engine().DB(0)
	if r.Ops != 5000 || r.Hits != r.Gets || r.Gets < 4000 || r.Errors != 0 || r.Prefilled != 1000 {
		t.Errorf("report: %d ops, %d/%d hits, %d errors, %d prefilled", r.Ops, r.Hits, r.Gets, r.Errors, r.Prefilled)
	}
	if db.Len() != 1000 || db.Expires() != 1000 {
		t.Errorf("engine holds %d keys, %d with a TTL; want 1000, 1000", db.Len(), db.Expires())
	}
}

// TestProtoTarget: the command layer counts exactly the commands the report counts, and
// without prefill GETs miss until their key was SET.
func TestProtoTarget(t *testing.T) {
	tg, err := NewProto("proto")
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	o := loadgen.Options{Workload: workload, Conns: 2, Pipeline: 4, Requests: 4001, Prefill: true}
	r, err := loadgen.Run(context.Background(), tg, o)
	if err != nil {
		t.Fatal(err)
	}
	calls := func() map[string]uint64 {
		m := map[string]uint64{}
		for _, st := range tg.Server().CommandStats(false) {
			m[st.Name] = st.Calls
		}
		return m
	}
	c := calls()
	if c["get"] != uint64(r.Gets) || c["set"] != uint64(r.Sets+r.Prefilled) || r.Ops != 4001 {
		t.Errorf("commandstats get %d set %d; report %d GETs, %d SETs + %d prefilled", c["get"], c["set"], r.Gets, r.Sets, r.Prefilled)
	}
	if r.Hits != r.Gets || r.Errors != 0 {
		t.Errorf("after prefill: %d of %d GETs hit, %d errors", r.Hits, r.Gets, r.Errors)
	}

	w := workload
	w.Keys, w.ReadRatio, w.CacheAside, w.KeyPrefix = 100, 1, true, "aside:"
	r, err = loadgen.Run(context.Background(), tg, loadgen.Options{Workload: w, Requests: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if misses := r.Gets - r.Hits; misses == 0 || misses > 100 || r.Sets != misses {
		t.Errorf("cache-aside on an empty keyspace: %d GETs, %d hits, %d SETs", r.Gets, r.Hits, r.Sets)
	}
}

// TestInprocAllocs: a batch of GETs and SETs allocates nothing on either in-process target.
func TestInprocAllocs(t *testing.T) {
	eng, err := NewEngine("engine")
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	proto, err := NewProto("proto")
	if err != nil {
		t.Fatal(err)
	}
	defer proto.Close()
	ops := []loadgen.Op{
		{Set: true, Key: []byte("k1"), Value: make([]byte, 100)},
		{Set: true, Key: []byte("k2"), Value: make([]byte, 100), TTLms: 60000},
		{Key: []byte("k1")},
		{Key: []byte("missing")},
	}
	out := make([]loadgen.Reply, len(ops))
	for _, tg := range []loadgen.Target{eng, proto} {
		c, err := tg.Connect()
		if err != nil {
			t.Fatal(err)
		}
		do := func() {
			if err := c.Do(loadgen.Now(), ops, out); err != nil {
				t.Fatal(err)
			}
		}
		do()
		if !out[2].Hit || out[3].Hit || out[0].Err {
			t.Errorf("%s: replies %+v", tg.Name(), out)
		}
		if n := testing.AllocsPerRun(200, do); n != 0 {
			t.Errorf("%s: %.1f allocations per batch", tg.Name(), n)
		}
		for i := range ops { // one command a batch: the server's ExecTimed path
			if n := testing.AllocsPerRun(200, func() { c.Do(loadgen.Now(), ops[i:i+1], out) }); n != 0 {
				t.Errorf("%s: %.1f allocations for a batch of command %d", tg.Name(), n, i)
			}
		}
		c.Close()
	}
}
