package upstream

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// NumLatencyBuckets is the number of buckets of the upstream round-trip histogram: bucket i
// holds round trips up to 2^i microseconds (1 us .. 2^24 us, about 16.8 s), the last one
// everything longer. The same buckets as the command latency histograms.
const NumLatencyBuckets = 26

// LatencyBucketBound returns bucket i's upper bound in microseconds; the last bucket has
// none (+Inf) and returns -1.
func LatencyBucketBound(i int) int64 {
	if i >= NumLatencyBuckets-1 {
		return -1
	}
	return 1 << i
}

// latencyHist is the histogram of upstream round trips (fetches and pass-throughs, from
// the send to the reply or the failure; requests refused by the breaker are not round
// trips). Two atomic adds a round trip.
type latencyHist struct {
	buckets [NumLatencyBuckets]atomic.Uint64
	sumNs   atomic.Int64
}

func (h *latencyHist) observe(d time.Duration) {
	i := 0
	if d > 0 {
		i = min(bits.Len64(uint64(d-1)/1000), NumLatencyBuckets-1)
	}
	h.buckets[i].Add(1)
	h.sumNs.Add(int64(d))
}

// Latency returns the round-trip histogram: counts per bucket (not cumulative) and the sum
// of the round trips.
func (u *Upstream) Latency() (counts [NumLatencyBuckets]uint64, sum time.Duration) {
	for i := range counts {
		counts[i] = u.latency.buckets[i].Load()
	}
	return counts, time.Duration(u.latency.sumNs.Load())
}

// latencyPercentile returns the upper bound, in microseconds, of the bucket holding the
// p-th percentile of counts (0 when empty; the last bound doubled for the open bucket).
func latencyPercentile(counts *[NumLatencyBuckets]uint64, p float64) int64 {
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(p / 100 * float64(total))
	if rank >= total {
		rank = total - 1
	}
	var cum uint64
	for i, c := range counts {
		cum += c
		if cum > rank {
			if b := LatencyBucketBound(i); b >= 0 {
				return b
			}
			break
		}
	}
	return LatencyBucketBound(NumLatencyBuckets-2) * 2
}
