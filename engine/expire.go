package engine

import "time"

const (
	expireSample     = 20 // ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP
	expireStalePct   = 10 // repeat while more than this % of the sample had expired
	expireScanFactor = 20 // slots looked at per sampled TTL key, at most
	expireMaxRounds  = 16 // rounds per segment per cycle, so one segment cannot starve others
	expireTimeCheck  = 16 // segments between clock reads
)

// ActiveExpire runs one bounded active-expiry cycle over all databases (Redis's sampling
// algorithm: sample keys with a TTL per segment, repeat while more than 10% were expired)
// within budget, and returns how many keys it removed. It resumes where the previous cycle
// stopped, so every segment gets its turn. Safe to call from one background goroutine while
// commands run; each segment is locked only for its own sampling rounds.
func (e *Engine) ActiveExpire(now int64, budget time.Duration) int {
	e.expireMu.Lock()
	defer e.expireMu.Unlock()
	start := time.Now()
	total := len(e.dbs) * int(e.segMask+1)
	removed := 0
	for k := 0; k < total; k++ {
		if k%expireTimeCheck == expireTimeCheck-1 && time.Since(start) > budget {
			break
		}
		p := e.expirePos
		e.expirePos = (p + 1) % total
		s := &e.dbs[p/int(e.segMask+1)].segs[p%int(e.segMask+1)]
		s.mu.Lock()
		removed += s.activeExpire(now)
		s.unlock()
	}
	return removed
}

// activeExpire samples keys with a TTL from the segment's rotating position and removes the
// expired ones, repeating while the sample was more than expireStalePct% expired.
func (s *segment) activeExpire(now int64) int {
	removed := 0
	var ttlSum float64 // ms; a float, so that TTLs near MaxInt64 cannot overflow the sum
	ttlSamples := 0
	for round := 0; round < expireMaxRounds && s.expires > 0; round++ {
		x := &s.idx
		l := uint32(len(x.slots))
		if s.expireCursor >= l {
			s.expireCursor = 0
		}
		i := s.expireCursor
		sampled, expired := 0, 0
		for look := 0; look < expireSample*expireScanFactor && sampled < expireSample; look++ {
			sl := &x.slots[i]
			if sl.meta&metaTTL != 0 {
				sampled++
				at := s.expAt(sl.off)
				if at < now {
					expired++
					s.expired++
					s.removeAt(int(i), EventExpire, false)
					// The run shifted back into slot i: look at it again.
					continue
				}
				ttlSum += float64(at - now)
				ttlSamples++
			}
			if i++; i == l {
				i = 0
			}
		}
		s.expireCursor = i
		removed += expired
		if expired*100 <= sampled*expireStalePct || sampled == 0 {
			break
		}
	}
	if removed > 0 {
		s.maybeShrink()
	}
	s.noteTTLs(ttlSum, ttlSamples)
	return removed
}

// noteTTLs folds the TTLs seen by one sampling cycle into the segment's running average,
// as Redis's activeExpireCycle estimates a database's avg_ttl: the new sample average
// weighs 1/50 against the old estimate (the first one is taken as it is).
func (s *segment) noteTTLs(sum float64, n int) {
	switch {
	case s.expires == 0:
		s.avgTTL = 0
	case n == 0:
	case s.avgTTL == 0:
		s.avgTTL = int64(sum / float64(n))
	default:
		s.avgTTL = s.avgTTL/50*49 + int64(sum/float64(n)/50)
	}
}

// AvgTTL is INFO keyspace's avg_ttl: an estimate, in ms, of the TTL left to the keys that
// have one, from what active expiry sampled (0 until it has sampled any), the segments'
// estimates weighed by their number of keys with a TTL.
func (d *DB) AvgTTL() int64 {
	var sum, n float64
	for i := range d.segs {
		s := &d.segs[i]
		s.mu.Lock()
		if s.expires > 0 && s.avgTTL > 0 {
			sum += float64(s.avgTTL) * float64(s.expires)
			n += float64(s.expires)
		}
		s.unlock()
	}
	if n == 0 {
		return 0
	}
	return int64(sum / n)
}
