package upstream

import (
	"strings"
	"testing"
	"time"

	"github.com/sidecache/sidecache/protocol"
)

// An L1 hit allocates nothing (DESIGN.md invariant 4).
func TestHitAllocs(t *testing.T) {
	fs := startFake(t)
	fs.set("k", "value")
	fs.set("k2", "value2")
	fs.mu.Lock()
	fs.hashes["h"] = []string{"f1", "v1", "f2", "v2"}
	fs.mu.Unlock()
	u := newTestUpstream(t, fs.addr(), nil)
	a := newApp(u)
	for _, cmd := range []string{"GET k", "MGET k k2", "HGET h f1"} {
		a.do(t, strings.Fields(cmd)...) // the miss fills L1
		args := [][]byte{}
		for _, s := range strings.Fields(cmd) {
			args = append(args, []byte(s))
		}
		name := strings.ToLower(string(args[0]))
		out := make([]byte, 0, 256)
		now := time.Now().UnixMilli()
		for _, proto := range []protocol.Version{protocol.RESP2, protocol.RESP3} {
			n := testing.AllocsPerRun(200, func() {
				var deferred bool
				out, deferred = a.c.Do(0, proto, name, args, args[1:2], false, now, out[:0])
				if deferred {
					t.Fatalf("%s missed", cmd)
				}
			})
			if n != 0 {
				t.Errorf("%s (RESP%d) hit: %.1f allocations", cmd, proto, n)
			}
		}
	}
}
