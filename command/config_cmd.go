package command

import (
	"strings"
	"sync/atomic"

	"github.com/sidecache/sidecache/protocol"
)

// CONFIG GET / SET / RESETSTAT over the config registry.

// cmdConfigGet answers CONFIG GET pattern [pattern ...]: the matching settings as name/value
// pairs (a map in RESP3), each setting once even if several patterns match it. A pattern
// without glob characters is looked up directly and answered under the name as the client
// spelled it, as Redis 7's configGetCommand does ("CONFIG GET DATABASES" -> DATABASES).
func cmdConfigGet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var pairs []string
	seen := map[string]bool{}
	for _, p := range args[2:] {
		if !strings.ContainsAny(string(p), "[*?") {
			name := strings.ToLower(string(p))
			if v, ok := s.cfg.Get(name); ok && !seen[name] {
				seen[name] = true
				pairs = append(pairs, string(p), v)
			}
			continue
		}
		s.cfg.Each(string(p), func(name, value string) {
			if !seen[name] {
				seen[name] = true
				pairs = append(pairs, name, value)
			}
		})
	}
	out = protocol.AppendMapLen(out, c.Proto, len(pairs)/2)
	for _, p := range pairs {
		out = protocol.AppendBulkString(out, p)
	}
	return out
}

// cmdConfigSet answers CONFIG SET name value [name value ...] as Redis 7 does: all names are
// checked first (unknown, duplicate), then the values are applied in order; if one is
// refused, those already applied are restored and the error is returned.
func cmdConfigSet(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	if len(args)%2 != 0 {
		return appendErr(out, errSyntax)
	}
	n := (len(args) - 2) / 2
	names := make([]string, n)
	old := make([]string, n)
	unknown := ""
	dup := ""
	for i := 0; i < n; i++ {
		names[i] = strings.ToLower(string(args[2+2*i]))
		v, ok := s.cfg.Get(names[i])
		if !ok {
			if unknown == "" {
				unknown = cstr(args[2+2*i])
			}
			continue
		}
		old[i] = v
		for j := 0; j < i; j++ {
			if names[j] == names[i] && dup == "" {
				dup = cstr(args[2+2*i])
			}
		}
	}
	if unknown != "" {
		return appendErrText(out, "ERR Unknown option or number of arguments for CONFIG SET - '"+unknown+"'")
	}
	if dup != "" {
		return appendErrText(out, "ERR CONFIG SET failed (possibly related to argument '"+dup+"') - duplicate parameter")
	}
	for i := 0; i < n; i++ {
		if err := s.cfg.Set(names[i], string(args[3+2*i])); err != nil {
			for j := i - 1; j >= 0; j-- {
				_ = s.cfg.Set(names[j], old[j]) // restoring a value it held cannot fail
			}
			return appendErrText(out, err.Error())
		}
	}
	return protocol.AppendSimple(out, "OK")
}

// appendErrText appends an error whose text may carry client input as Redis's
// addReplyErrorFormat does: CR and LF trimmed from both ends, the others replaced by spaces.
// Client input in msg should already be cut at a NUL (cString), as C's "%s" prints it.
func appendErrText(out []byte, msg string) []byte {
	for len(msg) > 0 && (msg[0] == '\r' || msg[0] == '\n') {
		msg = msg[1:]
	}
	for len(msg) > 0 && (msg[len(msg)-1] == '\r' || msg[len(msg)-1] == '\n') {
		msg = msg[:len(msg)-1]
	}
	out = append(out, '-')
	start := len(out)
	out = append(out, msg...)
	sanitizeCRLF(out[start:])
	return append(out, "\r\n"...)
}

// cstr is cString as a string: client input as C's "%s" prints it.
func cstr(b []byte) string { return string(cString(b, len(b))) }

// cmdConfigResetStat zeroes the counters INFO reports: the engine's are remembered as a
// base to subtract.
func cmdConfigResetStat(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	st := s.eng.Stats()
	total := s.TotalCommands()
	s.statsMu.Lock()
	s.statsBase = st
	s.commandsBase += total
	s.statsMu.Unlock()
	s.connectionsReceived.Store(0)
	s.peak.Store(0)
	s.resetCommandStats()
	if s.netStats != nil {
		ns := s.netStats()
		s.statsMu.Lock()
		s.netBase = ns
		s.statsMu.Unlock()
	}
	for _, n := range []*atomic.Int64{&s.deniedAuth, &s.deniedCmd, &s.deniedKey, &s.deniedChannel} {
		n.Store(0)
	}
	return protocol.AppendSimple(out, "OK")
}

// netStatsSinceReset is netpoll's counters less their values at the last CONFIG RESETSTAT:
// INFO's net bytes, rejected_connections, evicted_clients and
// client_output_buffer_limit_disconnections restart from 0 as Redis's resetServerStats
// zeroes them (the counters themselves never go back, /metrics reads them whole).
// ClientMemory is a level, not a count: it is not rebased.
func (s *Server) netStatsSinceReset() NetStats {
	ns := s.netStats()
	s.statsMu.Lock()
	b := s.netBase
	s.statsMu.Unlock()
	ns.InputBytes -= b.InputBytes
	ns.OutputBytes -= b.OutputBytes
	ns.RejectedConnections -= b.RejectedConnections
	ns.EvictedClients -= b.EvictedClients
	ns.OutputBufferLimitClosed -= b.OutputBufferLimitClosed
	return ns
}

func cmdConfigHelp(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendHelp(out, "CONFIG", []string{
		"GET <pattern>",
		"    Return parameters matching the glob-like <pattern> and their values.",
		"SET <directive> <value>",
		"    Set the configuration <directive> to <value>.",
		"RESETSTAT",
		"    Reset statistics reported by the INFO command.",
		"REWRITE",
		"    Rewrite the configuration file.",
	})
}
