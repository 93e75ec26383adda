package loadgen

import (
	"strings"
	"testing"
)

func TestMergeSpans(t *testing.T) {
	f := func(in []Span, want Spans) {
		t.Helper()
		if got := MergeSpans(in); !equalSpans(got, want) {
			t.Errorf("MergeSpans(%v) = %v, want %v", in, got, want)
		}
	}
	f(nil, Spans{})
	f([]Span{{5, 7}}, Spans{{5, 7}})
	f([]Span{{10, 20}, {1, 3}}, Spans{{1, 3}, {10, 20}})
	f([]Span{{1, 5}, {5, 8}}, Spans{{1, 8}})            // touching spans share an instant
	f([]Span{{1, 10}, {2, 3}, {9, 12}}, Spans{{1, 12}}) // contained and overlapping
	f([]Span{{4, 2}}, Spans{{4, 4}})                    // end before start: an instant
}

func equalSpans(a, b Spans) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSpansOverlaps(t *testing.T) {
	s := MergeSpans([]Span{{10, 20}, {30, 40}, {50, 50}})
	f := func(start, end int64, want bool) {
		t.Helper()
		if got := s.Overlaps(start, end); got != want {
			t.Errorf("[%d, %d] overlaps %v: %v, want %v", start, end, s, got, want)
		}
	}
	f(0, 9, false)
	f(0, 10, true) // ends as the first span starts
	f(12, 15, true)
	f(20, 25, true) // starts as the first span ends
	f(21, 29, false)
	f(25, 45, true) // holds the second span
	f(41, 49, false)
	f(50, 50, true)
	f(49, 51, true)
	f(51, 100, false)
	f(0, 100, true)
	if (Spans{}).Overlaps(0, 100) {
		t.Error("an empty set overlaps")
	}
}

func TestClassifyGC(t *testing.T) {
	forced := MergeSpans([]Span{{100, 200}, {1000, 1100}})
	pauses := MergeSpans([]Span{{150, 160}, {500, 510}, {1090, 1100}})
	f := func(start, end int64, wantClass int, wantPause bool) {
		t.Helper()
		c, p := ClassifyGC(forced, pauses, start, end)
		if c != wantClass || p != wantPause {
			t.Errorf("[%d, %d]: class %d, in pause %v; want %d, %v", start, end, c, p, wantClass, wantPause)
		}
	}
	f(0, 99, OutsideGC, false)
	f(90, 110, DuringForced, false)  // starts before a forced collection, ends in it
	f(190, 300, DuringForced, false) // starts in it
	f(140, 170, DuringForced, true)  // holds its pause window
	f(300, 499, OutsideGC, false)
	f(505, 600, DuringPauseWindowOnly, true) // an automatic cycle's pause window
	f(1095, 1200, DuringForced, true)
	f(1101, 2000, OutsideGC, false)
}

func TestSpansWithinShiftTotal(t *testing.T) {
	s := MergeSpans([]Span{{0, 10}, {20, 30}, {40, 50}})
	w := s.Within(5, 45)
	if !equalSpans(w, Spans{{5, 10}, {20, 30}, {40, 45}}) || w.Total() != 20 {
		t.Errorf("Within(5, 45) = %v, total %d", w, w.Total())
	}
	if sh := w.Shift(100); !equalSpans(sh, Spans{{105, 110}, {120, 130}, {140, 145}}) {
		t.Errorf("Shift(100) = %v", sh)
	}
}

func TestParseGCCycles(t *testing.T) {
	in := "forced_from 0\npauses_from 7\npauses_missing 3\nforced 100 200\npause 150 160\nforced 300 400\npause 390 400\n"
	c, err := ParseGCCycles(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if !equalSpans(c.Forced, Spans{{100, 200}, {300, 400}}) || !equalSpans(c.Pauses, Spans{{150, 160}, {390, 400}}) ||
		c.PausesFrom != 7 || c.PausesMissing != 3 || c.ForcedFrom != 0 {
		t.Errorf("parsed %+v", c)
	}
	for _, bad := range []string{"forced 1\n", "pause a b\n", "gc 1 2\n"} {
		if _, err := ParseGCCycles(strings.NewReader(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
