// Package glob matches Redis's glob patterns (KEYS, SCAN MATCH, CONFIG GET, PSUBSCRIBE).
//
// Match is a port of Redis 7's stringmatchlen (src/util.c), including its quirks, so that a
// pattern selects exactly the names Redis would select:
//
//   - '*' matches any run of bytes (consecutive stars are one star); '?' matches one byte.
//   - '[abc]', '[^abc]' (negation), '[a-z]' ranges; a reversed range '[z-a]' is the same as
//     '[a-z]'; '\x' inside brackets is the literal x; an unterminated '[' takes the rest of
//     the pattern as its class; ']' right after '[' or '[^' closes an empty class.
//   - '\x' outside brackets is the literal x; a trailing '\' is a literal backslash.
//   - Range bounds compare as C's signed char (Redis on x86/amd64): bytes >= 0x80 sort
//     below '\0', so '[a-\xff]' is the range -1..'a'.
//   - nocase folds ASCII letters only (C's tolower in the "C" locale).
//
// Cost is bounded the way Redis bounds it: once the rest of a pattern after a '*' has failed
// at every position of the subject, no earlier '*' can succeed either, so the whole match
// stops (Redis's skipLongerMatches, CVE-2022-36021); and more than 1000 nested stars never
// match (Redis's nesting guard). "a*a*a*...b" therefore costs O(len(pattern)*len(subject)).
package glob

// maxNesting is Redis's recursion guard: a pattern needing more nested '*' frames than this
// does not match.
const maxNesting = 1000

// result of one matching frame. giveUp is "no match, and no longer match of an enclosing '*'
// can help" (Redis's *skipLongerMatches = 1); it propagates to the top as false.
type result uint8

const (
	noMatch result = iota
	match
	giveUp
)

// Match reports whether subject matches pattern with Redis's stringmatchlen rules: '*', '?',
// '[...]' with ranges and '^' negation, '\' escapes; nocase folds ASCII case. It allocates
// nothing and neither slice is retained.
func Match(pattern, subject []byte, nocase bool) bool {
	return matchFrom(pattern, subject, nocase, 0) == match
}

// MatchString is Match for strings, for callers holding names rather than bytes. It
// allocates nothing either.
func MatchString(pattern, subject string, nocase bool) bool {
	return matchFrom(pattern, subject, nocase, 0) == match
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// signed is C's (int)(char)c on platforms where char is signed, as Redis's ranges see bytes.
func signed(c byte) int { return int(int8(c)) }

func matchFrom[T ~string | ~[]byte](p, s T, nocase bool, nesting int) result {
	if nesting > maxNesting {
		return noMatch
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return match
			}
			for len(s) > 0 {
				switch matchFrom(p[1:], s, nocase, nesting+1) {
				case match:
					return match
				case giveUp:
					return giveUp
				}
				s = s[1:]
			}
			// The rest of the pattern matched nowhere in s: a longer match for an earlier
			// '*' would only start the rest later in s, so nothing can match.
			return giveUp
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			matched := false
			c := s[0]
			for {
				if len(p) >= 2 && p[0] == '\\' {
					p = p[1:]
					if p[0] == c {
						matched = true
					}
				} else if len(p) > 0 && p[0] == ']' {
					break
				} else if len(p) == 0 {
					// Unterminated class: Redis steps back so the p[1:] below ends the
					// pattern. Here p is already empty; the shared advance is skipped.
					break
				} else if len(p) >= 3 && p[1] == '-' {
					start, end, cc := signed(p[0]), signed(p[2]), signed(c)
					if start > end {
						start, end = end, start
					}
					if nocase {
						start, end, cc = signedLower(start), signedLower(end), signedLower(cc)
					}
					p = p[2:]
					if cc >= start && cc <= end {
						matched = true
					}
				} else if nocase {
					if lower(p[0]) == lower(c) {
						matched = true
					}
				} else if p[0] == c {
					matched = true
				}
				p = p[1:]
			}
			if not {
				matched = !matched
			}
			if !matched {
				return noMatch
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if nocase {
				if lower(p[0]) != lower(s[0]) {
					return noMatch
				}
			} else if p[0] != s[0] {
				return noMatch
			}
			s = s[1:]
		}
		if len(p) > 0 { // empty only after an unterminated class
			p = p[1:]
		}
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	if len(p) == 0 && len(s) == 0 {
		return match
	}
	return noMatch
}

// signedLower is C's tolower on a signed char value: only 'A'..'Z' change.
func signedLower(c int) int {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}
