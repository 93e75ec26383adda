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
				if s.expAt(sl.off) < now {
					expired++
					s.expired++
					s.removeAt(int(i), EventExpire, false)
					// The run shifted back into slot i: look at it again.
					continue
				}
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
	return removed
}
