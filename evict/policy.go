// Package evict is the eviction math and choice, as Redis defines it: the policies, the
// approximated LFU counter (logarithmic increment, decay by elapsed minutes), the 24-bit LRU
// clock, and the 16-entry pool filled by sampling. It is pure: the caller injects the clock
// (ms since the epoch) and the random numbers, so every result is reproducible in tests.
package evict

import "fmt"

// Policy is maxmemory-policy.
type Policy uint8

const (
	NoEviction Policy = iota
	AllKeysLFU
	AllKeysLRU
	AllKeysRandom
	VolatileLFU
	VolatileLRU
	VolatileRandom
	VolatileTTL
)

var policyNames = [...]string{
	NoEviction:     "noeviction",
	AllKeysLFU:     "allkeys-lfu",
	AllKeysLRU:     "allkeys-lru",
	AllKeysRandom:  "allkeys-random",
	VolatileLFU:    "volatile-lfu",
	VolatileLRU:    "volatile-lru",
	VolatileRandom: "volatile-random",
	VolatileTTL:    "volatile-ttl",
}

// ParsePolicy reads a maxmemory-policy name.
func ParsePolicy(s string) (Policy, error) {
	for p, name := range policyNames {
		if s == name {
			return Policy(p), nil
		}
	}
	return 0, fmt.Errorf("unknown maxmemory-policy %q", s)
}

func (p Policy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("policy(%d)", uint8(p))
}

// Volatile reports whether the policy only evicts keys that have a TTL.
func (p Policy) Volatile() bool { return p >= VolatileLFU }

// LFU reports whether the 24-bit access field holds LFU data (else an LRU clock), as Redis
// reuses one field for both.
func (p Policy) LFU() bool { return p == AllKeysLFU || p == VolatileLFU }

// LRU reports whether candidates are ranked by idle time.
func (p Policy) LRU() bool { return p == AllKeysLRU || p == VolatileLRU }

// Random reports whether any sampled key will do.
func (p Policy) Random() bool { return p == AllKeysRandom || p == VolatileRandom }
