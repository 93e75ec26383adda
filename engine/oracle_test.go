package engine

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/sidecache/sidecache/longdouble"
)

// The engine against a map[string]oentry model with TTLs on a fake clock (STYLE.md §2).

type oentry struct {
	val string
	exp int64
	h   map[string]string // a hash (val unused); nil for a string
}

type model struct {
	m       map[string]oentry
	maxSize int64
}

func (m *model) get(k string, now int64) (oentry, bool) {
	e, ok := m.m[k]
	if ok && e.exp != 0 && e.exp < now {
		delete(m.m, k)
		return oentry{}, false
	}
	return e, ok
}

func canonicalInt(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || strconv.FormatInt(v, 10) != s {
		return 0, false
	}
	return v, true
}

// opRunner drives one engine and one model with a byte-or-rand source of choices.
type opRunner struct {
	t    testing.TB
	e    *Engine
	d    *DB
	m    model
	now  int64
	keys []string
	// hkeys are the keys of the hash operations (oracle_hash_test.go), apart from keys so
	// that the string operations never meet a hash.
	hkeys []string
	next  func(n int) int // a choice in [0, n)
	log   []string
}

func newRunner(t testing.TB, next func(int) int) *opRunner {
	e, err := Open(Config{Databases: 2, Segments: 4, MaxValueSize: 40000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	r := &opRunner{t: t, e: e, d: e.DB(0), m: model{m: map[string]oentry{}, maxSize: 40000}, now: 1_700_000_000_000, next: next}
	for i := 0; i < 40; i++ {
		r.keys = append(r.keys, fmt.Sprintf("key:%d", i))
	}
	r.keys = append(r.keys, "", strings.Repeat("K", 300), strings.Repeat("L", 33000))
	r.initHashes()
	return r
}

var valuePool = []string{"", "0", "12", "-5", "abc", "1.5", "007", "-0", "+1", " 1", "9223372036854775807",
	"-9223372036854775808", "1e3", "inf", "3.0", "x"}

func (r *opRunner) key() string { return r.keys[r.next(len(r.keys))] }

func (r *opRunner) value() string {
	switch r.next(6) {
	case 0:
		return strings.Repeat("v", r.next(300))
	case 1:
		return strings.Repeat("w", 30000+r.next(9000)) // a large entry
	default:
		return valuePool[r.next(len(valuePool))]
	}
}

func (r *opRunner) expiry() int64 {
	switch r.next(4) {
	case 0:
		return r.now - int64(r.next(1000)) // past or now
	case 1:
		return 0
	default:
		return r.now + 1 + int64(r.next(5000))
	}
}

func (r *opRunner) fail(format string, args ...any) {
	r.t.Helper()
	tail := r.log
	if len(tail) > 20 {
		tail = tail[len(tail)-20:]
	}
	r.t.Fatalf("%s\nlast ops:\n%s", fmt.Sprintf(format, args...), strings.Join(tail, "\n"))
}

func (r *opRunner) step() {
	r.t.Helper()
	d, m, now := r.d, &r.m, r.now
	k := r.key()
	kb := []byte(k)
	op := r.next(19 + hashOps)
	r.log = append(r.log, fmt.Sprintf("now=%d op=%d key=%.20q", now, op, k))
	switch op {
	case 0, 1: // SET with every option combination
		v := r.value()
		opt := SetOptions{Cond: SetCond(r.next(3)), Get: r.next(2) == 0}
		switch r.next(3) {
		case 0:
			opt.ExpireAt = r.expiry()
		case 1:
			opt.KeepTTL = true
		}
		var old []byte
		gotOld := false
		stored, err := d.Set(kb, []byte(v), now, opt, func(b []byte) { old = append([]byte(nil), b...); gotOld = true })
		if err != nil {
			r.fail("set: %v", err)
		}
		e, found := m.get(k, now)
		if opt.Get && (gotOld != found || (found && string(old) != e.val)) {
			r.fail("set get: old %q/%v, want %q/%v", old, gotOld, e.val, found)
		}
		want := !((opt.Cond == SetNX && found) || (opt.Cond == SetXX && !found))
		if stored != want {
			r.fail("set stored %v want %v", stored, want)
		}
		if want {
			ne := oentry{val: v}
			if opt.ExpireAt > 0 {
				ne.exp = opt.ExpireAt
			} else if opt.KeepTTL && found {
				ne.exp = e.exp
			}
			if opt.ExpireAt > 0 && opt.ExpireAt <= now {
				delete(m.m, k)
			} else {
				m.m[k] = ne
			}
		}
	case 2, 3: // GET, AppendGet
		e, found := m.get(k, now)
		var got []byte
		var ok bool
		var err error
		if op == 2 {
			ok, err = d.Get(kb, now, func(b []byte) { got = append([]byte(nil), b...) })
		} else {
			got, ok, err = d.AppendGet([]byte("pre"), kb, now)
			if ok {
				got = got[3:]
			}
		}
		if err != nil || ok != found || (found && string(got) != e.val) {
			r.fail("get: %q %v %v, want %q %v", got, ok, err, e.val, found)
		}
	case 4:
		_, found := m.get(k, now)
		if got := d.Delete(kb, now); got != found {
			r.fail("delete %v want %v", got, found)
		}
		delete(m.m, k)
	case 5: // APPEND
		v := r.value()
		e, found := m.get(k, now)
		n, err := d.Append(kb, []byte(v), now)
		switch {
		case found && int64(len(e.val)+len(v)) > m.maxSize:
			if err != ErrTooLarge {
				r.fail("append: %v, want ErrTooLarge", err)
			}
		default:
			e.val += v
			if err != nil || n != int64(len(e.val)) {
				r.fail("append: %d %v want %d", n, err, len(e.val))
			}
			m.m[k] = e
		}
	case 6: // SETRANGE
		v := r.value()
		if len(v) > 200 {
			v = v[:r.next(200)]
		}
		off := int64(r.next(120))
		switch r.next(40) {
		case 0, 1:
			off = 39990
		case 2: // offset+len overflows int64 unless checked with care
			off = math.MaxInt64 - int64(r.next(300))
		}
		e, found := m.get(k, now)
		n, err := d.SetRange(kb, off, []byte(v), now)
		switch {
		case len(v) == 0:
			if err != nil || n != int64(len(e.val)) {
				r.fail("setrange empty: %d %v", n, err)
			}
		case off > m.maxSize-int64(len(v)):
			if err != ErrTooLarge {
				r.fail("setrange: %v, want ErrTooLarge", err)
			}
		default:
			b := []byte(e.val)
			if need := int(off) + len(v); need > len(b) {
				b = append(b, make([]byte, need-len(b))...)
			}
			copy(b[off:], v)
			if err != nil || n != int64(len(b)) {
				r.fail("setrange: %d %v want %d", n, err, len(b))
			}
			_ = found
			e.val = string(b)
			m.m[k] = e
		}
	case 7: // INCRBY
		deltas := []int64{1, -1, 100, math.MaxInt64, math.MinInt64, 0}
		delta := deltas[r.next(len(deltas))]
		e, found := m.get(k, now)
		n, err := d.IncrBy(kb, delta, now)
		cur, ok := int64(0), true
		if found {
			cur, ok = canonicalInt(e.val)
		}
		switch {
		case !ok:
			if err != ErrNotInteger {
				r.fail("incrby %q: %v want ErrNotInteger", e.val, err)
			}
		case (delta < 0 && cur < 0 && delta < math.MinInt64-cur) || (delta > 0 && cur > 0 && delta > math.MaxInt64-cur):
			if err != ErrOverflow {
				r.fail("incrby: %v want ErrOverflow", err)
			}
		default:
			if err != nil || n != cur+delta {
				r.fail("incrby %q: %d %v want %d", e.val, n, err, cur+delta)
			}
			e.val = strconv.FormatInt(cur+delta, 10)
			m.m[k] = e
		}
	case 8: // INCRBYFLOAT; the model's arithmetic is package longdouble (tested against Redis)
		incrs := []string{"0.5", "-3", "1e300", "10", "0.1", "1e4932", "x", "inf", "-5e-1"}
		incr := incrs[r.next(len(incrs))]
		e, found := m.get(k, now)
		out, err := d.IncrByFloat(nil, kb, []byte(incr), now)
		var cur longdouble.Value
		ok := true
		if found {
			cur, ok = longdouble.Parse([]byte(e.val))
		}
		inc, incOK := longdouble.Parse([]byte(incr))
		var sum longdouble.Value
		sumOK := false
		if ok && incOK {
			sum, sumOK = longdouble.Add(cur, inc)
		}
		switch {
		case !ok || !incOK:
			if err != ErrNotFloat {
				r.fail("incrbyfloat %q + %q: %v want ErrNotFloat", e.val, incr, err)
			}
		case !sumOK:
			if err != ErrNaN {
				r.fail("incrbyfloat %q + %q: %v want ErrNaN", e.val, incr, err)
			}
		default:
			want := string(sum.AppendHuman(nil))
			if err != nil || string(out) != want {
				r.fail("incrbyfloat %q + %q: %q %v want %q", e.val, incr, out, err, want)
			}
			e.val = want
			m.m[k] = e
		}
	case 9: // EXPIRE with conditions
		at := r.expiry()
		if at == 0 {
			at = now + 10
		}
		cond := ExpireCond(r.next(5))
		e, found := m.get(k, now)
		got := d.Expire(kb, at, cond, now)
		want := found
		if found {
			switch cond {
			case ExpireNX:
				want = e.exp == 0
			case ExpireXX:
				want = e.exp != 0
			case ExpireGT:
				want = e.exp != 0 && at > e.exp
			case ExpireLT:
				want = e.exp == 0 || at < e.exp
			}
		}
		if got != want {
			r.fail("expire cond %d at %d (cur %d): %v want %v", cond, at, e.exp, got, want)
		}
		if want {
			if at <= now {
				delete(m.m, k)
			} else {
				e.exp = at
				m.m[k] = e
			}
		}
	case 10: // PERSIST, TTL
		e, found := m.get(k, now)
		wantAt := int64(-2)
		if found {
			wantAt = -1
			if e.exp != 0 {
				wantAt = e.exp
			}
		}
		if got := d.ExpireAt(kb, now); got != wantAt {
			r.fail("expireat %d want %d", got, wantAt)
		}
		if got := d.Persist(kb, now); got != (found && e.exp != 0) {
			r.fail("persist %v", got)
		}
		if found {
			e.exp = 0
			m.m[k] = e
		}
	case 11: // RENAME
		k2 := r.key()
		nx := r.next(2) == 0
		e, found := m.get(k, now)
		_, found2 := m.get(k2, now)
		ok, err := d.Rename(kb, []byte(k2), nx, now)
		switch {
		case !found:
			if err != ErrNoSuchKey {
				r.fail("rename missing: %v", err)
			}
		case k == k2:
			if err != nil || ok != !nx {
				r.fail("rename same: %v %v", ok, err)
			}
		case nx && found2:
			if err != nil || ok {
				r.fail("renamenx onto existing: %v %v", ok, err)
			}
		default:
			if err != nil || !ok {
				r.fail("rename: %v %v", ok, err)
			}
			delete(m.m, k)
			m.m[k2] = e
		}
	case 12: // MSET / MSETNX
		n := 1 + r.next(4)
		kv := make([][]byte, 0, 2*n)
		any := false
		for i := 0; i < n; i++ {
			kk := r.key()
			if _, ok := m.get(kk, now); ok {
				any = true
			}
			kv = append(kv, []byte(kk), []byte(r.value()))
		}
		nx := r.next(2) == 0
		ok, err := d.MSet(kv, nx, now)
		if err != nil || ok != !(nx && any) {
			r.fail("mset nx=%v: %v %v", nx, ok, err)
		}
		if ok {
			for i := 0; i < len(kv); i += 2 {
				m.m[string(kv[i])] = oentry{val: string(kv[i+1])}
			}
		}
	case 13: // GETDEL / GETEX
		e, found := m.get(k, now)
		var got []byte
		var ok bool
		var err error
		if r.next(2) == 0 {
			ok, err = d.GetDel(kb, now, func(b []byte) { got = append([]byte(nil), b...) })
			delete(m.m, k)
		} else {
			upd := ExpireUpdate{Persist: r.next(2) == 0}
			if !upd.Persist {
				upd.ExpireAt = r.expiry()
			}
			ok, err = d.GetEx(kb, now, upd, func(b []byte) { got = append([]byte(nil), b...) })
			if found {
				switch {
				case upd.ExpireAt > 0 && upd.ExpireAt <= now:
					delete(m.m, k)
				case upd.ExpireAt > 0:
					e.exp = upd.ExpireAt
					m.m[k] = e
				case upd.Persist:
					e.exp = 0
					m.m[k] = e
				}
			}
		}
		if err != nil || ok != found || (found && string(got) != e.val) {
			r.fail("getdel/getex: %q %v %v want %q %v", got, ok, err, e.val, found)
		}
	case 14: // EXISTS / TYPE
		_, found := m.get(k, now)
		if d.Exists(kb, now) != found {
			r.fail("exists")
		}
		want := TypeNone
		if found {
			want = TypeString
		}
		if got := d.TypeOf(kb, now); got != want {
			r.fail("type %v want %v", got, want)
		}
	case 15: // clock jump
		r.now += int64(r.next(3000))
	case 16:
		if r.next(30) == 0 {
			d.Flush()
			m.m = map[string]oentry{}
		}
	case 17:
		r.e.ActiveExpire(now, 1<<40)
	case 18:
		r.compare()
	default:
		r.hashStep(op - 19)
	}
	if invariants {
		r.verify()
	}
}

func (r *opRunner) verify() {
	r.t.Helper()
	if err := r.e.Verify(); err != nil {
		r.fail("verify: %v", err)
	}
}

// compare checks every key of the pool and a full SCAN against the model.
func (r *opRunner) compare() {
	r.t.Helper()
	for _, k := range r.keys {
		e, found := r.m.get(k, r.now)
		var got []byte
		ok, err := r.d.Get([]byte(k), r.now, func(b []byte) { got = append([]byte(nil), b...) })
		if err != nil || ok != found || (found && string(got) != e.val) {
			r.fail("compare %q: %v %v", k, ok, err)
		}
	}
	r.compareHashes()
	// Every key has been looked up, so expired ones are gone from both sides: the counts
	// must agree exactly.
	var ttls int64
	for _, e := range r.m.m {
		if e.exp != 0 {
			ttls++
		}
	}
	if got := r.d.Len(); got != int64(len(r.m.m)) {
		r.fail("Len %d, model %d", got, len(r.m.m))
	}
	if got := r.d.Expires(); got != ttls {
		r.fail("Expires %d, model %d", got, ttls)
	}
	seen := map[string]bool{}
	cur := uint64(0)
	for {
		cur = r.d.Scan(cur, 3, r.now, func(k []byte, t Type) { seen[string(k)] = true })
		if cur == 0 {
			break
		}
	}
	for k := range r.m.m {
		if !seen[k] {
			r.fail("scan missed %q", k)
		}
	}
	for k := range seen {
		if _, ok := r.m.m[k]; !ok {
			r.fail("scan returned dead key %q", k)
		}
	}
	r.verify()
}

func TestOracle(t *testing.T) {
	steps := 30000
	if testing.Short() {
		steps = 5000
	}
	if invariants {
		steps /= 10
	}
	for seed := uint64(1); seed <= 3; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		r := newRunner(t, func(n int) int { return rng.IntN(n) })
		for i := 0; i < steps; i++ {
			r.step()
			if len(r.log) > 1000 {
				r.log = r.log[len(r.log)-100:]
			}
		}
		r.compare()
	}
}

// FuzzOps decodes the fuzz input into an operation stream (like bigcache's FuzzBytesQueue).
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18})
	f.Add(bytes.Repeat([]byte{0, 3, 0, 0, 1, 9, 2, 15, 200, 7, 1}, 20))
	f.Fuzz(func(t *testing.T, data []byte) {
		pos := 0
		r := newRunner(t, func(n int) int {
			if pos+1 >= len(data) {
				pos++
				return 0
			}
			v := int(data[pos])<<8 | int(data[pos+1])
			pos += 2
			return v % n
		})
		for pos < len(data) {
			r.step()
		}
		r.compare()
	})
}
