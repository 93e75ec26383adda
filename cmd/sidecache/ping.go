package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/sidecache/sidecache/config"
)

// ping is the exec probe for images without a shell: exit 0 when the configured server
// answers PONG (or -NOAUTH, which still proves an event loop answered), 1 otherwise.
func ping(cfg *config.Config) int {
	network, addr := "unix", cfg.String("unixsocket")
	if addr == "" {
		network = "tcp"
		host := "127.0.0.1"
		addr = net.JoinHostPort(host, strconv.FormatInt(cfg.Int("port"), 10))
	}
	c, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sidecache ping:", err)
		return 1
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		fmt.Fprintln(os.Stderr, "sidecache ping:", err)
		return 1
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, "sidecache ping:", err)
		return 1
	}
	switch {
	case line == "+PONG\r\n":
		fmt.Println("PONG")
		return 0
	case len(line) > 7 && line[:7] == "-NOAUTH":
		fmt.Println("NOAUTH (server alive)")
		return 0
	}
	fmt.Fprintf(os.Stderr, "sidecache ping: unexpected reply %q\n", line)
	return 1
}
