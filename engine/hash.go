package engine

import (
	"errors"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/sidecache/sidecache/longdouble"
	"github.com/sidecache/sidecache/numtext"
)

// Hashes. A hash is one entry of TypeHash whose value is a blob (hashblob.go) in the arena,
// or on the Go heap as a pointer-free []byte beyond the largest size class, like a large
// string. The entry's value length is the blob's capacity, all of it accounted (the chunk's
// class, or the Go allocation's cap), so used_memory stays exact. A write that does not fit
// reallocates the blob (reblob) after reserving the difference against maxmemory (admit),
// geometrically, so that appends cost O(1) amortised.
//
// Every function follows t_hash.c's order of checks, so the same bad input gets the same
// error. Reads count a keyspace hit or miss and touch the key (unless the DB is a no-touch
// view), as lookupKeyRead does; writes touch it and count nothing (lookupKeyWrite). Every
// change reports EventWrite; a hash emptied by HDel is deleted (EventDelete), as Redis does.
// Callbacks run under the segment lock: the bytes they get are valid only until they return.

// Errors of the hash commands (texts of t_hash.c).
var (
	ErrHashNotInteger = errors.New("ERR hash value is not an integer")
	ErrHashNotFloat   = errors.New("ERR hash value is not a float")
	// ErrNotFinite is HINCRBYFLOAT's reply to an infinite increment.
	ErrNotFinite = errors.New("ERR value is NaN or Infinity")
)

// hashConf holds hash-max-listpack-entries and hash-max-listpack-value.
type hashConf struct {
	entries, value atomic.Int64
}

// SetHashMaxListpack changes hash-max-listpack-entries and hash-max-listpack-value: a hash
// stays packed (OBJECT ENCODING "listpack") while it has at most entries fields and no field
// or value longer than value bytes. As in Redis, existing hashes convert at their next write
// and a table never goes back to packed.
func (e *Engine) SetHashMaxListpack(entries, value int64) {
	e.hash.entries.Store(max(entries, 0))
	e.hash.value.Store(max(value, 0))
}

func (e *Engine) hashLimits() hashLimits {
	return hashLimits{entries: e.hash.entries.Load(), value: e.hash.value.Load()}
}

// HashEncoding returns OBJECT ENCODING's answer for a hash value (as Inspect passes it):
// "listpack" or "hashtable".
func HashEncoding(val []byte) string {
	if len(val) > 0 && hbIsTable(val) {
		return "hashtable"
	}
	return "listpack"
}

// valueCap is how long the value of the entry at off may be made in place: the rest of its
// chunk, or the capacity of its Go allocation.
func (s *segment) valueCap(off uint32) int {
	if s.isLarge(off) {
		li, kl := s.largeRef(off)
		return cap(s.large[li]) - int(kl)
	}
	return s.room(off)
}

// setValueLen makes the value of the entry at off n bytes long, n <= valueCap(off). The
// memory is accounted already (chunk class, or cap).
func (s *segment) setValueLen(off uint32, n int) {
	if s.isLarge(off) {
		li, kl := s.largeRef(off)
		s.large[li] = s.large[li][:int(kl)+n]
	}
	s.setVlen(off, n)
}

// blob returns the hash blob of the entry at off, as long as its allocation: valid under the
// lock until the entry changes.
func (s *segment) blob(off uint32) []byte { return s.valOf(off) }

// hashSlot returns the slot of a live hash key (-1 if missing), or ErrWrongType.
func (s *segment) hashSlot(h uint32, key []byte, now int64, count bool) (int, error) {
	i := s.lookup(h, key, now)
	if count {
		s.countLookup(i)
	}
	if i >= 0 && s.typeOf(s.idx.slots[i].off) != TypeHash {
		return -1, ErrWrongType
	}
	return i, nil
}

// newHash creates key (absent, hash h) as an empty hash blob of at least size bytes, packed or
// (bits > 0) a table of 1<<bits slots, and returns its slot. Memory is admitted first.
func (s *segment) newHash(h uint32, key []byte, size int, bits uint, now int64) (int, error) {
	if size > hbMaxBlob {
		return -1, ErrOOM
	}
	err := s.admit(nil, entryCost(len(key), size), newKey(h), noProtect, now)
	if err != nil {
		return -1, err
	}
	defer s.settle(nil)
	off, _, err := s.newEntry(key, size, 0, TypeHash)
	if err != nil {
		return -1, err
	}
	s.setValueLen(off, s.valueCap(off))
	if b := s.blob(off); bits == 0 {
		hbInitPacked(b)
	} else {
		hbInitTable(b, bits)
	}
	if err := s.insert(h, off, 0, now); err != nil {
		s.freeEntry(off)
		return -1, err
	}
	return s.slotOf(h, off), nil
}

// reblob moves slot i's hash into a new blob as p says (p.size > 0), after admitting the
// difference (the entry itself is never evicted). It returns the slot's number, which
// changes when making room evicted in this segment (on error too). On error the hash is
// unchanged.
func (s *segment) reblob(h uint32, i int, p hbPlan, now int64) (int, error) {
	if p.size > hbMaxBlob {
		return i, ErrOOM
	}
	off := s.idx.slots[i].off
	ev := s.evicted
	err := s.admit(nil, entryCost(len(s.keyOf(off)), p.size)-s.entrySize(off), noInsert, off, now)
	if s.evicted != ev { // evictions here moved slots, also when admit gave up after them
		i = s.slotOf(h, off)
	}
	if err != nil {
		return i, err
	}
	defer s.settle(nil)
	exp := int64(0)
	if s.idx.slots[i].meta&metaTTL != 0 {
		exp = s.expAt(off)
	}
	s.replacing(off)
	noff, _, err := s.newEntry(s.keyOf(off), p.size, exp, TypeHash)
	if err != nil {
		s.replaced()
		return i, err
	}
	s.setValueLen(noff, s.valueCap(noff))
	hbRealloc(s.blob(noff), s.blob(off), p.bits)
	s.freeEntry(off)
	s.idx.slots[i].off = noff
	return i, nil
}

// hashSetOne sets f to v in slot i's hash, reallocating first if the plan says so. more and
// moreBytes are the fields and record bytes the same command may still add.
func (s *segment) hashSetOne(h uint32, i int, f, v []byte, lim hashLimits, more, moreBytes int, now int64) (added bool, _ int, err error) {
	b := s.blob(s.idx.slots[i].off)
	fh := hbHash(f)
	rec, pos := hbFind(b, f, fh)
	if p := hbPlanSet(b, rec, f, v, lim, more, moreBytes); p.size > 0 {
		if i, err = s.reblob(h, i, p, now); err != nil {
			return false, i, err
		}
		b = s.blob(s.idx.slots[i].off)
		rec, pos = hbFind(b, f, fh)
	}
	return hbSet(b, rec, pos, f, v, fh), i, nil
}

// hashWrite applies the field/value pairs fv to key (slot i, or a new key when i < 0) and
// returns the number of new fields. A multi-field write reserves memory for all of its pairs
// at its first reallocation; should a later one fail (ErrOOM, only when a packed hash converts
// to a table midway), the pairs before it stay written.
func (s *segment) hashWrite(h uint32, key []byte, i int, fv [][]byte, now int64) (added int, err error) {
	lim := s.e.hashLimits()
	pairs, recs := len(fv)/2, 0
	long := false
	for k := 0; k+1 < len(fv); k += 2 {
		recs += hbRecLen(len(fv[k]), len(fv[k+1]))
		long = long || int64(len(fv[k])) > lim.value || int64(len(fv[k+1])) > lim.value
	}
	if i < 0 {
		size, bits := hbPackedHdr+recs, uint(0)
		if long || lim.entries == 0 { // certain to be a table: no packed stage
			bits = hbTableBits(pairs)
			size = hbTableBytes(bits) + recs
		}
		if i, err = s.newHash(h, key, size, bits, now); err != nil {
			return 0, err
		}
	}
	for k := 0; k+1 < len(fv); k += 2 {
		pairs--
		recs -= hbRecLen(len(fv[k]), len(fv[k+1]))
		var a bool
		if a, i, err = s.hashSetOne(h, i, fv[k], fv[k+1], lim, pairs, recs, now); err != nil {
			if hbCount(s.blob(s.idx.slots[i].off)) == 0 { // created above, never visible
				s.removeAt(i, 0, true)
			} else if added > 0 || k > 0 {
				s.touch(i, now)
				s.notify(key, EventWrite)
			}
			return added, err
		}
		if a {
			added++
		}
	}
	s.touch(i, now)
	s.notify(key, EventWrite)
	return added, nil
}

// HSet sets fields to values (fieldvals = f1, v1, f2, v2, ...; a trailing unpaired field is
// ignored), creating the hash, and returns how many fields are new (HSET, HMSET). With nx it
// is HSETNX: the first pair only, written only if the field is absent (added 0 otherwise).
func (d *DB) HSet(key []byte, fieldvals [][]byte, nx bool, now int64) (added int, err error) {
	if len(fieldvals) < 2 {
		return 0, nil // nothing to write: no empty hash is ever created
	}
	if nx {
		fieldvals = fieldvals[:2]
	}
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i, err := s.hashSlot(h, key, now, false)
	if err != nil {
		return 0, err
	}
	if nx && i >= 0 {
		if _, ok := hbGet(s.blob(s.idx.slots[i].off), fieldvals[0]); ok {
			s.touch(i, now) // lookupKeyWrite touched it
			return 0, nil
		}
	}
	return s.hashWrite(h, key, i, fieldvals, now)
}

// HGet calls fn (if not nil) with the value of field. found is false for a missing key or
// field. val is arena memory, valid only until fn returns.
func (d *DB) HGet(key, field []byte, now int64, fn func(val []byte)) (found bool, err error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i, err := s.hashSlot(h, key, now, true)
	if i < 0 {
		return false, err
	}
	d.touch(s, i, now)
	v, ok := hbGet(s.blob(s.idx.slots[i].off), field)
	if ok && fn != nil {
		fn(v)
	}
	return ok, nil
}

// HMGet calls fn once per field, in order, with its value (ok false for a missing field or
// key). Nothing is called on ErrWrongType.
func (d *DB) HMGet(key []byte, fields [][]byte, now int64, fn func(val []byte, ok bool)) error {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i, err := s.hashSlot(h, key, now, true)
	if err != nil {
		return err
	}
	if i < 0 {
		for range fields {
			fn(nil, false)
		}
		return nil
	}
	d.touch(s, i, now)
	b := s.blob(s.idx.slots[i].off)
	for _, f := range fields {
		fn(hbGet(b, f))
	}
	return nil
}

// HLen returns the number of fields (0 for a missing key).
func (d *DB) HLen(key []byte, now int64) (int64, error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i, err := s.hashSlot(h, key, now, true)
	if i < 0 {
		return 0, err
	}
	d.touch(s, i, now)
	return int64(hbCount(s.blob(s.idx.slots[i].off))), nil
}

// HGetAll calls head with the number of fields, then each for every field and value, in the
// hash's order (insertion order while packed). found is false for a missing key (nothing is
// called). HKEYS and HVALS use it too.
func (d *DB) HGetAll(key []byte, now int64, head func(n int), each func(f, v []byte)) (found bool, err error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i, err := s.hashSlot(h, key, now, true)
	if i < 0 {
		return false, err
	}
	d.touch(s, i, now)
	b := s.blob(s.idx.slots[i].off)
	head(hbCount(b))
	for pos := 0; ; {
		f, v, next, ok := hbNext(b, pos)
		if !ok {
			return true, nil
		}
		each(f, v)
		pos = next
	}
}

// HDel deletes fields and returns how many existed. A hash left empty is deleted, and the
// remaining fields are not looked at (hdelCommand's break). A hash that shrank a lot moves
// to a smaller blob.
func (d *DB) HDel(key []byte, fields [][]byte, now int64) (int, error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i, err := s.hashSlot(h, key, now, false)
	if i < 0 {
		return 0, err
	}
	s.touch(i, now)
	b := s.blob(s.idx.slots[i].off)
	n := 0
	for _, f := range fields {
		if hbDel(b, f) {
			n++
			if hbCount(b) == 0 {
				s.removeAt(i, EventDelete, true)
				return n, nil
			}
		}
	}
	if n == 0 {
		return 0, nil
	}
	if p := hbPlanShrink(b); p.size > 0 {
		_, _ = s.reblob(h, i, p, now) // on failure the blob merely stays larger
	}
	s.notify(key, EventWrite)
	return n, nil
}

// HIncrBy adds delta to the integer in field (a missing key or field counts as 0), creating
// them, and returns the sum. Errors in Redis's order: ErrWrongType, ErrHashNotInteger (the
// stored value is not string2ll's), ErrOverflow, then ErrOOM.
func (d *DB) HIncrBy(key, field []byte, delta, now int64) (int64, error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i, err := s.hashSlot(h, key, now, false)
	if err != nil {
		return 0, err
	}
	var cur int64
	if i >= 0 {
		if v, ok := hbGet(s.blob(s.idx.slots[i].off), field); ok {
			if cur, ok = numtext.ParseInt(v); !ok {
				s.touch(i, now)
				return 0, ErrHashNotInteger
			}
		}
	}
	if (delta < 0 && cur < 0 && delta < math.MinInt64-cur) ||
		(delta > 0 && cur > 0 && delta > math.MaxInt64-cur) {
		return 0, ErrOverflow
	}
	var buf [20]byte
	fv := [2][]byte{field, strconv.AppendInt(buf[:0], cur+delta, 10)}
	if _, err := s.hashWrite(h, key, i, fv[:], now); err != nil {
		return 0, err
	}
	return cur + delta, nil
}

// HIncrByFloat adds incr, a number as text, to the number in field as INCRBYFLOAT does (C long
// double arithmetic, package longdouble), stores the sum and appends its text to dst.
// Errors in Redis's order: ErrNotFloat (incr), ErrNotFinite (incr infinite), ErrWrongType,
// ErrHashNotFloat (the stored value), ErrNaN (an infinite sum), then ErrOOM.
func (d *DB) HIncrByFloat(dst, key, field, incr []byte, now int64) ([]byte, error) {
	inc, ok := longdouble.Parse(incr)
	if !ok {
		return dst, ErrNotFloat
	}
	if inc.IsInf() {
		return dst, ErrNotFinite
	}
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i, err := s.hashSlot(h, key, now, false)
	if err != nil {
		return dst, err
	}
	var cur longdouble.Value
	if i >= 0 {
		if v, ok := hbGet(s.blob(s.idx.slots[i].off), field); ok {
			if cur, ok = longdouble.Parse(v); !ok {
				s.touch(i, now)
				return dst, ErrHashNotFloat
			}
		}
	}
	sum, ok := longdouble.Add(cur, inc)
	if !ok {
		return dst, ErrNaN
	}
	start := len(dst)
	dst = sum.AppendHuman(dst)
	fv := [2][]byte{field, dst[start:]}
	if _, err := s.hashWrite(h, key, i, fv[:], now); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// HRandField picks fields at random, as hrandfieldWithCountCommand does: count > 0 picks
// min(count, len) distinct fields (all of them in the hash's order when count >= len, else a
// uniform sample in the hash's order), count < 0 picks -count fields independently (repeats
// possible). head gets the number of picks first; each pick goes to fn, which returns false
// to stop early (a reply grown past its limit). found is false for a missing key (nothing is
// called). count 0 calls head(0) only.
func (d *DB) HRandField(key []byte, count int64, now int64, head func(n int64), fn func(f, v []byte) bool) (found bool, err error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i, err := s.hashSlot(h, key, now, true)
	if i < 0 {
		return false, err
	}
	d.touch(s, i, now)
	b := s.blob(s.idx.slots[i].off)
	size := int64(hbCount(b))
	switch {
	case count == 0:
		head(0)
	case count < 0:
		n := -count // count > math.MinInt64: the command layer bounds it
		head(n)
		s.randomPicks(b, n, fn)
	case count >= size:
		head(size)
		for pos := 0; ; {
			f, v, next, ok := hbNext(b, pos)
			if !ok || !fn(f, v) {
				break
			}
			pos = next
		}
	default:
		head(count)
		// Selection sampling (Knuth's algorithm S): each field is taken with probability
		// wanted/left, which yields a uniform sample of exactly count fields in one pass.
		wanted, left := uint64(count), uint64(size)
		for pos := 0; wanted > 0; left-- {
			f, v, next, _ := hbNext(b, pos)
			pos = next
			if s.rng.Uint64()%left < wanted {
				wanted--
				if !fn(f, v) {
					break
				}
			}
		}
	}
	return true, nil
}

// randomPicks calls fn with n fields picked independently at random. A packed blob's record
// offsets are gathered once (on the stack for a hash of the default size), so each pick is
// O(1) instead of a walk.
func (s *segment) randomPicks(b []byte, n int64, fn func(f, v []byte) bool) {
	if !hbIsTable(b) {
		var stack [512]uint32
		offs := stack[:0]
		if c := hbCount(b); c > len(stack) {
			offs = make([]uint32, 0, c)
		}
		for off, end := hbPackedHdr, hbUsed(b); off < end; {
			offs = append(offs, uint32(off))
			_, _, off = hbRecord(b, off)
		}
		for ; n > 0; n-- {
			f, v, _ := hbRecord(b, int(offs[s.rng.Uint64()%uint64(len(offs))]))
			if !fn(f, v) {
				return
			}
		}
		return
	}
	for ; n > 0; n-- {
		f, v := hbRandom(b, s.rng.Uint64())
		if !fn(f, v) {
			return
		}
	}
}

// HScan calls fn for one step of an iteration of the hash's fields from cursor and returns
// the next cursor (0: done): all fields at once while the hash is packed, about count per step
// in a table (see hbScan for the guarantee). found is false for a missing key.
func (d *DB) HScan(key []byte, cursor uint64, count int, now int64, fn func(f, v []byte)) (next uint64, found bool, err error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i, err := s.hashSlot(h, key, now, true)
	if i < 0 {
		return 0, false, err
	}
	d.touch(s, i, now)
	return hbScan(s.blob(s.idx.slots[i].off), cursor, max(count, 1), fn), true, nil
}
