package pubsub

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/sidecache/sidecache/protocol"
)

// fakeSub records what it is pushed.
type fakeSub struct {
	v    protocol.Version
	mu   sync.Mutex
	got  [][]byte
	dead bool
}

func (f *fakeSub) Push(msg []byte) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dead {
		return false
	}
	f.got = append(f.got, append([]byte(nil), msg...))
	return true
}

func (f *fakeSub) ProtoAtomic() protocol.Version { return f.v }

func (f *fakeSub) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.got {
		out = append(out, string(m))
	}
	f.got = nil
	return out
}

func msg(v protocol.Version, kind, pattern, channel, payload string) string {
	var p []byte
	if pattern != "" {
		p = []byte(pattern)
	}
	return string(AppendMessage(nil, v, kind, p, []byte(channel), []byte(payload)))
}

func TestPublishChannelsAndPatterns(t *testing.T) {
	h := NewHub("message", "pmessage")
	a := &fakeSub{v: protocol.RESP2}
	b := &fakeSub{v: protocol.RESP3}
	h.Subscribe(a, []byte("news"))
	h.Subscribe(b, []byte("news"))
	h.PSubscribe(a, []byte("n*"))
	h.PSubscribe(b, []byte("x*"))

	f := func(channel string, want int) {
		t.Helper()
		if n := h.Publish([]byte(channel), []byte("hi")); n != want {
			t.Errorf("Publish(%q) = %d, want %d", channel, n, want)
		}
	}
	f("news", 3)
	f("nothing", 1)
	f("x", 1)
	f("other", 0)

	wantA := []string{
		msg(2, "message", "", "news", "hi"), msg(2, "pmessage", "n*", "news", "hi"),
		msg(2, "pmessage", "n*", "nothing", "hi"),
	}
	if got := a.take(); !slices.Equal(got, wantA) {
		t.Errorf("a got %q\nwant %q", got, wantA)
	}
	wantB := []string{msg(3, "message", "", "news", "hi"), msg(3, "pmessage", "x*", "x", "hi")}
	if got := b.take(); !slices.Equal(got, wantB) {
		t.Errorf("b got %q\nwant %q", got, wantB)
	}
	if !bytes.HasPrefix([]byte(wantB[0]), []byte(">3\r\n$7\r\nmessage")) || !bytes.HasPrefix([]byte(wantA[0]), []byte("*3\r\n")) {
		t.Errorf("encodings: %q %q", wantA[0], wantB[0])
	}

	if n := h.NumSub([]byte("news")); n != 2 {
		t.Errorf("NumSub = %d", n)
	}
	if h.NumChannels() != 1 || h.NumPatterns() != 2 {
		t.Errorf("channels %d patterns %d", h.NumChannels(), h.NumPatterns())
	}
	h.Unsubscribe(a, []byte("news"))
	h.Unsubscribe(b, []byte("news"))
	h.PUnsubscribe(a, []byte("n*"))
	h.PUnsubscribe(a, []byte("n*")) // twice: no-op
	if h.NumChannels() != 0 || h.NumPatterns() != 1 || h.NumSub([]byte("news")) != 0 {
		t.Errorf("after unsubscribe: channels %d patterns %d", h.NumChannels(), h.NumPatterns())
	}
	f("news", 0)
}

func TestShardHubHasNoPatterns(t *testing.T) {
	h := NewHub("smessage", "")
	a := &fakeSub{v: protocol.RESP3}
	h.Subscribe(a, []byte("s"))
	if n := h.Publish([]byte("s"), []byte("m")); n != 1 {
		t.Fatalf("Publish = %d", n)
	}
	if got := a.take(); len(got) != 1 || got[0] != msg(3, "smessage", "", "s", "m") {
		t.Errorf("got %q", got)
	}
}

func TestChannelsMatching(t *testing.T) {
	h := NewHub("message", "pmessage")
	a := &fakeSub{v: protocol.RESP2}
	for _, ch := range []string{"a1", "a2", "b1", "[x"} {
		h.Subscribe(a, []byte(ch))
	}
	f := func(pattern string, want ...string) {
		t.Helper()
		var p []byte
		if pattern != "*nil*" {
			p = []byte(pattern)
		}
		var got []string
		for _, n := range h.Channels(p) {
			got = append(got, string(n))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Channels(%q) = %q, want %q", pattern, got, want)
		}
	}
	f("*nil*", "a1", "a2", "b1", "[x")
	f("a*", "a1", "a2")
	f("?1", "a1", "b1")
	f(`\[x`, "[x")
	f("z*")
}

// A large set keeps an index; removing in any order keeps it consistent.
func TestSubSetIndex(t *testing.T) {
	h := NewHub("message", "pmessage")
	subs := make([]*fakeSub, 200)
	for i := range subs {
		subs[i] = &fakeSub{v: protocol.RESP2}
		h.Subscribe(subs[i], []byte("c"))
	}
	for i := 0; i < len(subs); i += 3 {
		h.Unsubscribe(subs[i], []byte("c"))
	}
	want := len(subs) - (len(subs)+2)/3
	if n := h.Publish([]byte("c"), []byte("x")); n != want {
		t.Fatalf("Publish = %d, want %d", n, want)
	}
	for i, s := range subs {
		got := len(s.take())
		if (i%3 == 0) != (got == 0) {
			t.Errorf("sub %d got %d messages", i, got)
		}
	}
	for i := range subs {
		h.Unsubscribe(subs[i], []byte("c"))
	}
	if h.NumChannels() != 0 {
		t.Errorf("channels left: %d", h.NumChannels())
	}
}

// Every subscriber sees one channel's messages in the same order, whoever publishes.
func TestConcurrentPublishOrder(t *testing.T) {
	h := NewHub("message", "pmessage")
	subs := []*fakeSub{{v: 2}, {v: 3}, {v: 2}}
	for _, s := range subs {
		h.Subscribe(s, []byte("c"))
		h.PSubscribe(s, []byte("*"))
	}
	var wg sync.WaitGroup
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				h.Publish([]byte("c"), fmt.Appendf(nil, "%d-%d", p, i))
			}
		}()
	}
	// Subscribers come and go meanwhile.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 200 {
			x := &fakeSub{v: 3}
			h.Subscribe(x, []byte("c"))
			h.PSubscribe(x, []byte("c*"))
			h.Unsubscribe(x, []byte("c"))
			h.PUnsubscribe(x, []byte("c*"))
		}
	}()
	wg.Wait()
	order := func(s *fakeSub) []string {
		var out []string
		for _, m := range s.take() {
			v, _, err := protocol.ReadValue([]byte(m))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(v.Elems[0].Str)+":"+string(v.Elems[len(v.Elems)-1].Str))
		}
		return out
	}
	first := order(subs[0])
	if len(first) != 4*200*2 {
		t.Fatalf("got %d messages", len(first))
	}
	for i, m := range first {
		if want := []string{"message", "pmessage"}[i%2]; m[:len(want)+1] != want+":" {
			t.Fatalf("message %d is %q: a channel message and its pattern message must be adjacent", i, m)
		}
	}
	for _, s := range subs[1:] {
		if got := order(s); !slices.Equal(got, first) {
			t.Fatalf("subscribers saw different orders")
		}
	}
}

// Publishing to subscribers that are already registered allocates nothing.
func TestPublishAllocs(t *testing.T) {
	h := NewHub("message", "pmessage")
	s2, s3 := &nopSub{v: 2}, &nopSub{v: 3}
	h.Subscribe(s2, []byte("chan"))
	h.Subscribe(s3, []byte("chan"))
	h.PSubscribe(s2, []byte("ch*"))
	ch, m := []byte("chan"), []byte("payload")
	h.Publish(ch, m)
	if n := testing.AllocsPerRun(100, func() { h.Publish(ch, m) }); n != 0 {
		t.Errorf("Publish allocates %v times", n)
	}
}

type nopSub struct{ v protocol.Version }

func (n *nopSub) Push([]byte) bool              { return true }
func (n *nopSub) ProtoAtomic() protocol.Version { return n.v }

func TestSet(t *testing.T) {
	var s Set
	if !s.Add([]byte("a")) || !s.Add([]byte("b")) || s.Add([]byte("a")) || !s.Add([]byte("c")) {
		t.Fatal("Add")
	}
	if s.Len() != 3 || !s.Has([]byte("b")) || s.Has([]byte("z")) {
		t.Fatal("Len/Has")
	}
	if got := s.Names(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("Names = %q", got)
	}
	if !s.Remove([]byte("a")) || s.Remove([]byte("a")) {
		t.Fatal("Remove")
	}
	got := s.Names()
	slices.Sort(got)
	if !slices.Equal(got, []string{"b", "c"}) || !s.Has([]byte("c")) {
		t.Fatalf("after Remove: %q", got)
	}
	s.Clear()
	if s.Len() != 0 || s.Has([]byte("b")) {
		t.Fatal("Clear")
	}
}
