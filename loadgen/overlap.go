package loadgen

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Span is a closed interval of wall-clock time, Unix ns.
type Span struct{ Start, End int64 }

// Spans is a set of time, as disjoint spans in increasing order (MergeSpans makes one).
type Spans []Span

// MergeSpans returns the union of s as Spans; s is not changed. Spans with End < Start are
// taken as the instant Start.
func MergeSpans(s []Span) Spans {
	out := make(Spans, 0, len(s))
	for _, sp := range s {
		out = append(out, Span{sp.Start, max(sp.End, sp.Start)})
	}
	slices.SortFunc(out, func(a, b Span) int { return cmp.Compare(a.Start, b.Start) })
	m := out[:0]
	for _, sp := range out {
		if n := len(m); n > 0 && sp.Start <= m[n-1].End {
			m[n-1].End = max(m[n-1].End, sp.End)
			continue
		}
		m = append(m, sp)
	}
	return m
}

// Overlaps reports whether [start, end] shares at least one instant with s.
func (s Spans) Overlaps(start, end int64) bool {
	// The first span that ends at or after start is the only candidate: spans are disjoint
	// and sorted, so their ends increase too.
	i, _ := slices.BinarySearchFunc(s, start, func(sp Span, t int64) int {
		if sp.End < t {
			return -1
		}
		return 1
	})
	return i < len(s) && s[i].Start <= end
}

// Within returns the parts of s inside [from, to].
func (s Spans) Within(from, to int64) Spans {
	var out Spans
	for _, sp := range s {
		if sp.End < from || sp.Start > to {
			continue
		}
		out = append(out, Span{max(sp.Start, from), min(sp.End, to)})
	}
	return out
}

// Shift returns s moved by d ns.
func (s Spans) Shift(d int64) Spans {
	out := make(Spans, len(s))
	for i, sp := range s {
		out[i] = Span{sp.Start + d, sp.End + d}
	}
	return out
}

// Total is the time s covers, ns (a span [a, b] counts b-a).
func (s Spans) Total() int64 {
	var t int64
	for _, sp := range s {
		t += sp.End - sp.Start
	}
	return t
}

// GCCycles is a listing of sidecache's /debug/gc-cycles: the wall-clock spans of the
// collections /debug/pprof/gc forced and the STW pause windows of recent cycles.
type GCCycles struct {
	Forced, Pauses Spans
	// ForcedFrom and PausesFrom: before these instants (Unix ns) spans may be missing from
	// the listing; 0 when it is complete.
	ForcedFrom, PausesFrom int64
	PausesMissing          int64 // cycles whose pause window the server never read
}

// ParseGCCycles reads a /debug/gc-cycles listing.
func ParseGCCycles(r io.Reader) (*GCCycles, error) {
	var c GCCycles
	var forced, pauses []Span
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		nums := make([]int64, len(f)-1)
		for i, s := range f[1:] {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("gc-cycles line %d: %q", n, sc.Text())
			}
			nums[i] = v
		}
		switch {
		case f[0] == "forced" && len(nums) == 2:
			forced = append(forced, Span{nums[0], nums[1]})
		case f[0] == "pause" && len(nums) == 2:
			pauses = append(pauses, Span{nums[0], nums[1]})
		case f[0] == "forced_from" && len(nums) == 1:
			c.ForcedFrom = nums[0]
		case f[0] == "pauses_from" && len(nums) == 1:
			c.PausesFrom = nums[0]
		case f[0] == "pauses_missing" && len(nums) == 1:
			c.PausesMissing = nums[0]
		default:
			return nil, fmt.Errorf("gc-cycles line %d: %q", n, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	c.Forced, c.Pauses = MergeSpans(forced), MergeSpans(pauses)
	return &c, nil
}

// GC overlap classes of a traced command (ClassifyGC).
const (
	OutsideGC             = iota // overlaps no forced collection and no pause window
	DuringForced                 // overlaps a forced collection
	DuringPauseWindowOnly        // overlaps a pause window but no forced collection (an automatic cycle)
)

// ClassifyGC places the command [start, end] among forced collections and pause windows;
// inPause says whether it overlaps a pause window (of any cycle, forced ones included).
func ClassifyGC(forced, pauses Spans, start, end int64) (class int, inPause bool) {
	inPause = pauses.Overlaps(start, end)
	switch {
	case forced.Overlaps(start, end):
		return DuringForced, inPause
	case inPause:
		return DuringPauseWindowOnly, true
	}
	return OutsideGC, false
}
