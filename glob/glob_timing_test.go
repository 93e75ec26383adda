package glob

import (
	"strings"
	"testing"
)

var sink bool

func BenchmarkMatch(b *testing.B) {
	bench := func(name, pattern, subject string) {
		p, s := []byte(pattern), []byte(subject)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = Match(p, s, false)
			}
		})
	}
	bench("literal", "user:1000:profile", "user:1000:profile")
	bench("prefix-star", "user:*", "user:1000:profile")
	bench("class", "user:[0-9][0-9][0-9][0-9]:*", "user:1000:profile")
	bench("adversarial", strings.Repeat("a*", 20)+"b", strings.Repeat("a", 100))
}
