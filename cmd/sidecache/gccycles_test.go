package main

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIntervalRingBounded: the ring keeps the last gcRingSize intervals, oldest first, however
// many are added.
func TestIntervalRingBounded(t *testing.T) {
	var r intervalRing
	f := func(added int) {
		t.Helper()
		r = intervalRing{}
		for i := range added {
			r.add(interval{int64(i), int64(i) + 1})
		}
		var got []int64
		r.each(func(iv interval) { got = append(got, iv.start) })
		want := min(added, gcRingSize)
		if len(got) != want || r.len() != want {
			t.Fatalf("%d added: %d kept (len %d), want %d", added, len(got), r.len(), want)
		}
		for i, s := range got {
			if s != int64(added-want+i) {
				t.Fatalf("%d added: entry %d starts at %d, want %d", added, i, s, added-want+i)
			}
		}
	}
	f(0)
	f(1)
	f(gcRingSize - 1)
	f(gcRingSize)
	f(gcRingSize + 1)
	f(3*gcRingSize + 17)
}

// TestGCLogPauses: pause windows are added once each, oldest first, and cycles that left the
// runtime's history before being read are counted and move pauses_from.
func TestGCLogPauses(t *testing.T) {
	l := newGCLog()
	// hist gives ReadGCStats's view after cycles 1..n, keeping the last keep: most recent
	// first, cycle i ending at i*1000 ns after a pause of i ns.
	hist := func(n, keep int) (int64, []time.Duration, []time.Time) {
		var p []time.Duration
		var e []time.Time
		for i := n; i > max(n-keep, 0); i-- {
			p = append(p, time.Duration(i))
			e = append(e, time.Unix(0, int64(i)*1000))
		}
		return int64(n), p, e
	}
	pauses := func() []interval {
		var got []interval
		l.pauses.each(func(iv interval) { got = append(got, iv) })
		return got
	}
	l.addPauses(hist(3, 256))
	l.addPauses(hist(3, 256))
	l.addPauses(hist(5, 256))
	got := pauses()
	if len(got) != 5 || l.pausesMissing != 0 || l.pausesFrom != 0 {
		t.Fatalf("after 5 cycles: %v, missing %d, from %d", got, l.pausesMissing, l.pausesFrom)
	}
	for i, iv := range got {
		c := int64(i + 1)
		if iv != (interval{c*1000 - c, c * 1000}) {
			t.Errorf("pause %d: %v", i, iv)
		}
	}
	// 300 more cycles, of which the runtime kept the last 256: 44 never seen.
	l.addPauses(hist(305, 256))
	got = pauses()
	if len(got) != 5+256 || l.pausesMissing != 44 {
		t.Fatalf("after 305 cycles: %d windows, missing %d", len(got), l.pausesMissing)
	}
	if first := got[5]; first.end != 50*1000 || l.pausesFrom != first.start {
		t.Errorf("first window after the gap %v, pauses_from %d", first, l.pausesFrom)
	}
	if last := got[len(got)-1]; last.end != 305*1000 {
		t.Errorf("last window %v", last)
	}
}

// TestGCLogListing: forced collections are listed with their spans, the listing stays within
// 2*gcRingSize+3 lines however many collections ran, and forcing does not allocate once the
// log exists (runtime.GC and ReadGCStats reuse its buffers).
func TestGCLogListing(t *testing.T) {
	l := newGCLog()
	before := time.Now().UnixNano()
	l.force()
	after := time.Now().UnixNano()
	lines := strings.Split(strings.TrimSuffix(string(l.appendText(nil)), "\n"), "\n")
	var forced []string
	for _, ln := range lines {
		if strings.HasPrefix(ln, "forced ") {
			forced = append(forced, ln)
		}
	}
	if len(forced) != 1 {
		t.Fatalf("one forced collection, listing %q", lines)
	}
	f := strings.Fields(forced[0])
	s, _ := strconv.ParseInt(f[1], 10, 64)
	e, _ := strconv.ParseInt(f[2], 10, 64)
	if !(before <= s && s <= e && e <= after) {
		t.Errorf("forced span %d..%d outside %d..%d", s, e, before, after)
	}
	if n := testing.AllocsPerRun(20, l.force); n != 0 {
		t.Errorf("%.1f allocations per forced collection", n)
	}
	// Fill both rings past their size without running that many collections.
	l.mu.Lock()
	for i := range 2 * gcRingSize {
		l.forced.add(interval{int64(i), int64(i)})
		l.pauses.add(interval{int64(i), int64(i)})
	}
	l.mu.Unlock()
	b := l.appendText(nil)
	if n := bytes.Count(b, []byte("\n")); n > 2*gcRingSize+3 {
		t.Errorf("listing of %d lines", n)
	}
	if !bytes.HasPrefix(b, []byte("forced_from "+strconv.Itoa(gcRingSize)+"\n")) {
		t.Errorf("forced_from is not the oldest kept start: %q", b[:min(len(b), 120)])
	}
}

// TestGCCyclesEndpoint: /debug/gc-cycles lives where pprof lives and lists the collection
// /debug/pprof/gc ran.
func TestGCCyclesEndpoint(t *testing.T) {
	s := startServerEnv(t, nil)
	if code, _ := httpGet(t, "http://"+s.admin+"/debug/pprof/gc"); code != http.StatusNoContent {
		t.Fatalf("/debug/pprof/gc: %d", code)
	}
	code, body := httpGet(t, "http://"+s.admin+"/debug/gc-cycles")
	if code != 200 || !strings.Contains(body, "\nforced ") || !strings.Contains(body, "\npause ") {
		t.Errorf("/debug/gc-cycles: %d %q", code, body)
	}
}
