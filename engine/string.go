package engine

import (
	"math"
	"strconv"

	"github.com/sidecache/sidecache/longdouble"
	"github.com/sidecache/sidecache/numtext"
)

// Get calls fn with the value of a string key. found is false for a missing or expired key;
// err is ErrWrongType for a non-string key (fn is not called). Counts a keyspace hit/miss.
// val is arena memory, valid only until fn returns.
func (d *DB) Get(key []byte, now int64, fn func(val []byte)) (found bool, err error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	s.countLookup(i)
	if i < 0 {
		return false, nil
	}
	off := s.idx.slots[i].off
	if s.typeOf(off) != TypeString {
		return false, ErrWrongType
	}
	d.touch(s, i, now)
	fn(s.valOf(off))
	return true, nil
}

// AppendGet appends the value of a string key to dst (copied under the segment lock, so the
// result is the caller's). Same counting and errors as Get.
func (d *DB) AppendGet(dst, key []byte, now int64) ([]byte, bool, error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	s.countLookup(i)
	if i < 0 {
		return dst, false, nil
	}
	off := s.idx.slots[i].off
	if s.typeOf(off) != TypeString {
		return dst, false, ErrWrongType
	}
	d.touch(s, i, now)
	return append(dst, s.valOf(off)...), true, nil
}

// SetCond is SET's NX / XX.
type SetCond uint8

const (
	SetAlways SetCond = iota
	SetNX             // only if the key does not exist
	SetXX             // only if the key exists
)

// SetOptions for Set.
type SetOptions struct {
	Cond SetCond
	// ExpireAt is the absolute expiry in ms since the epoch; 0 = no TTL (an existing TTL is
	// removed unless KeepTTL). ExpireAt <= now stores nothing and deletes the key (after the
	// condition is checked), as Redis does for SET ... EXAT <past>.
	ExpireAt int64
	KeepTTL  bool
	// Get asks for the old value (SET ... GET): old is called with it, under the lock, if the
	// key existed (also when the condition then stops the write). If the old value is not a
	// string, Set returns ErrWrongType and stores nothing. Get counts a keyspace hit/miss.
	Get bool
}

// Set stores a string value. stored reports whether the condition allowed the write.
// The old value passed to old is arena memory, valid only until old returns.
func (d *DB) Set(key, val []byte, now int64, opt SetOptions, old func(val []byte)) (stored bool, err error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	if opt.Get {
		s.countLookup(i)
		if i >= 0 {
			off := s.idx.slots[i].off
			if s.typeOf(off) != TypeString {
				return false, ErrWrongType
			}
			if old != nil {
				old(s.valOf(off))
			}
		}
	}
	if (opt.Cond == SetNX && i >= 0) || (opt.Cond == SetXX && i < 0) {
		return false, nil
	}
	var exp int64
	switch {
	case opt.ExpireAt > 0:
		if opt.ExpireAt <= now {
			if i >= 0 {
				s.removeAt(i, EventDelete, true)
			}
			return true, nil
		}
		exp = opt.ExpireAt
	case opt.KeepTTL && i >= 0 && s.idx.slots[i].meta&metaTTL != 0:
		exp = s.expAt(s.idx.slots[i].off)
	}
	if err := s.storeString(h, key, val, i, exp, now, true); err != nil {
		return false, err
	}
	s.notify(key, EventWrite)
	return true, nil
}

// entrySize is what the entry at off holds in used memory.
func (s *segment) entrySize(off uint32) int64 {
	n := int64(classSize[s.classOfEntry(off)])
	if s.isLarge(off) {
		li, _ := s.largeRef(off)
		n += int64(cap(s.large[li]))
	}
	return n
}

// storeString writes val as the string value of key: into slot i's chunk when the new value
// needs the same size class (a same-size SET reuses its chunk), else into a new entry.
// i < 0 inserts a new key. With checkOOM, a write that needs memory evicts first (admit);
// if it cannot make room it fails with ErrOOM and changes nothing.
func (s *segment) storeString(h uint32, key, val []byte, i int, exp, now int64, checkOOM bool) error {
	if i >= 0 {
		off := s.idx.slots[i].off
		if s.typeOf(off) == TypeString && !s.isLarge(off) {
			if need := hdrSize + len(key) + len(val); need <= maxClassSz && classOf(need) == s.classOfEntry(off) {
				s.setVlen(off, len(val))
				copy(s.valOf(off), val)
				s.setExpiry(i, exp)
				s.touch(i, now)
				return nil
			}
		}
		if checkOOM {
			ev := s.evicted
			err := s.admit(nil, entryCost(len(key), len(val))-s.entrySize(off), noInsert, off, now)
			if err != nil {
				return err
			}
			defer s.settle(nil)
			if s.evicted != ev {
				i = s.slotOf(h, off)
			}
		}
		s.replacing(off)
		noff, buf, err := s.newEntry(key, len(val), exp, TypeString)
		if err != nil {
			s.replaced()
			return err
		}
		copy(buf, val)
		s.freeEntry(off)
		s.idx.slots[i].off = noff
		s.setExpiry(i, exp)
		s.touch(i, now)
		return nil
	}
	if checkOOM {
		err := s.admit(nil, entryCost(len(key), len(val)), newKey(h), noProtect, now)
		if err != nil {
			return err
		}
		defer s.settle(nil)
	}
	noff, buf, err := s.newEntry(key, len(val), exp, TypeString)
	if err != nil {
		return err
	}
	copy(buf, val)
	if err := s.insert(h, noff, exp, now); err != nil {
		s.freeEntry(noff)
		return err
	}
	return nil
}

// MSet stores all pairs (kv = k1, v1, k2, v2, ...) atomically, locking the segments involved
// in ascending order. With nx, nothing is stored if any key exists (MSETNX) and stored is
// false. Existing TTLs are removed. A trailing unpaired key is ignored.
func (d *DB) MSet(kv [][]byte, nx bool, now int64) (stored bool, err error) {
	var set segSet
	var cost int64
	for k := 0; k+1 < len(kv); k += 2 {
		si, _ := d.segOf(hashKey(kv[k]))
		set[si>>6] |= 1 << (si & 63)
		cost += entryCost(len(kv[k]), len(kv[k+1]))
	}
	d.lockSet(&set)
	defer d.unlockSet(&set)
	if nx {
		for k := 0; k+1 < len(kv); k += 2 {
			s, h := d.seg(kv[k])
			if s.lookup(h, kv[k], now) >= 0 {
				return false, nil
			}
		}
	}
	// All or nothing: reserve an upper bound up front, every pair's entry counted as new
	// (old entries freed by the overwrites are not credited, and a key evicted to make room
	// is then indeed new), with each index's growth, every rebuild its new keys can chain
	// included (batchBytes).
	if d.e.maxMemory.Load() > 0 {
		// Per segment: pairs; absent, the keys absent now, sketched in the segment's batch;
		// evicted, the segment's eviction count before the gate runs.
		var pairs, absent [maxSegments]uint32
		var evicted [maxSegments]int64
		for k := 0; k+1 < len(kv); k += 2 {
			si, h := d.segOf(hashKey(kv[k]))
			s := &d.segs[si]
			if pairs[si] == 0 {
				s.batch.reset()
				evicted[si] = s.evicted
			}
			pairs[si]++
			if nx || s.lookup(h, kv[k], now) < 0 { // MSETNX got here with every key absent
				absent[si]++
				s.batch.add(h)
			}
		}
		idx := func() int64 {
			var grow int64
			for si, n := range pairs[:len(d.segs)] {
				if n != 0 {
					s := &d.segs[si]
					// A key present when sketched may have been evicted since by the gate:
					// then it is new too, with a hash batchBytes takes as the greatest.
					late := uint32(min(s.evicted-evicted[si], int64(n-absent[si])))
					grow += s.idx.batchBytes(&s.batch, late, absent[si]+late)
				}
			}
			return grow
		}
		if err := d.admitSet(&set, cost, idx, now); err != nil {
			return false, err
		}
		defer d.settleSet(&set)
	}
	for k := 0; k+1 < len(kv); k += 2 {
		s, h := d.seg(kv[k])
		i := s.lookup(h, kv[k], now)
		if err := s.storeString(h, kv[k], kv[k+1], i, 0, now, false); err != nil {
			return false, err
		}
		s.notify(kv[k], EventWrite)
	}
	return true, nil
}

// GetDel gets and deletes a string key. val is valid only until fn returns.
func (d *DB) GetDel(key []byte, now int64, fn func(val []byte)) (found bool, err error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	s.countLookup(i)
	if i < 0 {
		return false, nil
	}
	off := s.idx.slots[i].off
	if s.typeOf(off) != TypeString {
		return false, ErrWrongType
	}
	fn(s.valOf(off))
	s.removeAt(i, EventDelete, true)
	return true, nil
}

// ExpireUpdate is GETEX's option: Persist removes the TTL; ExpireAt > 0 sets it (<= now deletes).
type ExpireUpdate struct {
	Persist  bool
	ExpireAt int64
}

// GetEx gets a string key and then updates its TTL. val is valid only until fn returns.
func (d *DB) GetEx(key []byte, now int64, upd ExpireUpdate, fn func(val []byte)) (found bool, err error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	s.countLookup(i)
	if i < 0 {
		return false, nil
	}
	off := s.idx.slots[i].off
	if s.typeOf(off) != TypeString {
		return false, ErrWrongType
	}
	d.touch(s, i, now)
	fn(s.valOf(off))
	switch {
	case upd.ExpireAt > 0 && upd.ExpireAt <= now:
		s.removeAt(i, EventDelete, true)
	case upd.ExpireAt > 0:
		s.setExpiry(i, upd.ExpireAt)
		s.notify(key, EventWrite)
	case upd.Persist && s.idx.slots[i].meta&metaTTL != 0:
		s.setExpiry(i, 0)
		s.notify(key, EventWrite)
	}
	return true, nil
}

// resizeValue makes slot i's string value n bytes long, keeping its first bytes and zeroing
// any new ones, and returns the value (valid under the lock until the entry changes) and the
// slot's number, which changes when making room evicted in this segment. It grows in place
// while the chunk has room; large values grow with headroom, like Redis's greedy sds growth
// for APPEND.
func (s *segment) resizeValue(i int, n int, now int64) ([]byte, int, error) {
	sl := &s.idx.slots[i]
	off := sl.off
	h := sl.hash
	oldLen := s.vlen(off)
	if !s.isLarge(off) && n <= s.room(off) {
		s.setVlen(off, n)
		v := s.valOf(off)
		if n > oldLen {
			clear(v[oldLen:])
		}
		return v, i, nil
	}
	key := s.keyOf(off)
	if s.isLarge(off) && hdrSize+len(key)+n > maxClassSz {
		li, kl := s.largeRef(off)
		need := int(kl) + n
		if need > cap(s.large[li]) {
			// Go rounds allocations this large up to whole 8 KiB pages: count what it takes.
			newCap := goLargeSize(need + need/4)
			ev := s.evicted
			err := s.admit(nil, int64(newCap-cap(s.large[li])), noInsert, off, now)
			if err != nil {
				return nil, i, err
			}
			defer s.settle(nil)
			if s.evicted != ev {
				i = s.slotOf(h, off)
			}
			buf := s.large[li]
			nb := make([]byte, need, newCap)
			copy(nb, buf)
			s.largeBytes += int64(newCap - cap(buf))
			s.addUsed(int64(newCap - cap(buf)))
			s.large[li] = nb
		}
		buf := s.large[li][:need]
		if n > oldLen {
			clear(buf[int(kl)+oldLen:])
		}
		s.large[li] = buf
		s.setVlen(off, n)
		return buf[kl:], i, nil
	}
	ev := s.evicted
	err := s.admit(nil, entryCost(len(key), n)-s.entrySize(off), noInsert, off, now)
	if err != nil {
		return nil, i, err
	}
	defer s.settle(nil)
	if s.evicted != ev {
		i = s.slotOf(h, off)
	}
	sl = &s.idx.slots[i]
	exp := int64(0)
	if sl.meta&metaTTL != 0 {
		exp = s.expAt(off)
	}
	s.replacing(off)
	noff, v, err := s.newEntry(key, n, exp, s.typeOf(off))
	if err != nil {
		s.replaced()
		return nil, i, err
	}
	m := copy(v, s.valOf(off))
	clear(v[m:])
	s.freeEntry(off)
	sl.off = noff
	return v, i, nil
}

// Append appends val to a string key (creating it) and returns the new length.
func (d *DB) Append(key, val []byte, now int64) (int64, error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	if i < 0 {
		if err := s.storeString(h, key, val, -1, 0, now, true); err != nil {
			return 0, err
		}
		s.notify(key, EventWrite)
		return int64(len(val)), nil
	}
	off := s.idx.slots[i].off
	if s.typeOf(off) != TypeString {
		return 0, ErrWrongType
	}
	oldLen := s.vlen(off)
	total := int64(oldLen) + int64(len(val))
	if total > s.e.cfg.MaxValueSize {
		return 0, ErrTooLarge
	}
	v, i, err := s.resizeValue(i, int(total), now)
	if err != nil {
		return 0, err
	}
	copy(v[oldLen:], val)
	s.touch(i, now)
	s.notify(key, EventWrite)
	return total, nil
}

// SetRange overwrites part of a string at offset, zero-padding, and returns the new length.
// An empty val on a missing key creates nothing and returns 0; on an existing key it returns
// the length unchanged. A negative offset is ErrOffset; a string that would pass MaxValueSize
// is ErrTooLarge, for any offset up to MaxInt64 (after the type check, as Redis orders them).
func (d *DB) SetRange(key []byte, offset int64, val []byte, now int64) (int64, error) {
	if offset < 0 {
		return 0, ErrOffset
	}
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	if i < 0 {
		if len(val) == 0 {
			return 0, nil
		}
		if tooLong(offset, len(val), s.e.cfg.MaxValueSize) {
			return 0, ErrTooLarge
		}
		n := int(offset) + len(val)
		err := s.admit(nil, entryCost(len(key), n), newKey(h), noProtect, now)
		if err != nil {
			return 0, err
		}
		defer s.settle(nil)
		noff, v, err := s.newEntry(key, n, 0, TypeString)
		if err != nil {
			return 0, err
		}
		clear(v[:offset])
		copy(v[offset:], val)
		if err := s.insert(h, noff, 0, now); err != nil {
			s.freeEntry(noff)
			return 0, err
		}
		s.notify(key, EventWrite)
		return int64(n), nil
	}
	off := s.idx.slots[i].off
	if s.typeOf(off) != TypeString {
		return 0, ErrWrongType
	}
	oldLen := int64(s.vlen(off))
	if len(val) == 0 {
		return oldLen, nil
	}
	if tooLong(offset, len(val), s.e.cfg.MaxValueSize) {
		return 0, ErrTooLarge
	}
	n := max(oldLen, offset+int64(len(val)))
	v, i, err := s.resizeValue(i, int(n), now)
	if err != nil {
		return 0, err
	}
	copy(v[offset:], val)
	s.touch(i, now)
	s.notify(key, EventWrite)
	return n, nil
}

// tooLong is Redis's checkStringLength for a write of n bytes at offset: the end must not
// pass max (proto-max-bulk-len). It is written so that it cannot overflow: offset may be
// anything up to MaxInt64 (SETRANGE k 9223372036854775807 x).
func tooLong(offset int64, n int, limit int64) bool {
	return offset > limit-int64(n)
}

// putValue replaces the string value of key (slot i, or a new key when i < 0) with b,
// keeping the TTL: the in-place path of INCR and INCRBYFLOAT.
func (s *segment) putValue(h uint32, key []byte, i int, b []byte, now int64) error {
	if i < 0 {
		return s.storeString(h, key, b, -1, 0, now, true)
	}
	v, i, err := s.resizeValue(i, len(b), now)
	if err != nil {
		return err
	}
	copy(v, b)
	s.touch(i, now)
	return nil
}

// IncrBy adds delta to the integer in a string key (a missing key counts as 0).
func (d *DB) IncrBy(key []byte, delta int64, now int64) (int64, error) {
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	var cur int64
	if i >= 0 {
		off := s.idx.slots[i].off
		if s.typeOf(off) != TypeString {
			return 0, ErrWrongType
		}
		var ok bool
		if cur, ok = numtext.ParseInt(s.valOf(off)); !ok {
			return 0, ErrNotInteger
		}
	}
	if (delta < 0 && cur < 0 && delta < math.MinInt64-cur) ||
		(delta > 0 && cur > 0 && delta > math.MaxInt64-cur) {
		return 0, ErrOverflow
	}
	n := cur + delta
	var buf [20]byte
	if err := s.putValue(h, key, i, strconv.AppendInt(buf[:0], n, 10), now); err != nil {
		return 0, err
	}
	s.notify(key, EventWrite)
	return n, nil
}

// IncrByFloat is INCRBYFLOAT: it adds incr, a number as text, to the number in a string key
// (a missing key counts as 0), stores the sum keeping the TTL, and appends the stored text to
// dst. Both numbers are C long doubles as Redis computes them (package longdouble: parsed as
// string2ld, added at 64 mantissa bits, printed "%.17Lf" with trailing zeros removed); the
// increment is taken as text so no precision is lost before the addition.
//
// The read, the addition and the store are one critical section under the key's segment
// lock, so no other write to the key can land in between. Errors come in Redis's order:
// ErrWrongType, then ErrNotFloat (the stored value, then incr), then ErrNaN (an infinite
// sum, or an infinite operand), then ErrOOM. It counts no keyspace hit or miss (Redis's
// lookupKeyWrite does not).
func (d *DB) IncrByFloat(dst, key, incr []byte, now int64) ([]byte, error) {
	// Parsed before the lock (it depends on nothing stored); its error is reported only
	// after the type and value checks, as Redis orders them.
	inc, incOK := longdouble.Parse(incr)
	s, h := d.seg(key)
	s.mu.Lock()
	defer s.unlock()
	i := s.lookup(h, key, now)
	var cur longdouble.Value // 0 for a missing key
	if i >= 0 {
		off := s.idx.slots[i].off
		if s.typeOf(off) != TypeString {
			return dst, ErrWrongType
		}
		var ok bool
		if cur, ok = longdouble.Parse(s.valOf(off)); !ok {
			return dst, ErrNotFloat
		}
	}
	if !incOK {
		return dst, ErrNotFloat
	}
	sum, ok := longdouble.Add(cur, inc)
	if !ok {
		return dst, ErrNaN
	}
	start := len(dst)
	dst = sum.AppendHuman(dst)
	if err := s.putValue(h, key, i, dst[start:], now); err != nil {
		return dst[:start], err
	}
	s.notify(key, EventWrite)
	return dst, nil
}

// Substr is GETRANGE's index arithmetic (getrangeCommand): the bytes of val from start to
// end inclusive, negative indexes counting from the end, clamped to val; empty when the
// range is.
func Substr(val []byte, start, end int64) []byte {
	n := int64(len(val))
	if start < 0 && end < 0 && start > end {
		return val[:0]
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if uint64(end) >= uint64(n) {
		end = n - 1
	}
	if start > end || n == 0 {
		return val[:0]
	}
	return val[start : end+1]
}
