package command

import "testing"

// BenchmarkExecTiming measures what command statistics cost GET and SET through Exec:
// "off" times nothing (counters only), "sampled" is the default (one call in
// latencySampleEvery timed), "all" times every call (slowlog-log-slower-than 0 without a slow
// log). Compare with benchstat: sampled should be within noise of off.
func BenchmarkExecTiming(b *testing.B) {
	for _, mode := range []string{"off", "sampled", "all"} {
		for _, cmd := range [][]string{{"GET", "k"}, {"SET", "k", "value"}} {
			b.Run(mode+"/"+cmd[0], func(b *testing.B) {
				h := newHarnessArgs(b, "--slowlog-max-len", "0")
				h.run("set", "k", "value")
				switch mode {
				case "off":
					h.s.noTiming = true
				case "all":
					h.cfg.Set("slowlog-log-slower-than", "0")
				}
				args := make([][]byte, len(cmd))
				for i, a := range cmd {
					args[i] = []byte(a)
				}
				out := make([]byte, 0, 256)
				b.ReportAllocs()
				for b.Loop() {
					out = h.s.Exec(h.c, args, h.now, out[:0])
				}
				sink = out
			})
		}
	}
}
