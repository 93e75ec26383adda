package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The hash blob against a Go map (STYLE.md §2): a driver applies writes the way the engine
// does (plan, reallocate into a fresh garbage-filled slice, apply) and checks after every
// step the structure (hbVerify), every field, the encoding Redis would have, and the order a
// packed hash must keep (insertion order, updates in place).

type blobModel struct {
	t         testing.TB
	b         []byte
	m         map[string]string
	order     []string // insertion order, for the packed encoding
	lim       hashLimits
	converted bool // Redis's encoding: a table once a limit was passed, for ever
	reallocs  int
	steps     int
}

func newBlobModel(t testing.TB, lim hashLimits) *blobModel {
	b := make([]byte, hbPackedHdr)
	hbInitPacked(b)
	return &blobModel{t: t, b: b, m: map[string]string{}, lim: lim}
}

// realloc is the engine's reblob on the Go heap: the new blob's bytes are garbage.
func (bm *blobModel) realloc(p hbPlan) {
	nb := bytes.Repeat([]byte{0xdb}, p.size)
	hbRealloc(nb, bm.b, p.bits)
	bm.b = nb
	bm.reallocs++
}

func (bm *blobModel) set(f, v string) {
	bm.t.Helper()
	fb, vb := []byte(f), []byte(v)
	h := hbHash(fb)
	rec, pos := hbFind(bm.b, fb, h)
	if p := hbPlanSet(bm.b, rec, fb, vb, bm.lim, 0, 0); p.size > 0 {
		bm.realloc(p)
		rec, pos = hbFind(bm.b, fb, h)
	}
	_, had := bm.m[f]
	if added := hbSet(bm.b, rec, pos, fb, vb, h); added == had {
		bm.t.Fatalf("set %q: added %v, model had it %v", f, added, had)
	}
	if !had {
		bm.order = append(bm.order, f)
	}
	bm.m[f] = v
	if int64(len(f)) > bm.lim.value || int64(len(v)) > bm.lim.value || int64(len(bm.m)) > bm.lim.entries {
		bm.converted = true
	}
	bm.check()
}

func (bm *blobModel) del(f string) {
	bm.t.Helper()
	_, had := bm.m[f]
	if got := hbDel(bm.b, []byte(f)); got != had {
		bm.t.Fatalf("del %q: %v, model %v", f, got, had)
	}
	if had {
		delete(bm.m, f)
		bm.order = slices.DeleteFunc(bm.order, func(s string) bool { return s == f })
		if p := hbPlanShrink(bm.b); p.size > 0 {
			bm.realloc(p)
		}
	}
	bm.check()
}

// check compares everything after each step while the hash is small, every 32nd step after.
func (bm *blobModel) check() {
	bm.t.Helper()
	if bm.steps++; len(bm.m) > 64 && bm.steps%32 != 0 {
		if hbCount(bm.b) != len(bm.m) || hbIsTable(bm.b) != bm.converted {
			bm.t.Fatalf("count %d (model %d), table %v (Redis %v)", hbCount(bm.b), len(bm.m), hbIsTable(bm.b), bm.converted)
		}
		return
	}
	if err := hbVerify(bm.b); err != nil {
		bm.t.Fatalf("verify: %v", err)
	}
	if hbIsTable(bm.b) != bm.converted {
		bm.t.Fatalf("table encoding %v, Redis would say %v (%d fields)", hbIsTable(bm.b), bm.converted, len(bm.m))
	}
	if hbCount(bm.b) != len(bm.m) {
		bm.t.Fatalf("count %d, model %d", hbCount(bm.b), len(bm.m))
	}
	var got []string
	for pos := 0; ; {
		f, v, next, ok := hbNext(bm.b, pos)
		if !ok {
			break
		}
		if want, ok := bm.m[string(f)]; !ok || want != string(v) {
			bm.t.Fatalf("iteration: %q=%q, model %q/%v", f, v, want, ok)
		}
		got = append(got, string(f))
		pos = next
	}
	if !hbIsTable(bm.b) && !slices.Equal(got, bm.order) {
		bm.t.Fatalf("packed order %q, want %q", got, bm.order)
	}
	if len(got) != len(bm.m) {
		bm.t.Fatalf("iteration gave %d fields, model %d", len(got), len(bm.m))
	}
}

func (bm *blobModel) get(f string) {
	bm.t.Helper()
	v, ok := hbGet(bm.b, []byte(f))
	want, had := bm.m[f]
	if ok != had || string(v) != want {
		bm.t.Fatalf("get %q: %q/%v, model %q/%v", f, v, ok, want, had)
	}
}

func TestHashBlobOracle(t *testing.T) {
	for _, lim := range []hashLimits{{512, 64}, {8, 16}, {0, 64}, {128, 0}, {1 << 30, 1 << 30}} {
		t.Run(fmt.Sprintf("entries=%d,value=%d", lim.entries, lim.value), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(lim.entries), uint64(lim.value)))
			bm := newBlobModel(t, lim)
			fields := 40 + rng.IntN(2000)
			steps := 6000
			if testing.Short() {
				steps = 1500
			}
			for i := 0; i < steps; i++ {
				f := fmt.Sprint("f", rng.IntN(fields))
				if rng.IntN(20) == 0 {
					f = strings.Repeat("F", rng.IntN(200)) + f
				}
				switch op := rng.IntN(10); {
				case op < 5:
					bm.set(f, strings.Repeat("v", rng.IntN(3)*rng.IntN(40)))
				case op < 8:
					bm.del(f)
				default:
					bm.get(f)
				}
			}
		})
	}
}

// TestHashBlobGrowth: 100k fields in a table take O(1) amortised work per insert, with
// geometric reallocations, and every field stays reachable.
func TestHashBlobGrowth(t *testing.T) {
	bm := newBlobModel(t, hashLimits{512, 64})
	n := 100000
	if testing.Short() {
		n = 20000
	}
	for i := 0; i < n; i++ {
		if i == 513 {
			bm.reallocs = 0 // packed growth is exact, like listpack's realloc per insert
		}
		f := []byte(fmt.Sprint("field:", i))
		h := hbHash(f)
		rec, pos := hbFind(bm.b, f, h)
		if p := hbPlanSet(bm.b, rec, f, f, bm.lim, 0, 0); p.size > 0 {
			bm.realloc(p)
			rec, pos = hbFind(bm.b, f, h)
		}
		hbSet(bm.b, rec, pos, f, f, h)
	}
	if err := hbVerify(bm.b); err != nil {
		t.Fatal(err)
	}
	// Reallocations grow at least 1.5x: about log1.5(n) of them, not one per insert.
	if bm.reallocs > 60 {
		t.Errorf("%d reallocations for %d inserts", bm.reallocs, n)
	}
	for i := 0; i < n; i += 997 {
		f := fmt.Sprint("field:", i)
		if v, ok := hbGet(bm.b, []byte(f)); !ok || string(v) != f {
			t.Fatalf("%s: %q %v", f, v, ok)
		}
	}
	// The blob is within a small factor of its payload: records + 8-byte slots at >= 3/8 load.
	payload := hbLiveBytes(bm.b)
	if len(bm.b) > 2*payload+hbTableBytes(hbTableBits(n)) {
		t.Errorf("blob %d bytes for %d bytes of records", len(bm.b), payload)
	}
}

// TestHashBlobScan: a field present from the start to the end of a scan is returned at
// least once, while fields are added (rebuilding the table larger), deleted and updated
// between the steps.
func TestHashBlobScan(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		bm := newBlobModel(t, hashLimits{16, 64})
		for i := 0; i < 300; i++ {
			bm.set(fmt.Sprint("a", i), "x")
		}
		stable := map[string]bool{}
		for f := range bm.m {
			if rng.IntN(3) > 0 {
				stable[f] = true
			}
		}
		seen := map[string]bool{}
		cursor := uint64(0)
		for steps := 0; ; steps++ {
			if steps > 100000 {
				t.Fatal("scan does not end")
			}
			cursor = hbScan(bm.b, cursor, 1+rng.IntN(20), func(f, v []byte) { seen[string(f)] = true })
			if cursor == 0 {
				break
			}
			for k := rng.IntN(40); k > 0; k-- {
				switch f := fmt.Sprint("a", rng.IntN(3000)); {
				case stable[f]:
					bm.set(f, strings.Repeat("y", rng.IntN(30))) // updates move records
				case rng.IntN(3) == 0:
					bm.del(f)
				default:
					bm.set(f, "z")
				}
			}
		}
		for f := range stable {
			if !seen[f] {
				t.Fatalf("seed %d: scan missed %q", seed, f)
			}
		}
	}
}

// TestHashBlobScanPacked: a packed hash is returned whole at any cursor, cursor 0 next.
func TestHashBlobScanPacked(t *testing.T) {
	bm := newBlobModel(t, hashLimits{512, 64})
	bm.set("a", "1")
	bm.set("b", "2")
	var got []string
	if next := hbScan(bm.b, 12345, 1, func(f, v []byte) { got = append(got, string(f)+"="+string(v)) }); next != 0 {
		t.Errorf("next cursor %d", next)
	}
	if !slices.Equal(got, []string{"a=1", "b=2"}) {
		t.Errorf("got %q", got)
	}
}

// TestHashBlobCollisions: fields whose 32-bit hashes collide (all in one home) stay correct;
// the table degrades to long probes, not to wrong answers.
func TestHashBlobCollisions(t *testing.T) {
	b := make([]byte, 4096)
	hbInitTable(b, 5)
	h := uint32(0xdeadbeef)
	var fields [][]byte
	for i := 0; i < 20; i++ {
		f := []byte(fmt.Sprint("c", i))
		fields = append(fields, f)
		hbTableAppend(b, f, f, h)
	}
	for _, f := range fields {
		if rec, _ := hbFind(b, f, h); rec < 0 {
			t.Fatalf("%s not found", f)
		}
	}
	for _, f := range fields[:10] {
		rec, pos := hbFind(b, f, h)
		_, _, end := hbRecord(b, rec)
		hbSetCount(b, hbCount(b)-1)
		hbSetDead(b, hbDead(b)+end-rec)
		put32(b[hbTableHdr+pos*hbSlotSize:], slotTomb)
		hbSetTombs(b, hbTombs(b)+1)
	}
	for _, f := range fields[10:] {
		if rec, _ := hbFind(b, f, h); rec < 0 {
			t.Fatalf("%s not found after deletes", f)
		}
	}
	if rec, _ := hbFind(b, []byte("absent"), h); rec >= 0 {
		t.Fatal("absent field found")
	}
}

// FuzzHashBlob decodes the input into writes, deletes and reads under small limits, so
// conversions, rebuilds, compactions and shrinks all happen (seed corpus in
// testdata/fuzz/FuzzHashBlob).
func FuzzHashBlob(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add(bytes.Repeat([]byte{0, 3, 40, 1, 3, 0, 2, 200, 5}, 30))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		bm := newBlobModel(t, hashLimits{entries: int64(data[0] % 12), value: int64(data[1] % 40)})
		data = data[2:]
		for len(data) >= 3 {
			op, fi, vl := data[0], data[1], data[2]
			data = data[3:]
			f := fmt.Sprint("f", fi%64)
			if fi >= 224 {
				f = strings.Repeat("L", int(fi)-200)
			}
			switch op % 4 {
			case 0, 1:
				bm.set(f, strings.Repeat("v", int(vl%90)))
			case 2:
				bm.del(f)
			default:
				bm.get(f)
			}
		}
	})
}
