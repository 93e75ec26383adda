package engine

// Hash blobs: all the fields and values of one hash in one byte slice, the value of a
// TypeHash entry. Pure functions over []byte, no pointers, and every offset is relative to
// the blob's start: the blob is self-contained, so whatever moves or copies an entry's value
// as bytes (RENAME, MOVE, COPY, SWAPDB, growing into a larger chunk) moves a hash unchanged.
//
// len(blob) is its capacity; used says where the free tail begins. The engine grows a blob
// by reallocating it (hbRealloc) when a write does not fit (hbPlanSet says how large), and the
// tail's content is undefined.
//
// Two encodings, as Redis's listpack and hashtable (OBJECT ENCODING names them so):
//
// packed, while the hash has at most hash-max-listpack-entries fields and no field or value
// longer than hash-max-listpack-value bytes; lookups scan the records in order, which is
// insertion order (an update rewrites its record where it is, as listpack does):
//
//	0       1       5      9
//	| tag=1 | count | used | record | record | ... | free tail |
//
// table, beyond those limits (a hash never goes back to packed, as in Redis):
//
//	0       1       5      9      10      13      17     21      24
//	| tag=2 | count | used | bits | 0 0 0 | tombs | dead | 0 0 0 | slots[1<<bits] | records | free tail |
//
//	slot (8 bytes): | off uint32 | hash uint32 |   off: 0 empty, 1 tombstone, else the offset
//	                                                 of the field's record in the blob
//
//	record: uvarint(len field) uvarint(len value) field value
//
// The slots are an open-addressing table with linear probing, wrapping around: a field's home
// is the top bits of its 32-bit hash (the high half of its xxhash), home = hash >> (32-bits),
// and it sits at the first free slot from there. Invariant: no slot between a field's home and
// its position is empty. A delete leaves a tombstone (turned back into empty slots when the
// next slot is empty), so probes for other fields are not cut short; tombs count towards the
// 3/4 load that triggers a rebuild. An update that changes a record's length appends a new
// record and counts the old one as dead bytes; records are compacted when a rebuild happens
// (a grown table, or dead bytes past half of the live ones when the blob is full).
//
// Because homes are monotonic in the hash, HSCAN's cursor is a hash value: "every field whose
// hash is below the cursor has been returned" stays true when the table is rebuilt at any
// size (hbScan).
//
// All integers little endian; counts, offsets and lengths fit in 32 bits (hbMaxBlob).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

const (
	hbTagPacked = 1
	hbTagTable  = 2
	hbPackedHdr = 9
	hbTableHdr  = 24
	hbSlotSize  = 8
	hbMinBits   = 3
	slotEmpty   = 0
	slotTomb    = 1
	// hbMaxBlob bounds a blob: record offsets in slots and the entry's value length are
	// 32-bit.
	hbMaxBlob = 1<<32 - 1
)

// hashLimits are hash-max-listpack-entries and hash-max-listpack-value.
type hashLimits struct {
	entries, value int64
}

// hbHash is a field's 32-bit hash in the table encoding.
func hbHash(f []byte) uint32 { return uint32(xxhash.Sum64(f) >> 32) }

func hbIsTable(b []byte) bool { return b[0] == hbTagTable }
func hbCount(b []byte) int    { return int(le32(b[1:])) }
func hbUsed(b []byte) int     { return int(le32(b[5:])) }
func hbBits(b []byte) uint    { return uint(b[9]) }
func hbTombs(b []byte) int    { return int(le32(b[13:])) }
func hbDead(b []byte) int     { return int(le32(b[17:])) }

func hbSetCount(b []byte, n int) { put32(b[1:], uint32(n)) }
func hbSetUsed(b []byte, n int)  { put32(b[5:], uint32(n)) }
func hbSetTombs(b []byte, n int) { put32(b[13:], uint32(n)) }
func hbSetDead(b []byte, n int)  { put32(b[17:], uint32(n)) }

// hbInitPacked makes b (at least hbPackedHdr bytes) an empty packed hash.
func hbInitPacked(b []byte) {
	b[0] = hbTagPacked
	hbSetCount(b, 0)
	hbSetUsed(b, hbPackedHdr)
}

// hbInitTable makes b (at least hbTableBytes(bits)) an empty table of 1<<bits slots.
func hbInitTable(b []byte, bits uint) {
	clear(b[:hbTableBytes(bits)])
	b[0] = hbTagTable
	b[9] = byte(bits)
	hbSetUsed(b, hbTableBytes(bits))
}

// hbTableBytes is the header and slots of a table of 1<<bits slots: where records start.
func hbTableBytes(bits uint) int { return hbTableHdr + hbSlotSize<<bits }

// hbTableBits is the table size for n fields: the smallest power of two (at least 8) that
// holds them within a 3/4 load.
func hbTableBits(n int) uint {
	bits := uint(hbMinBits)
	for n*4 > 3<<bits {
		bits++
	}
	return bits
}

// hbRecStart is where b's records begin.
func hbRecStart(b []byte) int {
	if b[0] == hbTagPacked {
		return hbPackedHdr
	}
	return hbTableBytes(hbBits(b))
}

// hbLiveBytes is the size of b's live records.
func hbLiveBytes(b []byte) int {
	n := hbUsed(b) - hbRecStart(b)
	if b[0] == hbTagTable {
		n -= hbDead(b)
	}
	return n
}

func uvarintLen(x int) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// hbRecLen is the size of the record of a field and a value of these lengths.
func hbRecLen(f, v int) int { return uvarintLen(f) + uvarintLen(v) + f + v }

// hbUvarint reads a uvarint at off (one byte for lengths below 128, the common case).
func hbUvarint(b []byte, off int) (int, int) {
	if c := b[off]; c < 0x80 {
		return int(c), off + 1
	}
	x, n := binary.Uvarint(b[off:])
	return int(x), off + n
}

// hbRecord decodes the record at off: its field and value (slices of b, valid while b is)
// and the offset just after it.
func hbRecord(b []byte, off int) (f, v []byte, next int) {
	fl, off := hbUvarint(b, off)
	vl, off := hbUvarint(b, off)
	f = b[off : off+fl : off+fl]
	off += fl
	return f, b[off : off+vl : off+vl], off + vl
}

// hbPutRecord writes the record of f and v at off and returns the offset after it.
func hbPutRecord(b []byte, off int, f, v []byte) int {
	off += binary.PutUvarint(b[off:], uint64(len(f)))
	off += binary.PutUvarint(b[off:], uint64(len(v)))
	off += copy(b[off:], f)
	return off + copy(b[off:], v)
}

// hbFind returns the offset of f's record, or -1; in a table, pos is its slot.
func hbFind(b, f []byte, h uint32) (rec, pos int) {
	if b[0] == hbTagPacked {
		end := hbUsed(b)
		for off := hbPackedHdr; off < end; {
			fl, p := hbUvarint(b, off)
			vl, p := hbUvarint(b, p)
			if fl == len(f) && bytes.Equal(b[p:p+fl], f) {
				return off, -1
			}
			off = p + fl + vl
		}
		return -1, -1
	}
	bits := hbBits(b)
	mask := 1<<bits - 1
	p := int(h >> (32 - bits))
	for n := 0; n <= mask; n++ {
		so := hbTableHdr + p*hbSlotSize
		off := le32(b[so:])
		if off == slotEmpty {
			return -1, -1
		}
		if off != slotTomb && le32(b[so+4:]) == h {
			if rf, _, _ := hbRecord(b, int(off)); bytes.Equal(rf, f) {
				return int(off), p
			}
		}
		p = (p + 1) & mask
	}
	return -1, -1
}

// hbGet returns f's value (a slice of b), or ok false.
func hbGet(b, f []byte) (v []byte, ok bool) {
	var h uint32
	if b[0] == hbTagTable {
		h = hbHash(f)
	}
	rec, _ := hbFind(b, f, h)
	if rec < 0 {
		return nil, false
	}
	_, v, _ = hbRecord(b, rec)
	return v, true
}

// hbPlan is what a write needs before it can be applied to the blob in place: nothing
// (size 0), or a reallocation to size bytes filled by hbRealloc(dst, b, bits).
type hbPlan struct {
	size int
	bits uint // 0: copy the blob as it is; else rebuild it as a table of 1<<bits slots
}

// hbPlanSet plans setting f to v in b, where rec is f's record (hbFind) or -1. moreFields
// and moreBytes are the fields and record bytes the rest of the same command may add: a
// reallocation makes room for them too, so a multi-field HSET reallocates once.
// The conversion rules are Redis's: a packed hash becomes a table when a field or value is
// longer than lim.value (hashTypeTryConversion, and hashTypeSet for HINCRBY*) or when it
// would hold more than lim.entries fields.
func hbPlanSet(b []byte, rec int, f, v []byte, lim hashLimits, moreFields, moreBytes int) hbPlan {
	nl := hbRecLen(len(f), len(v))
	ol := 0
	if rec >= 0 {
		_, _, end := hbRecord(b, rec)
		ol = end - rec
	}
	count := hbCount(b)
	newCount := count
	if rec < 0 {
		newCount++
	}
	if b[0] == hbTagPacked {
		if int64(len(f)) > lim.value || int64(len(v)) > lim.value || int64(newCount) > lim.entries {
			bits := hbTableBits(newCount + moreFields)
			recs := hbLiveBytes(b) + nl + moreBytes
			return hbPlan{size: hbHeadroom(hbTableBytes(bits), recs), bits: bits}
		}
		need := hbUsed(b) - ol + nl
		if need <= len(b) {
			return hbPlan{}
		}
		return hbPlan{size: need + moreBytes}
	}
	if ol == nl {
		return hbPlan{}
	}
	bits := hbBits(b)
	live := hbLiveBytes(b)
	if rec < 0 && (count+hbTombs(b)+1)*4 > 3<<bits {
		nb := max(bits, hbTableBits(newCount+moreFields))
		return hbPlan{size: hbHeadroom(hbTableBytes(nb), live+nl+moreBytes), bits: nb}
	}
	used := hbUsed(b)
	if used+nl <= len(b) {
		return hbPlan{}
	}
	if d := hbDead(b); d > 0 && d >= live/2 {
		// Compacting frees at least a third of the records: rebuild rather than grow.
		nb := max(bits, hbTableBits(newCount+moreFields))
		return hbPlan{size: hbHeadroom(hbTableBytes(nb), live+nl+moreBytes), bits: nb}
	}
	return hbPlan{size: max(used+nl+moreBytes, len(b)+len(b)/2)}
}

// hbHeadroom is the capacity of a rebuilt table: its slots and 1.5 times its records, so
// that appends reallocate geometrically (amortised O(1) per field).
func hbHeadroom(table, recs int) int { return table + recs + recs/2 }

// hbPlanShrink plans giving memory back after deletes: a packed blob using less than half of
// its capacity is copied to an exact one; a table whose live data (at the size its count
// calls for) takes less than half of its capacity is rebuilt. Growth leaves at most 1/3 of a
// blob free, so a blob is not shrunk right after it grew.
func hbPlanShrink(b []byte) hbPlan {
	if b[0] == hbTagPacked {
		used := hbUsed(b)
		if len(b) >= 2*used && len(b)-used >= 64 {
			return hbPlan{size: used}
		}
		return hbPlan{}
	}
	bits := hbTableBits(hbCount(b))
	live := hbLiveBytes(b)
	if ideal := hbTableBytes(bits) + live; len(b) > 2*ideal && len(b)-ideal >= 256 {
		return hbPlan{size: hbHeadroom(hbTableBytes(bits), live), bits: bits}
	}
	return hbPlan{}
}

// hbRealloc fills dst, a new blob whose content is undefined, from src: with bits 0 a copy
// (dst holds src's used bytes), else a table of 1<<bits slots holding src's fields, in src's
// order, records compacted (dst holds hbTableBytes(bits) + hbLiveBytes(src)).
func hbRealloc(dst, src []byte, bits uint) {
	if bits == 0 {
		copy(dst, src[:hbUsed(src)])
		return
	}
	hbInitTable(dst, bits)
	if src[0] == hbTagPacked {
		end := hbUsed(src)
		for off := hbPackedHdr; off < end; {
			f, v, next := hbRecord(src, off)
			hbTableAppend(dst, f, v, hbHash(f))
			off = next
		}
		return
	}
	n := 1 << hbBits(src)
	for p := 0; p < n; p++ {
		so := hbTableHdr + p*hbSlotSize
		if off := le32(src[so:]); off > slotTomb {
			f, v, _ := hbRecord(src, int(off))
			hbTableAppend(dst, f, v, le32(src[so+4:]))
		}
	}
}

// hbTableAppend adds a field known to be absent: its record at the end, its slot at the
// first free one from its home. The caller made room for both.
func hbTableAppend(b, f, v []byte, h uint32) {
	used := hbUsed(b)
	hbSetUsed(b, hbPutRecord(b, used, f, v))
	bits := hbBits(b)
	mask := 1<<bits - 1
	for p := int(h >> (32 - bits)); ; p = (p + 1) & mask {
		so := hbTableHdr + p*hbSlotSize
		switch le32(b[so:]) {
		case slotTomb:
			hbSetTombs(b, hbTombs(b)-1)
		case slotEmpty:
		default:
			continue
		}
		put32(b[so:], uint32(used))
		put32(b[so+4:], h)
		hbSetCount(b, hbCount(b)+1)
		return
	}
}

// hbSet sets f to v in b, which hbPlanSet found ready (or which was reallocated as it said);
// rec and pos are hbFind's answer for b as it is now. It reports whether f is new.
func hbSet(b []byte, rec, pos int, f, v []byte, h uint32) bool {
	nl := hbRecLen(len(f), len(v))
	if rec < 0 {
		if b[0] == hbTagPacked {
			used := hbUsed(b)
			hbSetUsed(b, hbPutRecord(b, used, f, v))
			hbSetCount(b, hbCount(b)+1)
		} else {
			hbTableAppend(b, f, v, h)
		}
		return true
	}
	_, _, end := hbRecord(b, rec)
	ol := end - rec
	if ol == nl {
		hbPutRecord(b, rec, f, v)
		return false
	}
	used := hbUsed(b)
	if b[0] == hbTagPacked {
		copy(b[rec+nl:], b[end:used]) // the rest moves, the order stays (listpack's lpReplace)
		hbPutRecord(b, rec, f, v)
		hbSetUsed(b, used-ol+nl)
		return false
	}
	hbSetDead(b, hbDead(b)+ol)
	hbSetUsed(b, hbPutRecord(b, used, f, v))
	put32(b[hbTableHdr+pos*hbSlotSize:], uint32(used))
	return false
}

// hbDel deletes f from b and reports whether it was there. It never needs memory.
func hbDel(b, f []byte) bool {
	var h uint32
	if b[0] == hbTagTable {
		h = hbHash(f)
	}
	rec, pos := hbFind(b, f, h)
	if rec < 0 {
		return false
	}
	_, _, end := hbRecord(b, rec)
	hbSetCount(b, hbCount(b)-1)
	if b[0] == hbTagPacked {
		used := hbUsed(b)
		copy(b[rec:], b[end:used])
		hbSetUsed(b, used-(end-rec))
		return true
	}
	hbSetDead(b, hbDead(b)+end-rec)
	bits := hbBits(b)
	mask := 1<<bits - 1
	slot := func(p int) int { return hbTableHdr + p*hbSlotSize }
	if le32(b[slot((pos+1)&mask):]) != slotEmpty {
		put32(b[slot(pos):], slotTomb)
		hbSetTombs(b, hbTombs(b)+1)
		return true
	}
	// The next slot is empty: no probe passes through this one, nor through the tombstones
	// just before it.
	put32(b[slot(pos):], slotEmpty)
	tombs := hbTombs(b)
	for p := (pos - 1) & mask; p != pos && le32(b[slot(p):]) == slotTomb; p = (p - 1) & mask {
		put32(b[slot(p):], slotEmpty)
		tombs--
	}
	hbSetTombs(b, tombs)
	return true
}

// hbNext iterates b: start with pos 0; it returns the next field and value (slices of b) and
// the position after them, ok false at the end. The order is the records' in a packed blob,
// the slots' in a table.
func hbNext(b []byte, pos int) (f, v []byte, next int, ok bool) {
	if b[0] == hbTagPacked {
		pos = max(pos, hbPackedHdr)
		if pos >= hbUsed(b) {
			return nil, nil, pos, false
		}
		f, v, next = hbRecord(b, pos)
		return f, v, next, true
	}
	n := 1 << hbBits(b)
	for ; pos < n; pos++ {
		if off := le32(b[hbTableHdr+pos*hbSlotSize:]); off > slotTomb {
			f, v, _ = hbRecord(b, int(off))
			return f, v, pos + 1, true
		}
	}
	return nil, nil, pos, false
}

// hbAt returns the field and value in a table's slot p, or ok false for a free slot.
func hbAt(b []byte, p int) (f, v []byte, ok bool) {
	off := le32(b[hbTableHdr+p*hbSlotSize:])
	if off <= slotTomb {
		return nil, nil, false
	}
	f, v, _ = hbRecord(b, int(off))
	return f, v, true
}

// hbScan calls fn for one step of an iteration from cursor and returns the next cursor (0:
// done). A packed blob is returned whole whatever the cursor, as Redis does for a listpack. In
// a table the cursor is a 32-bit hash value h: the step returns every field whose home is at or
// after home(h), home by home, until it has returned count fields or looked at 10*count homes
// (Redis's bound on empty buckets), and the next cursor is the first hash of the next home. A
// field present during a whole iteration is returned at least once, whatever rebuilds happen
// between steps, since homes follow hash order at every table size.
func hbScan(b []byte, cursor uint64, count int, fn func(f, v []byte)) uint64 {
	if b[0] == hbTagPacked {
		for pos := 0; ; {
			f, v, next, ok := hbNext(b, pos)
			if !ok {
				return 0
			}
			fn(f, v)
			pos = next
		}
	}
	if cursor > 0xffffffff {
		return 0
	}
	bits := hbBits(b)
	shift := 32 - bits
	n := 1 << bits
	mask := n - 1
	emitted := 0
	for home, looked := int(cursor>>shift), 0; home < n; home++ {
		if emitted >= count || looked >= 10*count {
			return uint64(home) << shift
		}
		looked++
		// Fields with this home lie in the run of occupied slots from it.
		for p := home; ; p = (p + 1) & mask {
			so := hbTableHdr + p*hbSlotSize
			off := le32(b[so:])
			if off == slotEmpty {
				break
			}
			if off != slotTomb && int(le32(b[so+4:])>>shift) == home {
				f, v, _ := hbRecord(b, int(off))
				fn(f, v)
				emitted++
			}
			if (p+1)&mask == home {
				break // a full table of one run: impossible at 3/4 load, but bounded anyway
			}
		}
	}
	return 0
}

// hbRandom returns a field and value of a non-empty blob chosen with r, a random number
// (Uint64). Packed: the r-th record, O(n). Table: the first live slot from a random one.
func hbRandom(b []byte, r uint64) (f, v []byte) {
	if b[0] == hbTagPacked {
		k := int(r % uint64(hbCount(b)))
		off := hbPackedHdr
		for ; k > 0; k-- {
			_, _, off = hbRecord(b, off)
		}
		f, v, _ = hbRecord(b, off)
		return f, v
	}
	n := 1 << hbBits(b)
	p := int(r % uint64(n))
	for i := 0; i < n; i, p = i+1, (p+1)&(n-1) {
		if f, v, ok := hbAt(b, p); ok {
			return f, v
		}
	}
	return nil, nil
}

// hbVerify checks a blob's structure: header counts against a recount, every record inside
// the used bytes, and in a table every slot's hash, its reachability from its home, no
// duplicate field, tombs and dead bytes. For tests and invariants builds.
func hbVerify(b []byte) error {
	if len(b) < hbPackedHdr {
		return fmt.Errorf("hash blob of %d bytes", len(b))
	}
	used := hbUsed(b)
	switch b[0] {
	case hbTagPacked:
		if used > len(b) || used < hbPackedHdr {
			return fmt.Errorf("packed: used %d of %d", used, len(b))
		}
		n := 0
		for off := hbPackedHdr; off < used; n++ {
			_, _, next, err := hbCheckRecord(b, off, used)
			if err != nil {
				return err
			}
			off = next
		}
		if n != hbCount(b) {
			return fmt.Errorf("packed: count %d, %d records", hbCount(b), n)
		}
		return nil
	case hbTagTable:
	default:
		return fmt.Errorf("hash blob tag %d", b[0])
	}
	bits := hbBits(b)
	if bits < hbMinBits || bits > 30 || hbTableBytes(bits) > used || used > len(b) {
		return fmt.Errorf("table: bits %d, used %d of %d", bits, used, len(b))
	}
	n := 1 << bits
	live, liveBytes, tombs := 0, 0, 0
	for p := 0; p < n; p++ {
		so := hbTableHdr + p*hbSlotSize
		off := int(le32(b[so:]))
		switch {
		case off == slotEmpty:
			continue
		case off == slotTomb:
			tombs++
			continue
		case off < hbTableBytes(bits):
			return fmt.Errorf("table: slot %d points into the slots (%d)", p, off)
		}
		f, _, next, err := hbCheckRecord(b, off, used)
		if err != nil {
			return err
		}
		h := le32(b[so+4:])
		if h != hbHash(f) {
			return fmt.Errorf("table: slot %d hash %x, field %q hashes to %x", p, h, f, hbHash(f))
		}
		for q := int(h >> (32 - bits)); q != p; q = (q + 1) & (n - 1) {
			if le32(b[hbTableHdr+q*hbSlotSize:]) == slotEmpty {
				return fmt.Errorf("table: field %q at %d unreachable: slot %d empty", f, p, q)
			}
		}
		if rec, pos := hbFind(b, f, h); rec != off || pos != p {
			return fmt.Errorf("table: field %q at slot %d found at %d", f, p, pos)
		}
		live++
		liveBytes += next - off
	}
	switch {
	case live != hbCount(b):
		return fmt.Errorf("table: count %d, %d live slots", hbCount(b), live)
	case tombs != hbTombs(b):
		return fmt.Errorf("table: tombs %d, recount %d", hbTombs(b), tombs)
	case used-hbTableBytes(bits)-liveBytes != hbDead(b):
		return fmt.Errorf("table: dead %d, recount %d", hbDead(b), used-hbTableBytes(bits)-liveBytes)
	case (live+tombs)*4 > 3*n:
		return fmt.Errorf("table: %d live + %d tombs in %d slots", live, tombs, n)
	}
	return nil
}

var errHashRecord = errors.New("hash blob: record overruns the used bytes")

// hbCheckRecord decodes a record at off without reading past end.
func hbCheckRecord(b []byte, off, end int) (f, v []byte, next int, err error) {
	fl, n1 := binary.Uvarint(b[off:end])
	if n1 <= 0 {
		return nil, nil, 0, errHashRecord
	}
	vl, n2 := binary.Uvarint(b[off+n1 : end])
	if n2 <= 0 {
		return nil, nil, 0, errHashRecord
	}
	p := off + n1 + n2
	if fl > uint64(end-p) || vl > uint64(end-p)-fl {
		return nil, nil, 0, errHashRecord
	}
	return b[p : p+int(fl)], b[p+int(fl) : p+int(fl+vl)], p + int(fl+vl), nil
}
