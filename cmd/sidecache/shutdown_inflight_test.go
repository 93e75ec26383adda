package main

import (
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestReadyFailsWhileInFlightCommandCompletes: a SIGTERM that arrives while a command is
// running turns /ready 503 at once (the admin server is not on the loops), and the command
// still completes and gets its reply before the process exits 0.
func TestReadyFailsWhileInFlightCommandCompletes(t *testing.T) {
	s := startServerEnv(t, nil, "--enable-debug-command", "yes", "--shutdown-delay", "0", "--shutdown-timeout", "5s")
	c := dialResp(t, s.Addr)
	if err := c.Send(encodeCommand([]string{"DEBUG", "SLEEP", "2"})); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the command is running on its loop
	if err := syscall.Kill(s.PID, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for httpStatus(t, "http://"+s.admin+"/ready") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/ready did not turn 503 while a command was in flight")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rep, err := c.Read()
	if err != nil || string(rep) != "+OK\r\n" {
		t.Fatalf("in-flight DEBUG SLEEP after SIGTERM: %q %v", rep, err)
	}
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Fatal("process did not exit")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
