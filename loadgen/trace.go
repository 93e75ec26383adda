package loadgen

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync/atomic"
)

// TraceRecord is one measured command of a traced run (Options.TraceMax).
type TraceRecord struct {
	// Send is the wall-clock time (Unix ns, CLOCK_REALTIME) the command's latency counts
	// from: its batch's send in closed loop, its batch's intended send in open loop. It is
	// the monotonic Now reading moved onto the wall clock by one offset taken at process
	// start, so records of one run are exactly as far apart as Now said, and comparable with
	// another process's time.Now().UnixNano() unless the wall clock was stepped in between.
	Send int64
	// Latency is the reply's Now minus the send's, in ns, at most math.MaxUint32 (4.29 s).
	Latency uint32
	Flags   uint32 // TraceSet, TraceErr, TraceMiss
}

// TraceRecord flags.
const (
	TraceSet  = 1 << iota // a SET (else a GET)
	TraceErr              // an error reply
	TraceMiss             // a GET that did not find its key
)

// End is the wall-clock time of the reply, Unix ns.
func (t TraceRecord) End() int64 { return t.Send + int64(t.Latency) }

// tracer holds a run's trace: one buffer of Options.TraceMax records allocated before the
// run, slots claimed a batch at a time by the connections. When it is full, further commands
// are counted as dropped and not recorded.
type tracer struct {
	recs    []TraceRecord
	next    atomic.Int64 // slots claimed, may pass len(recs)
	wallOff int64        // Unix ns of Now() == 0
}

func newTracer(max int) *tracer {
	if max <= 0 {
		return nil
	}
	return &tracer{recs: make([]TraceRecord, max), wallOff: epoch.UnixNano()}
}

// claim returns the slots for n records: fewer (maybe none) when the buffer is full.
func (t *tracer) claim(n int) []TraceRecord {
	end := t.next.Add(int64(n))
	start := end - int64(n)
	lim := int64(len(t.recs))
	if start >= lim {
		return nil
	}
	return t.recs[start:min(end, lim)]
}

// kept returns the records written and how many were dropped.
func (t *tracer) kept() ([]TraceRecord, int64) {
	n := t.next.Load()
	if n <= int64(len(t.recs)) {
		return t.recs[:n], 0
	}
	return t.recs, n - int64(len(t.recs))
}

// traceMagic opens a trace file; then, little-endian, the number of measured commands not
// traced (int64) and the records, 16 bytes each: Send int64, Latency uint32, Flags uint32.
const traceMagic = "sctrace1"

const traceRecordSize = 16

// WriteTrace writes recs and the count of commands dropped after them to path in the trace
// format (traceMagic).
func WriteTrace(path string, recs []TraceRecord, dropped int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteString(traceMagic)
	var b [traceRecordSize]byte
	binary.LittleEndian.PutUint64(b[:], uint64(dropped))
	w.Write(b[:8])
	for _, r := range recs {
		binary.LittleEndian.PutUint64(b[0:], uint64(r.Send))
		binary.LittleEndian.PutUint32(b[8:], r.Latency)
		binary.LittleEndian.PutUint32(b[12:], r.Flags)
		w.Write(b[:])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadTrace reads a file WriteTrace wrote: the records and the count of dropped commands.
func ReadTrace(path string) ([]TraceRecord, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	var head [len(traceMagic) + 8]byte
	if _, err := io.ReadFull(r, head[:]); err != nil || string(head[:len(traceMagic)]) != traceMagic {
		return nil, 0, fmt.Errorf("%s: not a loadgen trace", path)
	}
	dropped := int64(binary.LittleEndian.Uint64(head[len(traceMagic):]))
	var recs []TraceRecord
	if st, err := f.Stat(); err == nil {
		recs = make([]TraceRecord, 0, max(st.Size()-int64(len(head)), 0)/traceRecordSize)
	}
	var b [traceRecordSize]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return recs, dropped, nil
			}
			return nil, 0, fmt.Errorf("%s: %w", path, err)
		}
		recs = append(recs, TraceRecord{
			Send:    int64(binary.LittleEndian.Uint64(b[0:])),
			Latency: binary.LittleEndian.Uint32(b[8:]),
			Flags:   binary.LittleEndian.Uint32(b[12:]),
		})
	}
}

// traceLatency clamps a latency in ns to a TraceRecord's range.
func traceLatency(ns int64) uint32 { return uint32(min(max(ns, 0), math.MaxUint32)) }
