package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// commandTimeout bounds one Command round trip.
const commandTimeout = 10 * time.Second

// Command sends one command on a new connection and returns its reply as text: a string's
// bytes, an integer's digits, an aggregate's elements one a line, "" for a null. An error
// reply is returned as an error.
func Command(network, addr string, args ...string) (string, error) {
	return command(network, addr, commandTimeout, args...)
}

func command(network, addr string, timeout time.Duration, args ...string) (string, error) {
	c, err := net.DialTimeout(network, addr, min(timeout, dialTimeout))
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(protocol.AppendCommandString(nil, args...)); err != nil {
		return "", err
	}
	v, err := protocol.NewReader(c).ReadValue()
	if err != nil {
		return "", err
	}
	if v.Kind == '-' || v.Kind == '!' {
		return "", errors.New(string(v.Str))
	}
	var b strings.Builder
	replyText(&b, v)
	return b.String(), nil
}

func replyText(b *strings.Builder, v protocol.Value) {
	switch {
	case v.Null:
	case v.Kind == ':':
		b.WriteString(strconv.FormatInt(v.Int, 10))
	case v.Kind == ',':
		b.WriteString(strconv.FormatFloat(v.Float, 'g', -1, 64))
	case v.Kind == '#':
		b.WriteString(strconv.FormatBool(v.Bool))
	case len(v.Elems) > 0:
		for i, e := range v.Elems {
			if i > 0 {
				b.WriteByte('\n')
			}
			replyText(b, e)
		}
	default:
		b.Write(v.Str)
	}
}

// InfoField returns the value of "field:value" in INFO text, or "".
func InfoField(info, field string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == field {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// WaitReady waits until a RESP server at addr answers PING with +PONG, trying every 20 ms,
// for at most timeout.
func WaitReady(network, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		reply, err := command(network, addr, time.Second, "PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("PING answered %q", reply)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
