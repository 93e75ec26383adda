package command

import (
	"strconv"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// LATENCY: HISTOGRAM reports the per-command latency histograms (the same buckets as INFO
// latencystats and /metrics). sidecache has no latency monitor (latency-monitor-threshold),
// so LATEST and HISTORY are empty, RESET resets nothing and DOCTOR and GRAPH say so, as
// Redis does with the monitor off.

func cmdLatencyHistogram(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	var picked []CommandStat
	if s.tracking.Load() {
		stats := s.CommandStats(true)
		if len(args) == 2 {
			for _, st := range stats {
				if st.HistCount() > 0 {
					picked = append(picked, st)
				}
			}
		} else {
			for _, a := range args[2:] {
				for _, st := range stats {
					if eqFold(a, st.Name) && st.HistCount() > 0 {
						picked = append(picked, st)
					}
				}
			}
		}
	}
	out = protocol.AppendMapLen(out, c.Proto, len(picked))
	for i := range picked {
		st := &picked[i]
		out = protocol.AppendBulkString(out, st.Name)
		out = protocol.AppendMapLen(out, c.Proto, 2)
		out = protocol.AppendBulkString(out, "calls")
		out = protocol.AppendInt(out, int64(st.HistCount()))
		out = protocol.AppendBulkString(out, "histogram_usec")
		n := 0
		for _, v := range st.Hist {
			if v > 0 {
				n++
			}
		}
		out = protocol.AppendMapLen(out, c.Proto, n)
		var cum uint64
		for j, v := range st.Hist {
			if v == 0 {
				continue
			}
			cum += v
			bound := LatencyBucketBound(j)
			if bound < 0 {
				bound = LatencyBucketBound(NumLatencyBuckets-2) * 2
			}
			out = protocol.AppendInt(out, bound)
			out = protocol.AppendInt(out, int64(cum))
		}
	}
	return out
}

func cmdLatencyEmpty(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendArrayLen(out, 0)
}

func cmdLatencyReset(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return protocol.AppendInt(out, 0)
}

func cmdLatencyDoctor(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	const report = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. " +
		"You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. " +
		"If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
	return protocol.AppendVerbatim(out, c.Proto, "txt", []byte(report))
}

func cmdLatencyGraph(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	out = append(out, "-ERR No samples available for event '"...)
	start := len(out)
	out = append(out, cString(args[2], 128)...)
	sanitizeCRLF(out[start:])
	return append(out, "'\r\n"...)
}

func cmdLatencyHelp(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	return appendHelp(out, "LATENCY", []string{
		"DOCTOR",
		"    Return a human readable latency analysis report.",
		"GRAPH <event>",
		"    Return an ASCII latency graph for the <event> class.",
		"HISTORY <event>",
		"    Return time-latency samples for the <event> class.",
		"LATEST",
		"    Return the latest latency samples for all events.",
		"RESET [<event> ...]",
		"    Reset latency data of one or more <event> classes.",
		"    (default: reset all data for all event classes)",
		"HISTOGRAM [COMMAND ...]",
		"    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
		"    If no commands are specified then all histograms are replied.",
	})
}

// errDebugDisabled is Redis 7's refusal of DEBUG while enable-debug-command is off.
const errDebugDisabled = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", " +
	"you can run it from a local connection, otherwise you need to set this option in the configuration file, " +
	"and then restart the server."

// cmdDebug implements DEBUG SLEEP <seconds> (blocks the connection's event loop: a test hook
// for stalled-loop detection, as in Redis) and DEBUG HELP. Exec refuses DEBUG unless
// enable-debug-command is yes.
func cmdDebug(s *Server, c *Client, args [][]byte, now int64, out []byte) []byte {
	switch {
	case eqFold(args[1], "help") && len(args) == 2:
		return appendHelp(out, "DEBUG", []string{
			"SLEEP <seconds>",
			"    Stop the server for <seconds>. Decimals allowed.",
		})
	case eqFold(args[1], "sleep") && len(args) == 3:
		// As Redis's strtod: a number prefix, anything else reads as 0.
		secs := 0.0
		b := args[2]
		for end := len(b); end > 0; end-- {
			if f, err := strconv.ParseFloat(string(b[:end]), 64); err == nil {
				secs = f
				break
			}
		}
		if d := time.Duration(secs * float64(time.Second)); d > 0 {
			time.Sleep(d)
		}
		return protocol.AppendSimple(out, "OK")
	}
	out = append(out, "-ERR unknown subcommand or wrong number of arguments for '"...)
	start := len(out)
	out = append(out, cString(args[1], 128)...)
	sanitizeCRLF(out[start:])
	return append(out, "'. Try DEBUG HELP.\r\n"...)
}
