package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// netns is a network namespace with a veth pair to the host namespace, made for the central
// Redis and removed at the end. Traffic goes only to the pair's own addresses.
type netns struct {
	name, hostIf, peerIf string
	host, peer           string // addresses of the two ends
}

func haveIP() bool {
	_, err := exec.LookPath("ip")
	return err == nil
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func newNetns() (*netns, error) {
	pid := os.Getpid()
	sub := pid%250 + 1
	n := &netns{
		name:   fmt.Sprintf("loadgen-%d", pid),
		hostIf: fmt.Sprintf("lgv%da", pid%100000),
		peerIf: fmt.Sprintf("lgv%db", pid%100000),
		host:   fmt.Sprintf("10.213.%d.1", sub),
		peer:   fmt.Sprintf("10.213.%d.2", sub),
	}
	steps := [][]string{
		{"netns", "add", n.name},
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", n.peerIf, "netns", n.name},
		{"addr", "add", n.host + "/30", "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"netns", "exec", n.name, "ip", "addr", "add", n.peer + "/30", "dev", n.peerIf},
		{"netns", "exec", n.name, "ip", "link", "set", n.peerIf, "up"},
		{"netns", "exec", n.name, "ip", "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			n.remove()
			return nil, err
		}
	}
	return n, nil
}

// remove deletes the veth pair (both ends) and the namespace; errors are ignored because
// a step may not have been made.
func (n *netns) remove() {
	ip("link", "del", n.hostIf)
	ip("netns", "del", n.name)
}
