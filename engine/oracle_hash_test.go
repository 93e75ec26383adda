package engine

import (
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"

	"github.com/sidecache/sidecache/longdouble"
)

// The hash operations of the oracle (oracle_test.go): HSET, HSETNX, HDEL, HINCRBY,
// HINCRBYFLOAT, RENAME and EXPIRE of hash keys, and reads, against map[string]string values
// in the model. Small encoding limits make hashes convert, rebuild and shrink often.

const hashOps = 6

func (r *opRunner) initHashes() {
	for i := 0; i < 6; i++ {
		r.hkeys = append(r.hkeys, fmt.Sprintf("hash:%d", i))
	}
	r.hkeys = append(r.hkeys, strings.Repeat("H", 33000)) // a key that makes every entry large
	r.e.SetHashMaxListpack(6, 20)
}

func (r *opRunner) hfield() string {
	if r.next(15) == 0 {
		return strings.Repeat("F", 21+r.next(30)) // past the value limit
	}
	return fmt.Sprint("f", r.next(40))
}

func (r *opRunner) hvalue() string {
	if r.next(8) == 0 {
		return strings.Repeat("V", r.next(3000))
	}
	return valuePool[r.next(len(valuePool))]
}

func (r *opRunner) hashStep(op int) {
	d, m, now := r.d, &r.m, r.now
	k := r.hkeys[r.next(len(r.hkeys))]
	kb := []byte(k)
	e, found := m.get(k, now)
	r.log = append(r.log, fmt.Sprintf("  hash op %d on %.20q (found %v, %d fields)", op, k, found, len(e.h)))
	// put stores the model's new fields for k, keeping the TTL of a key that existed.
	put := func(h map[string]string) {
		if !found {
			e = oentry{}
		}
		e.h = h
		m.m[k] = e
	}
	cur := map[string]string{}
	if found {
		cur = maps.Clone(e.h)
	}
	switch op {
	case 0, 1: // HSET, HSETNX
		nx := op == 1
		pairs := 1
		if !nx {
			pairs += r.next(4)
		}
		var fv [][]byte
		want := 0
		for i := 0; i < pairs; i++ {
			f, v := r.hfield(), r.hvalue()
			fv = append(fv, []byte(f), []byte(v))
			_, had := cur[f]
			if !had {
				want++
			}
			if !(nx && had) {
				cur[f] = v
			}
		}
		added, err := d.HSet(kb, fv, nx, now)
		if err != nil || added != want {
			r.fail("hset nx=%v: %d %v, want %d", nx, added, err, want)
		}
		put(cur)
	case 2: // HDEL
		var fs [][]byte
		want := 0
		for i := 1 + r.next(3); i > 0; i-- {
			f := r.hfield()
			fs = append(fs, []byte(f))
			if _, had := cur[f]; had {
				delete(cur, f)
				want++
			}
		}
		n, err := d.HDel(kb, fs, now)
		if err != nil || n != want {
			r.fail("hdel: %d %v want %d", n, err, want)
		}
		if found && len(cur) == 0 {
			delete(m.m, k)
		} else if found {
			put(cur)
		}
	case 3: // HINCRBY, HINCRBYFLOAT
		f := r.hfield()
		old, had := cur[f]
		if r.next(2) == 0 {
			deltas := []int64{1, -1, 100, math.MaxInt64, math.MinInt64, 0}
			delta := deltas[r.next(len(deltas))]
			n, err := d.HIncrBy(kb, []byte(f), delta, now)
			c, ok := int64(0), true
			if had {
				c, ok = canonicalInt(old)
			}
			switch {
			case !ok:
				if err != ErrHashNotInteger {
					r.fail("hincrby %q: %v", old, err)
				}
			case (delta < 0 && c < 0 && delta < math.MinInt64-c) || (delta > 0 && c > 0 && delta > math.MaxInt64-c):
				if err != ErrOverflow {
					r.fail("hincrby overflow: %v", err)
				}
			default:
				if err != nil || n != c+delta {
					r.fail("hincrby %q: %d %v", old, n, err)
				}
				cur[f] = strconv.FormatInt(c+delta, 10)
				put(cur)
			}
			return
		}
		incrs := []string{"0.5", "-3", "1e300", "10", "x", "inf", "1e4932"}
		incr := incrs[r.next(len(incrs))]
		out, err := d.HIncrByFloat(nil, kb, []byte(f), []byte(incr), now)
		inc, incOK := longdouble.Parse([]byte(incr))
		var c longdouble.Value
		ok := true
		if had {
			c, ok = longdouble.Parse([]byte(old))
		}
		switch {
		case !incOK:
			if err != ErrNotFloat {
				r.fail("hincrbyfloat %q: %v", incr, err)
			}
		case inc.IsInf():
			if err != ErrNotFinite {
				r.fail("hincrbyfloat %q: %v", incr, err)
			}
		case !ok:
			if err != ErrHashNotFloat {
				r.fail("hincrbyfloat on %q: %v", old, err)
			}
		default:
			sum, sumOK := longdouble.Add(c, inc)
			if !sumOK {
				if err != ErrNaN {
					r.fail("hincrbyfloat %q+%q: %v", old, incr, err)
				}
				return
			}
			want := string(sum.AppendHuman(nil))
			if err != nil || string(out) != want {
				r.fail("hincrbyfloat %q+%q: %q %v want %q", old, incr, out, err, want)
			}
			cur[f] = want
			put(cur)
		}
	case 4: // RENAME between hash keys, EXPIRE of a hash
		if r.next(2) == 0 {
			at := r.expiry()
			if at == 0 {
				at = now + 10
			}
			if got := d.Expire(kb, at, ExpireAlways, now); got != found {
				r.fail("expire hash: %v", got)
			}
			if found && at <= now {
				delete(m.m, k)
			} else if found {
				e.exp = at
				m.m[k] = e
			}
			return
		}
		k2 := r.hkeys[r.next(len(r.hkeys))]
		ok, err := d.Rename(kb, []byte(k2), false, now)
		switch {
		case !found:
			if err != ErrNoSuchKey {
				r.fail("rename missing hash: %v", err)
			}
		case k == k2:
			if !ok || err != nil {
				r.fail("rename hash onto itself: %v %v", ok, err)
			}
		default:
			if !ok || err != nil {
				r.fail("rename hash: %v %v", ok, err)
			}
			delete(m.m, k)
			m.m[k2] = e
		}
	default: // reads, and hash reads of a string key
		if r.next(4) == 0 {
			sk := r.key()
			se, sfound := m.get(sk, now)
			_, err := d.HGet([]byte(sk), []byte("f"), now, nil)
			if sfound && se.h == nil && err != ErrWrongType || !sfound && err != nil {
				r.fail("hget on string key %q: %v", sk, err)
			}
			return
		}
		f := r.hfield()
		var got []byte
		ok, err := d.HGet(kb, []byte(f), now, func(v []byte) { got = append([]byte(nil), v...) })
		want, had := cur[f]
		if err != nil || ok != had || string(got) != want {
			r.fail("hget %q: %q %v %v, want %q %v", f, got, ok, err, want, had)
		}
		if n, err := d.HLen(kb, now); err != nil || n != int64(len(cur)) {
			r.fail("hlen %d %v, want %d", n, err, len(cur))
		}
	}
}

// compareHashes checks every hash key's whole contents.
func (r *opRunner) compareHashes() {
	r.t.Helper()
	for _, k := range r.hkeys {
		e, found := r.m.get(k, r.now)
		var got map[string]string
		ok, err := r.d.HGetAll([]byte(k), r.now, func(n int) { got = map[string]string{} },
			func(f, v []byte) { got[string(f)] = string(v) })
		if err != nil || ok != found || (found && !maps.Equal(got, e.h)) {
			r.fail("compare hash %.20q: %v %v, %d fields, model %v %d", k, ok, err, len(got), found, len(e.h))
		}
	}
}
