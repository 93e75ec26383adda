package evict

// The 24-bit access field, Redis's layout:
//
//	LFU policies:   | 16 bits: last decrement time, minutes mod 65536 | 8 bits: log counter |
//	LRU policies:   | 24 bits: LRU clock, seconds mod 2^24                                 |
//
// A key's field is interpreted under the policy in force; changing the policy at run time
// reinterprets old fields, as in Redis, until keys are touched again.

const (
	// LFUInitVal is the counter of a new key: high enough that it survives a few samplings
	// before it has had a chance to be accessed.
	LFUInitVal = 5
	fieldMask  = 1<<24 - 1
	// LRUClockMax is the largest LRU clock value; the clock wraps after ~194 days.
	LRUClockMax = fieldMask
	// lruResolutionMs is the LRU clock's unit.
	lruResolutionMs = 1000
)

// LFUMinutes is the 16-bit minute clock stored as the last decrement time.
func LFUMinutes(nowMs int64) uint32 { return uint32(nowMs/60000) & 0xFFFF }

// LFUNew is the field of a key created at nowMs.
func LFUNew(nowMs int64) uint32 { return LFUMinutes(nowMs)<<8 | LFUInitVal }

// lfuElapsed is the minutes since ldt, counting the 16-bit clock as wrapped at most once.
func lfuElapsed(ldt uint32, nowMs int64) uint32 {
	now := LFUMinutes(nowMs)
	if now >= ldt {
		return now - ldt
	}
	return 65535 - ldt + now
}

// LFUCounter is the field's counter after decay: one step down per decayTime minutes elapsed
// since its last decrement time (decayTime 0 disables decay). This is what OBJECT FREQ shows.
func LFUCounter(field uint32, nowMs int64, decayTime int) uint8 {
	counter := field & 0xFF
	if decayTime <= 0 {
		return uint8(counter)
	}
	periods := lfuElapsed(field>>8&0xFFFF, nowMs) / uint32(decayTime)
	if periods >= counter {
		return 0
	}
	return uint8(counter - periods)
}

// LFULogIncr increments counter with probability 1/((counter-LFUInitVal)*logFactor+1),
// saturating at 255. r is a uniform random number in [0, 1].
func LFULogIncr(counter uint8, logFactor int, r float64) uint8 {
	if counter == 255 {
		return 255
	}
	base := float64(counter) - LFUInitVal
	if base < 0 {
		base = 0
	}
	if r < 1.0/(base*float64(logFactor)+1) {
		counter++
	}
	return counter
}

// LFUTouch is the field after one access at nowMs: decay, then a logarithmic increment,
// stamped with the current minute.
func LFUTouch(field uint32, nowMs int64, logFactor, decayTime int, r float64) uint32 {
	c := LFUCounter(field, nowMs, decayTime)
	c = LFULogIncr(c, logFactor, r)
	return LFUMinutes(nowMs)<<8 | uint32(c)
}

// LRUClock is the 24-bit LRU clock at nowMs, the field of a key accessed then.
func LRUClock(nowMs int64) uint32 { return uint32(nowMs/lruResolutionMs) & LRUClockMax }

// LRUIdleMs is the least time the key has been idle, counting the clock as wrapped at most
// once (Redis's estimateObjectIdleTime).
func LRUIdleMs(field uint32, nowMs int64) uint64 {
	now := LRUClock(nowMs)
	field &= LRUClockMax
	if now >= field {
		return uint64(now-field) * lruResolutionMs
	}
	return uint64(now+(LRUClockMax-field)) * lruResolutionMs
}

// Score ranks a sampled key for eviction under p: higher is a better victim. field is the
// key's access field; expireAt its absolute expiry in ms (0 = none), used by volatile-ttl.
func Score(p Policy, field uint32, expireAt int64, nowMs int64, decayTime int) uint64 {
	switch {
	case p.LFU():
		return 255 - uint64(LFUCounter(field, nowMs, decayTime))
	case p.LRU():
		return LRUIdleMs(field, nowMs)
	case p == VolatileTTL:
		// The sooner the expiry, the better the victim.
		return ^uint64(0) - uint64(expireAt)
	}
	return 0
}

// Touch is the access field after an access under p.
func Touch(p Policy, field uint32, nowMs int64, logFactor, decayTime int, r float64) uint32 {
	if p.LFU() {
		return LFUTouch(field, nowMs, logFactor, decayTime, r)
	}
	return LRUClock(nowMs)
}

// New is the access field of a key created under p.
func New(p Policy, nowMs int64) uint32 {
	if p.LFU() {
		return LFUNew(nowMs)
	}
	return LRUClock(nowMs)
}
