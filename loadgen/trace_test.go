package loadgen

import (
	"context"
	"path/filepath"
	"testing"
)

// TestTraceBounded: a trace keeps the first TraceMax measured commands and counts the rest.
func TestTraceBounded(t *testing.T) {
	tr := newTracer(10)
	for range 3 {
		if got := tr.claim(4); len(got) > 4 {
			t.Fatalf("claimed %d of 4", len(got))
		}
	}
	if got := tr.claim(4); len(got) != 0 {
		t.Errorf("claimed %d slots of a full trace", len(got))
	}
	recs, dropped := tr.kept()
	if len(recs) != 10 || dropped != 6 {
		t.Errorf("kept %d, dropped %d; want 10, 6", len(recs), dropped)
	}
	if newTracer(0) != nil {
		t.Error("a tracer without records")
	}
}

// TestTraceRun: a traced closed-loop run against the echo server records its commands with
// send times on the wall clock, writes and reads back the same records.
func TestTraceRun(t *testing.T) {
	tg, err := ParseTarget("echo")
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	o := Options{Workload: Workload{Keys: 100, ReadRatio: 0.5}, Conns: 2, Pipeline: 4, Requests: 400, TraceMax: 100}
	rep, err := Run(context.Background(), tg, o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Traced != 100 || len(rep.Trace) != 100 || rep.TraceDropped != rep.Ops-100 {
		t.Fatalf("ops %d, traced %d (%d records), dropped %d", rep.Ops, rep.Traced, len(rep.Trace), rep.TraceDropped)
	}
	var sets int
	for _, r := range rep.Trace {
		if r.Send < At(0).UnixNano() || r.Latency == 0 {
			t.Fatalf("record %+v", r)
		}
		if r.Flags&TraceSet != 0 {
			sets++
		}
	}
	if sets == 0 || sets == len(rep.Trace) {
		t.Errorf("%d SETs of %d records at read ratio 0.5", sets, len(rep.Trace))
	}
	path := filepath.Join(t.TempDir(), "x.trace")
	if err := WriteTrace(path, rep.Trace, rep.TraceDropped); err != nil {
		t.Fatal(err)
	}
	back, dropped, err := ReadTrace(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(rep.Trace) || dropped != rep.TraceDropped {
		t.Fatalf("read %d records, %d dropped; wrote %d, %d", len(back), dropped, len(rep.Trace), rep.TraceDropped)
	}
	for i := range back {
		if back[i] != rep.Trace[i] {
			t.Fatalf("record %d: read %+v, wrote %+v", i, back[i], rep.Trace[i])
		}
	}
}
