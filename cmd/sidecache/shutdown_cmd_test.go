package main

import (
	"os"
	"testing"
	"time"
)

// TestShutdownCommand: SHUTDOWN starts the graceful shutdown SIGTERM starts: the caller's
// connection closes without a reply (as when Redis exits), the process exits 0 and removes
// its socket file. SHUTDOWN SAVE is refused first: nothing can be saved.
func TestShutdownCommand(t *testing.T) {
	p := startSidecache(t, "--shutdown-timeout", "5s")
	c := dialResp(t, p.Addr)
	if rep := string(c.Do("SHUTDOWN", "SAVE")); rep != "-ERR Errors trying to SHUTDOWN. Check logs.\r\n" {
		t.Fatalf("SHUTDOWN SAVE: %q", rep)
	}
	if rep := string(c.Do("SHUTDOWN", "ABORT")); rep != "-ERR No shutdown in progress.\r\n" {
		t.Fatalf("SHUTDOWN ABORT: %q", rep)
	}
	if err := c.Send(encodeCommand([]string{"SHUTDOWN", "NOSAVE"})); err != nil {
		t.Fatal(err)
	}
	if closed, b := c.Closed(ioTimeout); !closed {
		t.Fatalf("SHUTDOWN answered %q instead of closing", b)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("process did not exit after SHUTDOWN")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if _, err := os.Stat(p.Socket); !os.IsNotExist(err) {
		t.Fatalf("socket file left behind: %v", err)
	}
}
