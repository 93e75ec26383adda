package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/sidecache/sidecache/loadgen"
)

// cmdGCOverlap: GET latency of the commands that overlapped a GC cycle against those that did
// not, from the traces of loadgen run -trace and sidecache's /debug/gc-cycles listings.
//
//	loadgen gc-overlap [-control D=B] DIR PHASE...
//
// DIR holds PHASE.trace (loadgen run -trace) and PHASE.cycles (/debug/gc-cycles read after
// the phase) for each PHASE. A phase is named KIND + round number (B1, D1, B2, ...).
// -control D=B also classifies the GETs of each phase Di against the forced-collection
// spans of Bi, shifted so that Bi's first GET falls on Di's: what the classification makes
// of a phase in which no collection was forced.
func cmdGCOverlap(args []string) error {
	fs := flag.NewFlagSet("gc-overlap", flag.ExitOnError)
	control := fs.String("control", "D=B", "CONTROL=FORCED: classify each CONTROLi's GETs also against FORCEDi's forced-collection spans, shifted onto CONTROLi (\"\": none)")
	fs.Parse(args)
	if fs.NArg() < 2 {
		return fmt.Errorf("gc-overlap: want DIR PHASE...")
	}
	ctl, lender, ok := strings.Cut(*control, "=")
	if *control != "" && (!ok || ctl == "" || lender == "") {
		return fmt.Errorf("gc-overlap: -control %q: want CONTROL=FORCED, e.g. D=B", *control)
	}
	var phases []*overlapPhase
	for _, name := range fs.Args()[1:] {
		p, err := loadOverlapPhase(fs.Arg(0), name)
		if err != nil {
			return err
		}
		phases = append(phases, p)
	}
	return writeGCOverlap(os.Stdout, phases, ctl, lender)
}

// overlapPhase is one phase's GETs and the server's GC listing read after it.
type overlapPhase struct {
	name, kind, round string
	gets              []loadgen.TraceRecord
	cycles            *loadgen.GCCycles
	from, to          int64 // first send, last reply
	dropped           int64 // measured commands after the trace's buffer was full
}

func loadOverlapPhase(dir, name string) (*overlapPhase, error) {
	recs, dropped, err := loadgen.ReadTrace(filepath.Join(dir, name+".trace"))
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, name+".cycles"))
	if err != nil {
		return nil, err
	}
	c, err := loadgen.ParseGCCycles(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	kind := strings.TrimRight(name, "0123456789")
	p := &overlapPhase{name: name, kind: kind, round: name[len(kind):], cycles: c, dropped: dropped}
	for _, r := range recs {
		if r.Flags&loadgen.TraceSet != 0 {
			continue
		}
		if len(p.gets) == 0 || r.Send < p.from {
			p.from = r.Send
		}
		p.to = max(p.to, r.End())
		p.gets = append(p.gets, r)
	}
	if len(p.gets) == 0 {
		return nil, fmt.Errorf("%s: no GETs traced", name)
	}
	return p, nil
}

// overlapClasses are a phase's GET latencies split by ClassifyGC.
type overlapClasses struct {
	all, during, outside, inPause, autoPause *hdrhistogram.Histogram
}

func newOverlapClasses() *overlapClasses {
	return &overlapClasses{loadgen.NewHist(), loadgen.NewHist(), loadgen.NewHist(), loadgen.NewHist(), loadgen.NewHist()}
}

func (c *overlapClasses) add(o *overlapClasses) {
	c.all.Merge(o.all)
	c.during.Merge(o.during)
	c.outside.Merge(o.outside)
	c.inPause.Merge(o.inPause)
	c.autoPause.Merge(o.autoPause)
}

func classify(gets []loadgen.TraceRecord, forced, pauses loadgen.Spans) *overlapClasses {
	c := newOverlapClasses()
	for _, r := range gets {
		ns := max(int64(r.Latency), 1)
		c.all.RecordValue(ns)
		class, inPause := loadgen.ClassifyGC(forced, pauses, r.Send, r.End())
		switch class {
		case loadgen.DuringForced:
			c.during.RecordValue(ns)
		case loadgen.DuringPauseWindowOnly:
			c.autoPause.RecordValue(ns)
		default:
			c.outside.RecordValue(ns)
		}
		if inPause {
			c.inPause.RecordValue(ns)
		}
	}
	return c
}

// classLabels name overlapClasses' rows: of a phase against its own collections, or of a
// control against another phase's shifted times.
type classLabels struct{ during, outside, inPause, autoPause string }

var (
	forcedLabels = classLabels{"a forced collection", "nothing (no forced collection, no pause window)",
		"a pause window (any cycle)", "an automatic cycle's pause window only"}
	shiftedLabels = classLabels{"the shifted times of a forced collection (none ran)",
		"none of the shifted times (no forced collection, no pause window)",
		"the shifted times of a pause window", "the shifted times of an automatic cycle's pause window only"}
)

func writeGCOverlap(w io.Writer, phases []*overlapPhase, control, lender string) error {
	byName := map[string]*overlapPhase{}
	for _, p := range phases {
		byName[p.name] = p
	}
	type result struct {
		p              *overlapPhase
		forced, pauses loadgen.Spans // within the phase
		c              *overlapClasses
		placebo        *overlapClasses // control phases: against another phase's shifted forced cycles
		against        string
		notes          []string
	}
	var results []result
	pooled := map[string]*overlapClasses{}
	shiftedKind := map[string]bool{}
	var kinds []string
	pool := func(kind string, c *overlapClasses, shifted bool) {
		if pooled[kind] == nil {
			pooled[kind] = newOverlapClasses()
			shiftedKind[kind] = shifted
			kinds = append(kinds, kind)
		}
		pooled[kind].add(c)
	}
	for _, p := range phases {
		res := result{p: p, forced: p.cycles.Forced.Within(p.from, p.to), pauses: p.cycles.Pauses.Within(p.from, p.to)}
		res.c = classify(p.gets, res.forced, res.pauses)
		if p.dropped > 0 {
			res.notes = append(res.notes, fmt.Sprintf("%s: the trace was full; %d later commands (GETs and SETs) are not in it", p.name, p.dropped))
		}
		if f := p.cycles.ForcedFrom; f > p.from {
			res.notes = append(res.notes, fmt.Sprintf("%s: the server's ring lost forced spans before %.3f s into the phase", p.name, float64(f-p.from)/1e9))
		}
		if f := p.cycles.PausesFrom; f > p.from {
			res.notes = append(res.notes, fmt.Sprintf("%s: pause windows may be missing before %.3f s into the phase (%d cycles since the server started never read)", p.name, float64(f-p.from)/1e9, p.cycles.PausesMissing))
		}
		pool(p.kind, res.c, false)
		// The control keeps everything of the lending phase's classification but the
		// collections themselves: same spans, same pattern, none running.
		if p.kind == control && control != "" {
			if src := byName[lender+p.round]; src != nil {
				d := p.from - src.from
				res.placebo = classify(p.gets, src.cycles.Forced.Within(src.from, src.to).Shift(d),
					src.cycles.Pauses.Within(src.from, src.to).Shift(d))
				res.against = src.name
				pool(p.kind+" vs "+src.kind+" times", res.placebo, true)
			}
		}
		results = append(results, res)
	}

	hdr := "| phase | GETs overlapping | count | share | p50 µs | p99 µs | p99.9 µs | max µs |\n|---|---|--:|--:|--:|--:|--:|--:|\n"
	row := func(phase, class string, h *hdrhistogram.Histogram, of int64) {
		p := loadgen.PercentilesOf(h)
		share := 0.0
		if of > 0 {
			share = 100 * float64(h.TotalCount()) / float64(of)
		}
		if h.TotalCount() == 0 {
			fmt.Fprintf(w, "| %s | %s | 0 | 0%% | — | — | — | — |\n", phase, class)
			return
		}
		fmt.Fprintf(w, "| %s | %s | %d | %.2f%% | %.1f | %.1f | %.1f | %.0f |\n", phase, class, p.Count, share, p.P50, p.P99, p.P999, p.Max)
	}
	// A phase in which no collection was forced shows "a forced collection" and "nothing"
	// only if some GETs overlapped a pause window (else "nothing" is all of them). A control
	// classified against shifted times (shifted) always shows both, and no "anything" row:
	// its phase's own rows have it.
	rows := func(phase string, c *overlapClasses, shifted bool) {
		l, n := forcedLabels, c.all.TotalCount()
		if shifted {
			l = shiftedLabels
		} else {
			row(phase, "anything (all GETs)", c.all, n)
		}
		if shifted || c.during.TotalCount() > 0 || c.inPause.TotalCount() > 0 {
			row(phase, l.during, c.during, n)
			row(phase, l.outside, c.outside, n)
		}
		if c.inPause.TotalCount() > 0 {
			row(phase, l.inPause, c.inPause, n)
		}
		if c.autoPause.TotalCount() > 0 {
			row(phase, l.autoPause, c.autoPause, n)
		}
	}

	fmt.Fprintf(w, "All rounds pooled:\n\n%s", hdr)
	for _, k := range kinds {
		rows(k, pooled[k], shiftedKind[k])
	}
	fmt.Fprintf(w, "\nPhase by phase:\n\n| phase | GET span s | forced collections in span | share of span in a forced collection | pause windows in span | pause time in span ms |\n|---|--:|--:|--:|--:|--:|\n")
	for _, r := range results {
		span := r.p.to - r.p.from
		f, pw := r.forced, r.pauses
		fmt.Fprintf(w, "| %s | %.1f | %d | %.2f%% | %d | %.2f |\n", r.p.name, float64(span)/1e9, len(f),
			100*float64(f.Total())/float64(max(span, 1)), len(pw), float64(pw.Total())/1e6)
	}
	fmt.Fprintf(w, "\n%s", hdr)
	var notes []string
	for _, r := range results {
		rows(r.p.name, r.c, false)
		if r.placebo != nil {
			rows(r.p.name+" vs "+r.against+" times", r.placebo, true)
		}
		notes = append(notes, r.notes...)
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nCoverage:\n\n")
		for _, n := range notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	return nil
}
