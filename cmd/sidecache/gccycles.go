package main

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// gcRingSize bounds each of gcLog's rings: at the 50-100 forced collections a second of
// results/gc-latency, 4096 entries hold the last 40-80 s, more than one measured phase.
const gcRingSize = 4096

// interval is a span of wall-clock time in Unix ns (CLOCK_REALTIME, so comparable with
// another process's time.Now on the same machine).
type interval struct{ start, end int64 }

// intervalRing keeps the last gcRingSize intervals added; older ones are overwritten.
type intervalRing struct {
	buf   [gcRingSize]interval
	next  int   // where the next interval goes
	total int64 // intervals ever added
}

func (r *intervalRing) add(iv interval) {
	r.buf[r.next] = iv
	r.next = (r.next + 1) % gcRingSize
	r.total++
}

func (r *intervalRing) len() int { return int(min(r.total, gcRingSize)) }

// each calls f on the kept intervals, oldest first.
func (r *intervalRing) each(f func(interval)) {
	n := r.len()
	for i := range n {
		f(r.buf[(r.next-n+i+gcRingSize)%gcRingSize])
	}
}

// gcLog records when the collections /debug/pprof/gc forces ran, and the STW pause windows
// of all cycles (forced or automatic), for results/gc-latency to tell the requests that
// overlapped a collection from those that did not. Memory is fixed: two rings and one
// reused GCStats.
//
// A pause window is [PauseEnd - Pause, PauseEnd] of runtime/debug.ReadGCStats: Pause is the
// cycle's total stop-the-world time (sweep termination and mark termination) and PauseEnd
// the end of mark termination, so the window holds the mark-termination pause and reaches
// back by the length of the sweep-termination pause, which itself lay earlier, at the
// cycle's start. The runtime keeps the last 256 cycles only; gcLog reads them after each
// forced collection and on each listing, and notes from when its record is complete.
type gcLog struct {
	mu            sync.Mutex
	forced        intervalRing
	pauses        intervalRing
	numGC         int64 // cycles whose pause windows have been read (or found missing)
	pausesFrom    int64 // Unix ns; pause windows that ended before may be missing
	stats         debug.GCStats
	pausesMissing int64 // cycles that left the runtime's history before they were read
}

func newGCLog() *gcLog {
	l := &gcLog{}
	// ReadGCStats reuses slices of these capacities instead of allocating (it wants room for
	// two copies of the runtime's 256-entry history and three totals).
	l.stats.Pause = make([]time.Duration, 2*len(runtime.MemStats{}.PauseNs)+3)
	l.stats.PauseEnd = make([]time.Time, 0, len(runtime.MemStats{}.PauseNs))
	return l
}

// force runs a full collection and records its wall-clock span.
func (l *gcLog) force() {
	start := time.Now().UnixNano()
	runtime.GC()
	end := time.Now().UnixNano()
	l.mu.Lock()
	l.forced.add(interval{start, end})
	l.readPauses()
	l.mu.Unlock()
}

// readPauses adds the pause windows of the cycles completed since the last read. Called
// with mu held.
func (l *gcLog) readPauses() {
	debug.ReadGCStats(&l.stats)
	l.addPauses(l.stats.NumGC, l.stats.Pause, l.stats.PauseEnd)
}

// addPauses adds the windows of cycles numGC-len(pause)+1 .. numGC not added yet; pause and
// end are most recent first, as ReadGCStats gives them.
func (l *gcLog) addPauses(numGC int64, pause []time.Duration, end []time.Time) {
	fresh := numGC - l.numGC
	if fresh <= 0 {
		return
	}
	have := int64(min(len(pause), len(end)))
	if fresh > have {
		l.pausesMissing += fresh - have
		fresh = have
		if fresh > 0 {
			e := end[fresh-1].UnixNano()
			l.pausesFrom = e - int64(pause[fresh-1])
		}
	}
	for i := fresh - 1; i >= 0; i-- {
		e := end[i].UnixNano()
		l.pauses.add(interval{e - int64(pause[i]), e})
	}
	l.numGC = numGC
}

// appendText appends the listing of /debug/gc-cycles: header lines
//
//	forced_from NS   forced spans that started before may be missing (ring overwritten)
//	pauses_from NS   pause windows that started before may be missing
//	pauses_missing N cycles whose pause window was never read
//
// then one line per forced collection, "forced START_NS END_NS", and per pause window,
// "pause START_NS END_NS", oldest first. The listing is at most 2*gcRingSize+3 lines.
func (l *gcLog) appendText(b []byte) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.readPauses()
	forcedFrom, pausesFrom := int64(0), l.pausesFrom
	if l.forced.total > gcRingSize {
		forcedFrom = l.forced.buf[l.forced.next].start
	}
	if l.pauses.total > gcRingSize {
		pausesFrom = max(pausesFrom, l.pauses.buf[l.pauses.next].start)
	}
	line := func(name string, a, c int64) {
		b = append(b, name...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, a, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, c, 10)
		b = append(b, '\n')
	}
	b = append(b, "forced_from "...)
	b = strconv.AppendInt(b, forcedFrom, 10)
	b = append(b, "\npauses_from "...)
	b = strconv.AppendInt(b, pausesFrom, 10)
	b = append(b, "\npauses_missing "...)
	b = strconv.AppendInt(b, l.pausesMissing, 10)
	b = append(b, '\n')
	l.forced.each(func(iv interval) { line("forced", iv.start, iv.end) })
	l.pauses.each(func(iv interval) { line("pause", iv.start, iv.end) })
	return b
}

// gcHandlers adds /debug/pprof/gc, a full collection and nothing else (heap?gc=1 also writes
// a profile, which costs more than the collection), and /debug/gc-cycles, the spans of the
// collections it ran and the recent pause windows: results/gc-latency forces GCs with the
// one and classifies request latencies with the other.
func gcHandlers(mux *http.ServeMux) {
	l := newGCLog()
	mux.HandleFunc("/debug/pprof/gc", func(w http.ResponseWriter, _ *http.Request) {
		l.force()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/debug/gc-cycles", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(l.appendText(make([]byte, 0, 64*1024)))
	})
}
