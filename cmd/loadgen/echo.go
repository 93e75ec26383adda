package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/sidecache/sidecache/loadgen"
)

func cmdEcho(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:7390", "address to listen on (HOST:PORT or /unix/path)")
	fs.Parse(args)
	n, a := splitAddr(*listen)
	if n == "unix" {
		os.Remove(a)
	}
	s, err := loadgen.StartEcho("echo", n, a)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "loadgen echo: +PONG on %s\n", s.Addr())
	<-ctx.Done()
	return s.Close()
}
