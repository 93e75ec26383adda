package upstream

import (
	"strconv"
	"strings"
)

// AppendInfo appends the lines of INFO's upstream section ("name:value\r\n" each).
func (u *Upstream) AppendInfo(dst []byte) []byte {
	line := func(k, v string) {
		dst = append(append(append(append(dst, k...), ':'), v...), "\r\n"...)
	}
	num := func(k string, v int64) { line(k, strconv.FormatInt(v, 10)) }
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	line("upstream_addrs", strings.Join(u.opt.Addrs, ","))
	line("upstream_cluster", yn(u.opt.Cluster))
	line("upstream_tls", yn(u.opt.TLSConfig != nil))
	connected := int64(0)
	for i := range u.clients {
		if u.clients[i].c.Load() != nil {
			connected++
		}
	}
	num("upstream_databases_connected", connected)
	line("l1_mode", u.Mode().String())
	num("l1_max_ttl_ms", u.maxTTL.Load())
	num("l1_nil_ttl_ms", u.nilTTL.Load())
	s := &u.stats
	num("l1_hits", s.Hits.Load())
	num("l1_misses", s.Misses.Load())
	num("l1_stored", s.Stored.Load())
	num("l1_refused_stale", s.Refused.Load())
	num("l1_flushes", s.Flushes.Load())
	for c := FlushCause(0); c < NumFlushCauses; c++ {
		num("l1_flushes_"+c.String(), s.FlushesBy[c].Load())
	}
	if e := u.l1.slots; e != nil { // a cluster: partial drops (slots.go)
		for c := DropCause(0); c < NumDropCauses; c++ {
			num("l1_slot_drops_"+c.String(), s.SlotDrops[c].Load())
			num("l1_slots_dropped_"+c.String(), s.SlotsDropped[c].Load())
		}
		num("l1_slots_draining", int64(e.draining.Load()))
	}
	num("upstream_reads", s.Reads.Load())
	num("upstream_forwarded", s.Forwarded.Load())
	num("upstream_errors", s.Errors.Load())
	num("invalidations_received", s.Invalidations.Load())
	line("prewarm_state", prewarmStates[u.pw.state.Load()])
	num("prewarm_keys", u.pw.keys.Load())
	u.flights.mu.Lock()
	n := len(u.flights.m)
	u.flights.mu.Unlock()
	num("upstream_fetches_in_flight", int64(n))
	dst = u.appendResilienceInfo(dst) // breaker.go
	return dst
}
