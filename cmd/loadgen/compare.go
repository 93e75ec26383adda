package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sidecache/sidecache/loadgen"
)

func cmdCompare(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	lf := addLoadFlags(fs)
	fs.Lookup("duration").DefValue = "2s"
	fs.Set("duration", "2s")
	rounds := fs.Int("rounds", 5, "rounds; each runs A, B and the floor once")
	floorSpec := fs.String("floor", "echo", `floor target measured in every round: echo (TCP), echo-unix, any TARGET, or none`)
	out := fs.String("out", "", "directory for compare.json and the merged A.hgrm, B.hgrm, floor.hgrm")
	fs.Parse(args)
	if fs.NArg() != 2 {
		return fmt.Errorf("compare: want two targets, A and B")
	}
	o, err := lf.options()
	if err != nil {
		return err
	}
	o.Progress = nil
	var ts []loadgen.Target
	defer func() {
		for _, t := range ts {
			t.Close()
		}
	}()
	for _, spec := range fs.Args() {
		t, err := loadgen.ParseTarget(spec)
		if err != nil {
			return err
		}
		ts = append(ts, t)
	}
	var floor loadgen.Target
	if *floorSpec != "none" {
		if floor, err = loadgen.ParseTarget("floor=" + *floorSpec); err != nil {
			return err
		}
		ts = append(ts, floor)
	}
	c, err := loadgen.Compare(ctx, ts[0], ts[1], floor, o, *rounds, os.Stderr)
	if err != nil {
		return err
	}
	c.Print(os.Stdout)
	if *out == "" {
		return nil
	}
	return writeComparison(*out, c)
}

func writeComparison(dir string, c *loadgen.Comparison) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "compare.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	a, bh, f := c.Merged()
	if err := loadgen.WriteHgrm(filepath.Join(dir, "A-"+loadgen.FileName(c.A)+".hgrm"), a); err != nil {
		return err
	}
	if err := loadgen.WriteHgrm(filepath.Join(dir, "B-"+loadgen.FileName(c.B)+".hgrm"), bh); err != nil {
		return err
	}
	if f != nil {
		return loadgen.WriteHgrm(filepath.Join(dir, "floor.hgrm"), f)
	}
	return nil
}
