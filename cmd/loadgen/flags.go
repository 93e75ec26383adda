package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sidecache/sidecache/loadgen"
)

// loadFlags are the workload and run flags shared by run, compare and results.
type loadFlags struct {
	o        loadgen.Options
	value    string
	ttl      string
	progress bool
}

func addLoadFlags(fs *flag.FlagSet) *loadFlags {
	f := &loadFlags{}
	w := &f.o.Workload
	fs.IntVar(&w.Keys, "keys", 100000, "number of distinct keys")
	fs.StringVar(&w.KeyPrefix, "key-prefix", "lg:", "key name prefix")
	fs.StringVar(&w.Dist, "dist", "uniform", "key distribution: uniform, zipf:S, hot:KEYS_FRACTION:OPS_FRACTION")
	fs.Float64Var(&w.ReadRatio, "read", 0.9, "fraction of GETs (rest SETs)")
	fs.BoolVar(&w.CacheAside, "cache-aside", false, "GET, then SET on a miss (hit-rate mode)")
	fs.StringVar(&f.value, "value", "100", "value size in bytes: N or MIN-MAX")
	fs.StringVar(&f.ttl, "ttl", "", "TTL of SETs: DURATION or MIN-MAX (e.g. 10s or 1s-60s); empty: none")
	fs.Uint64Var(&w.Seed, "seed", 1, "random seed")
	fs.IntVar(&f.o.Conns, "conns", 1, "connections (one goroutine each)")
	fs.IntVar(&f.o.Pipeline, "pipeline", 1, "commands per batch")
	fs.DurationVar(&f.o.Duration, "duration", 5*time.Second, "measured time per run")
	fs.Int64Var(&f.o.Requests, "requests", 0, "measured operations per run instead of -duration")
	fs.DurationVar(&f.o.Warmup, "warmup", time.Second, "warm-up before measuring")
	fs.Float64Var(&f.o.Rate, "rate", 0, "open loop at this many ops/s (all connections); 0: closed loop")
	fs.DurationVar(&f.o.Spin, "spin", 100*time.Microsecond, "open loop: poll the clock for this long before each send instead of sleeping (0 or negative: never)")
	fs.BoolVar(&f.o.Prefill, "prefill", false, "SET every key once before measuring")
	fs.BoolVar(&f.progress, "progress", true, "print a progress line every second on runs of 5s or more")
	return f
}

func (f *loadFlags) options() (loadgen.Options, error) {
	o := f.o
	if o.Spin == 0 {
		o.Spin = -1 // the flag's 0 means never; Options' 0 means the default
	}
	w := &o.Workload
	lo, hi, err := parseRange(f.value, func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) })
	if err != nil {
		return o, fmt.Errorf("-value: %w", err)
	}
	w.ValueMin, w.ValueMax = int(lo), int(hi)
	if f.ttl != "" {
		lo, hi, err := parseRange(f.ttl, func(s string) (int64, error) {
			d, err := time.ParseDuration(s)
			return int64(d), err
		})
		if err != nil {
			return o, fmt.Errorf("-ttl: %w", err)
		}
		w.TTL, w.TTLMax = time.Duration(lo), time.Duration(hi)
	}
	if f.progress && (o.Duration+o.Warmup >= 5*time.Second || o.Requests > 0) {
		o.Progress = os.Stderr
	}
	return o, w.Normalize()
}

// parseRange reads "N" (hi = 0) or "LO-HI".
func parseRange(s string, parse func(string) (int64, error)) (lo, hi int64, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parse(a); err != nil {
		return 0, 0, err
	}
	if isRange {
		if hi, err = parse(b); err != nil {
			return 0, 0, err
		}
	}
	return lo, hi, nil
}
