package loadgen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Workload is what the commands of a run look like.
type Workload struct {
	Keys      int    `json:"keys"`       // distinct keys: KeyPrefix + 0 .. Keys-1
	KeyPrefix string `json:"key_prefix"` // default "lg:"
	// Dist chooses keys: "uniform"; "zipf:S", key i (0-based) drawn with probability
	// proportional to (i+1)^-S, any S > 0; "hot:KEYS:OPS", a fraction OPS of the commands go
	// to the first fraction KEYS of the keys, uniformly within each part.
	Dist      string  `json:"dist"`
	ReadRatio float64 `json:"read_ratio"` // fraction of commands that are GETs, the rest SETs
	// CacheAside: a GET that misses is followed by a SET of that key (the next command of the
	// same connection), as a cache-aside client does; the hit rate then tells how well the
	// keyspace holds the working set.
	CacheAside bool `json:"cache_aside"`
	// Value sizes in bytes: ValueMin, or uniform in [ValueMin, ValueMax] when ValueMax > 0.
	// Both 0: 100 bytes.
	ValueMin int `json:"value_min"`
	ValueMax int `json:"value_max,omitempty"`
	// TTL of SETs: none when 0; TTL, or uniform in [TTL, TTLMax] when TTLMax > 0. Whole
	// milliseconds (PX), at least 1 ms.
	TTL    time.Duration `json:"ttl_ns,omitempty"`
	TTLMax time.Duration `json:"ttl_max_ns,omitempty"`
	Seed   uint64        `json:"seed"` // connection i draws from a generator seeded (Seed, i)
}

// Normalize fills in defaults and checks the workload; Run calls it too.
func (w *Workload) Normalize() error {
	if w.Keys == 0 {
		w.Keys = 100000
	}
	if w.Keys < 0 {
		return fmt.Errorf("keys: %d is not a count", w.Keys)
	}
	if w.KeyPrefix == "" {
		w.KeyPrefix = "lg:"
	}
	if w.Dist == "" {
		w.Dist = "uniform"
	}
	if _, err := newKeyDist(w.Dist, w.Keys); err != nil {
		return err
	}
	if !(w.ReadRatio >= 0 && w.ReadRatio <= 1) {
		return fmt.Errorf("read ratio %v: want 0 .. 1", w.ReadRatio)
	}
	if w.ValueMin == 0 && w.ValueMax == 0 {
		w.ValueMin = 100
	}
	if w.ValueMin < 0 || w.ValueMax < 0 || (w.ValueMax > 0 && w.ValueMax < w.ValueMin) {
		return fmt.Errorf("value size %d-%d: want 0 <= min <= max", w.ValueMin, w.ValueMax)
	}
	if w.valueMax() > 512<<20 {
		return fmt.Errorf("value size %d: at most 512 MiB", w.valueMax())
	}
	if w.TTL < 0 || w.TTLMax < 0 || (w.TTLMax > 0 && w.TTLMax < w.TTL) {
		return fmt.Errorf("ttl %v-%v: want 0 <= min <= max", w.TTL, w.TTLMax)
	}
	if (w.TTL > 0 || w.TTLMax > 0) && w.TTL < time.Millisecond {
		return fmt.Errorf("ttl %v: at least 1ms", w.TTL)
	}
	return nil
}

// valueMax is the largest value size.
func (w *Workload) valueMax() int { return max(w.ValueMin, w.ValueMax) }

// keyDist draws key indexes in [0, Keys).
type keyDist interface {
	next(r *rand.Rand) uint64
}

func newKeyDist(spec string, keys int) (keyDist, error) {
	if keys <= 0 {
		return nil, errors.New("keys: want at least one")
	}
	name, arg, _ := strings.Cut(spec, ":")
	switch name {
	case "uniform":
		if arg != "" {
			break
		}
		return uniformDist{n: uint64(keys)}, nil
	case "zipf":
		s, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(s > 0 && s <= 100) {
			return nil, fmt.Errorf("dist %q: want zipf:S with S > 0", spec)
		}
		return newZipf(uint64(keys), s), nil
	case "hot":
		a, b, ok := strings.Cut(arg, ":")
		kf, err1 := strconv.ParseFloat(a, 64)
		of, err2 := strconv.ParseFloat(b, 64)
		if !ok || err1 != nil || err2 != nil || !(kf > 0 && kf <= 1) || !(of >= 0 && of <= 1) {
			return nil, fmt.Errorf("dist %q: want hot:KEYS_FRACTION:OPS_FRACTION, fractions in (0, 1]", spec)
		}
		hot := max(uint64(kf*float64(keys)), 1)
		return hotDist{n: uint64(keys), hot: hot, ops: of}, nil
	}
	return nil, fmt.Errorf("dist %q: want uniform, zipf:S or hot:KEYS_FRACTION:OPS_FRACTION", spec)
}

type uniformDist struct{ n uint64 }

func (d uniformDist) next(r *rand.Rand) uint64 { return r.Uint64N(d.n) }

// hotDist sends a fraction ops of the draws to keys [0, hot), the rest to [hot, n).
type hotDist struct {
	n, hot uint64
	ops    float64
}

func (d hotDist) next(r *rand.Rand) uint64 {
	if d.hot >= d.n || r.Float64() < d.ops {
		return r.Uint64N(d.hot)
	}
	return d.hot + r.Uint64N(d.n-d.hot)
}

// opGen makes the commands of one connection. Its buffers are its own, so an Op it fills is
// valid until the same slot is filled again.
type opGen struct {
	w      *Workload
	dist   keyDist
	rng    *rand.Rand
	values []byte   // shared, read-only; a SET's value is a prefix
	keys   [][]byte // one key buffer per batch slot
	fills  []uint64 // cache-aside: keys that missed, to SET first in the next batch
}

// newOpGen returns the generator of connection conn, with slots key buffers (the largest
// batch). values, read-only and shared by all connections, holds at least ValueMax bytes; nil
// makes them.
func newOpGen(w *Workload, dist keyDist, conn, slots int, values []byte) *opGen {
	g := &opGen{w: w, dist: dist, rng: rand.New(rand.NewPCG(w.Seed, uint64(conn)))}
	if values == nil {
		values = makeValues(w)
	}
	g.values = values
	g.keys = make([][]byte, slots)
	for i := range g.keys {
		g.keys[i] = make([]byte, 0, len(w.KeyPrefix)+20)
	}
	g.fills = make([]uint64, 0, slots)
	return g
}

// makeValues returns ValueMax bytes of letters and digits drawn from the seed: SET values are
// prefixes of it.
func makeValues(w *Workload) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	r := rand.New(rand.NewPCG(w.Seed, 0x76616c756573))
	b := make([]byte, w.valueMax())
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return b
}

// batch fills ops (len = the batch size) with the next commands: first the cache-aside SETs
// the previous batch's misses asked for, then new ones.
func (g *opGen) batch(ops []Op) {
	i := 0
	for ; i < len(ops) && i < len(g.fills); i++ {
		g.set(&ops[i], i, g.fills[i])
	}
	g.fills = g.fills[:copy(g.fills, g.fills[i:])]
	for ; i < len(ops); i++ {
		k := g.dist.next(g.rng)
		if g.w.ReadRatio >= 1 || (g.w.ReadRatio > 0 && g.rng.Float64() < g.w.ReadRatio) {
			g.get(&ops[i], i, k)
		} else {
			g.set(&ops[i], i, k)
		}
	}
}

// done notes the misses of a batch for cache-aside. The fill queue stays within the pipeline
// depth: a batch of P slots takes every queued fill (at most P) and adds at most one per GET in
// its remaining slots.
func (g *opGen) done(ops []Op, out []Reply) {
	if !g.w.CacheAside {
		return
	}
	for i := range ops {
		if !ops[i].Set && !out[i].Hit && !out[i].Err && len(g.fills) < cap(g.fills) {
			g.fills = append(g.fills, parseKeyIndex(ops[i].Key[len(g.w.KeyPrefix):]))
		}
	}
}

func (g *opGen) key(slot int, k uint64) []byte {
	b := append(g.keys[slot][:0], g.w.KeyPrefix...)
	b = strconv.AppendUint(b, k, 10)
	g.keys[slot] = b
	return b
}

func (g *opGen) get(op *Op, slot int, k uint64) {
	*op = Op{Key: g.key(slot, k)}
}

func (g *opGen) set(op *Op, slot int, k uint64) {
	n := g.w.ValueMin
	if g.w.ValueMax > n {
		n += g.rng.IntN(g.w.ValueMax - n + 1)
	}
	var ttl int64
	if g.w.TTL > 0 {
		ttl = g.w.TTL.Milliseconds()
		if span := g.w.TTLMax.Milliseconds() - ttl; span > 0 {
			ttl += g.rng.Int64N(span + 1)
		}
	}
	*op = Op{Set: true, Key: g.key(slot, k), Value: g.values[:n], TTLms: ttl}
}

func parseKeyIndex(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n*10 + uint64(c-'0')
	}
	return n
}
