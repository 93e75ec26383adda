package main

import (
	"flag"
	"testing"
	"time"
)

func TestLoadFlags(t *testing.T) {
	f := func(args []string, check func(o *loadFlags) bool) {
		t.Helper()
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		lf := addLoadFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		o, err := lf.options()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		lf.o = o
		if !check(lf) {
			t.Errorf("%v: got %+v", args, o.Workload)
		}
	}
	f([]string{"-value", "64-1024"}, func(l *loadFlags) bool { return l.o.Workload.ValueMin == 64 && l.o.Workload.ValueMax == 1024 })
	f([]string{"-value", "32"}, func(l *loadFlags) bool { return l.o.Workload.ValueMin == 32 && l.o.Workload.ValueMax == 0 })
	f([]string{"-ttl", "1s-1m"}, func(l *loadFlags) bool { return l.o.Workload.TTL == time.Second && l.o.Workload.TTLMax == time.Minute })
	f([]string{"-ttl", "10s"}, func(l *loadFlags) bool { return l.o.Workload.TTL == 10*time.Second })
	f([]string{"-dist", "zipf:0.99", "-read", "0.5"}, func(l *loadFlags) bool { return l.o.Workload.ReadRatio == 0.5 })

	for _, bad := range [][]string{{"-value", "x"}, {"-ttl", "1s-x"}, {"-dist", "zipf"}, {"-value", "10-5"}, {"-read", "2"}} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		lf := addLoadFlags(fs)
		fs.Parse(bad)
		if _, err := lf.options(); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
