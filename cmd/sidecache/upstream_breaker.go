package main

import (
	"strconv"
	"time"

	"github.com/sidecache/sidecache/config"
	"github.com/sidecache/sidecache/upstream"
)

// applyUpstreamResilience gives up the timeout, breaker and serve-stale settings, now and
// on every CONFIG SET. Called before the upstream serves any app request.
func applyUpstreamResilience(cfg *config.Config, up *upstream.Upstream) {
	apply := func(c *config.Config) {
		up.SetTimeout(c.Duration("upstream-timeout"))
		up.SetBreaker(c.Int("upstream-breaker-failures"), c.Duration("upstream-breaker-cooldown"))
		up.SetServeStale(time.Duration(c.Int("upstream-serve-stale")) * time.Second)
	}
	apply(cfg)
	for _, name := range []string{"upstream-timeout", "upstream-breaker-failures", "upstream-breaker-cooldown", "upstream-serve-stale"} {
		cfg.OnChange(name, apply)
	}
}

// upstreamLeLabels are the le values of the upstream round-trip buckets, in seconds.
var upstreamLeLabels = func() []string {
	l := make([]string, upstream.NumLatencyBuckets)
	for i := range l {
		if b := upstream.LatencyBucketBound(i); b >= 0 {
			l[i] = strconv.FormatFloat(float64(b)/1e6, 'g', -1, 64)
		} else {
			l[i] = "+Inf"
		}
	}
	return l
}()

// writeUpstreamResilienceMetrics writes the families of the round-trip latency, the circuit
// breakers and serve-stale.
func writeUpstreamResilienceMetrics(p *promWriter, up *upstream.Upstream) {
	st := up.Stats()
	counts, sum := up.Latency()
	const h = "sidecache_upstream_request_duration_seconds"
	p.family(h, "histogram", "Upstream round trips (fetches and pass-throughs), from the send to the reply or the failure.")
	var cum uint64
	for i, c := range counts {
		cum += c
		p.sample(h+"_bucket", float64(cum), "le", upstreamLeLabels[i])
	}
	p.sample(h+"_sum", sum.Seconds())
	p.sample(h+"_count", float64(cum))

	bs := up.Breakers()
	p.family("sidecache_upstream_breaker_state", "gauge", "Circuit breaker state per upstream node: 1 for the current state (closed, open, half_open), 0 for the others.")
	for _, b := range bs {
		for _, s := range upstream.BreakerStates {
			v := 0.0
			if s == b.State {
				v = 1
			}
			p.sample("sidecache_upstream_breaker_state", v, "node", b.Node, "state", s)
		}
	}
	p.family("sidecache_upstream_breaker_opens_total", "counter", "Times the node's breaker opened after consecutive failures (a failed probe re-opening it not counted).")
	for _, b := range bs {
		p.sample("sidecache_upstream_breaker_opens_total", float64(b.Opens), "node", b.Node)
	}
	p.one("sidecache_upstream_breaker_rejected_total", "counter", "Requests answered at once with an error by an open breaker.", float64(st.BreakerRejected.Load()))
	p.one("sidecache_upstream_timeouts_total", "counter", "Upstream round trips that ended at upstream-timeout.", float64(st.Timeouts.Load()))
	held, _ := up.StaleHold()
	p.one("sidecache_upstream_stale_held", "gauge", "1 while L1 is kept after a lost upstream connection (upstream-serve-stale), else 0.", b2f(held))
	p.one("sidecache_upstream_stale_serves_total", "counter", "Cached reads answered from a held L1 while the upstream was unreachable.", float64(st.StaleServes.Load()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
