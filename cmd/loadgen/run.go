package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sidecache/sidecache/loadgen"
)

func cmdRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	lf := addLoadFlags(fs)
	out := fs.String("out", "", "directory for NAME.json and NAME.hgrm per target")
	markdown := fs.Bool("markdown", false, "print the table as Markdown (target, ops/s, p50, p99, p99.9, hit rates)")
	trace := fs.String("trace", "", "directory for NAME.trace per target: send time and latency of each measured command (loadgen gc-overlap reads them)")
	traceMax := fs.Int("trace-max", 1<<22, "with -trace: commands traced per target at most (16 bytes each, allocated before the run); later ones are counted as dropped")
	fs.Parse(args)
	if fs.NArg() == 0 {
		return fmt.Errorf("run: no target")
	}
	o, err := lf.options()
	if err != nil {
		return err
	}
	if *trace != "" {
		o.TraceMax = *traceMax
		if err := os.MkdirAll(*trace, 0o755); err != nil {
			return err
		}
	}
	var reports []*loadgen.Report
	for _, spec := range fs.Args() {
		t, err := loadgen.ParseTarget(spec)
		if err != nil {
			return err
		}
		r, err := loadgen.Run(ctx, t, o)
		t.Close()
		if err != nil {
			return err
		}
		reports = append(reports, r)
		if *out != "" {
			if err := r.WriteFiles(*out, loadgen.FileName(r.Target)); err != nil {
				return err
			}
		}
		if *trace != "" {
			if err := loadgen.WriteTrace(filepath.Join(*trace, loadgen.FileName(r.Target)+".trace"), r.Trace, r.TraceDropped); err != nil {
				return err
			}
			if r.TraceDropped > 0 {
				fmt.Fprintf(os.Stderr, "%s: trace full: %d commands traced, %d later ones not\n", r.Target, r.Traced, r.TraceDropped)
			}
			r.Trace = nil
		}
	}
	m := loadgen.Facts()
	fmt.Printf("%d CPUs (GOMAXPROCS %d), kernel %s, %s, clock read %.0f ns\n", m.CPUs, m.GOMAXPROCS, m.Kernel, m.GoVersion, m.ClockNs)
	if *markdown {
		loadgen.PrintMarkdown(os.Stdout, reports...)
		return nil
	}
	loadgen.PrintTable(os.Stdout, reports...)
	return nil
}
