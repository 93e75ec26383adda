// Command loadgen is sidecache's load generator: HDR-histogram latency of any RESP server,
// of sidecache's engine and protocol path in-process, and of the machine's loopback floor.
//
//	loadgen run [flags] TARGET...       measure each target in turn
//	loadgen compare [flags] A B         alternate A B A B ... and print ratios with spread
//	loadgen proxy -listen A -upstream B -delay 200us -jitter 50us
//	                                    a TCP proxy adding a one-way delay each way
//	loadgen echo -listen ADDR           the +PONG floor server as a process of its own
//	loadgen results [flags]             the headline experiment (make results)
//	loadgen gc-overlap DIR PHASE...     GET latency during and outside GC cycles (make gc-latency)
//
// TARGET: tcp://HOST:PORT, HOST:PORT, unix:///PATH, echo, echo-unix, engine, proto,
// rueidis+ADDR, rueidis-cache+ADDR (ADDR: one of the first three); "label=TARGET" names it in
// reports.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sidecache/sidecache/loadgen"
	"github.com/sidecache/sidecache/loadgen/clientcache"
	"github.com/sidecache/sidecache/loadgen/inproc"
)

func main() {
	inproc.Register()
	clientcache.Register()
	if len(os.Args) < 2 {
		usage()
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "run":
		err = cmdRun(ctx, args)
	case "compare":
		err = cmdCompare(ctx, args)
	case "proxy":
		err = cmdProxy(ctx, args)
	case "echo":
		err = cmdEcho(ctx, args)
	case "results":
		err = cmdResults(ctx, args)
	case "gc-overlap":
		err = cmdGCOverlap(args)
	case "-h", "-help", "--help", "help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "loadgen: unknown command %q\n", os.Args[1])
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  loadgen run [flags] TARGET...
  loadgen compare [flags] A B
  loadgen proxy -listen ADDR -upstream ADDR [-delay 200us] [-jitter 50us]
  loadgen echo -listen ADDR
  loadgen results [flags]
  loadgen gc-overlap [-control D=B] DIR PHASE...
TARGET: tcp://HOST:PORT | HOST:PORT | unix:///PATH | echo | echo-unix | engine | proto
        | rueidis+ADDR | rueidis-cache+ADDR (ADDR: one of the first three), optionally "label=TARGET".
"loadgen COMMAND -h" lists a command's flags.
`)
	os.Exit(2)
}

var _ = loadgen.Run
