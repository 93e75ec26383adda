package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// Texts of Redis 7's CONFIG SET failures (src/config.c), after "... - ".
var (
	errImmutable = errors.New("can't set immutable config")
	errInteger   = errors.New("argument couldn't be parsed into an integer")
	errMemory    = errors.New("argument must be a memory value")
	errBool      = errors.New("argument must be 'yes' or 'no'")
	errSave      = errors.New("Invalid save parameters")
	errDuration  = errors.New("argument must be a duration such as 10s or 500ms, or a number of seconds")
)

func errRange(min, max int64) error {
	return errors.New("argument must be between " + strconv.FormatInt(min, 10) + " and " + strconv.FormatInt(max, 10) + " inclusive")
}

// parseLL is Redis's string2ll: an optional '-', no '+', no spaces, no leading zeros.
func parseLL(s string) (int64, bool) {
	if s == "" || s == "-" || strings.HasPrefix(s, "+") || (len(s) > 1 && s[0] == '0') || strings.HasPrefix(s, "-0") {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// ParseSize parses a memory value as Redis's memtoull does: decimal digits followed by an
// optional unit b, k (1000), kb (1024), m (1000²), mb (1024²), g (1000³) or gb (1024³), case
// insensitive. Like Redis, no digits ("" or "mb") is 0 and a sign or a fraction is an error;
// unlike Redis, a product beyond int64 is an error rather than wrapping.
func ParseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	var mul uint64
	switch strings.ToLower(s[i:]) {
	case "", "b":
		mul = 1
	case "k":
		mul = 1000
	case "kb":
		mul = 1024
	case "m":
		mul = 1000 * 1000
	case "mb":
		mul = 1024 * 1024
	case "g":
		mul = 1000 * 1000 * 1000
	case "gb":
		mul = 1024 * 1024 * 1024
	default:
		return 0, errMemory
	}
	if i == 0 {
		return 0, nil
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mul {
		return 0, errMemory
	}
	return int64(n * mul), nil
}

func intValue(min, max int64) func(*Setting, string) (value, error) {
	return func(_ *Setting, v string) (value, error) {
		n, ok := parseLL(v)
		if !ok {
			return value{}, errInteger
		}
		if n < min || n > max {
			return value{}, errRange(min, max)
		}
		return value{num: n, text: strconv.FormatInt(n, 10)}, nil
	}
}

// sizeValue shows the value in bytes, as Redis's CONFIG GET does for memory settings.
func sizeValue(min, max int64) func(*Setting, string) (value, error) {
	return func(_ *Setting, v string) (value, error) {
		n, err := ParseSize(v)
		if err != nil {
			return value{}, err
		}
		if n < min || n > max {
			return value{}, errRange(min, max)
		}
		return value{num: n, text: strconv.FormatInt(n, 10)}, nil
	}
}

func boolValue(_ *Setting, v string) (value, error) {
	switch strings.ToLower(v) {
	case "yes":
		return value{num: 1, text: "yes"}, nil
	case "no":
		return value{num: 0, text: "no"}, nil
	}
	return value{}, errBool
}

// enumValue: Int is the option's index in options; the error lists options in this order,
// as Redis does.
func enumValue(options ...string) func(*Setting, string) (value, error) {
	bad := errors.New("argument(s) must be one of the following: " + strings.Join(options, ", "))
	return func(_ *Setting, v string) (value, error) {
		for i, o := range options {
			if strings.EqualFold(v, o) {
				return value{num: int64(i), text: o}, nil
			}
		}
		return value{}, bad
	}
}

func stringValue(_ *Setting, v string) (value, error) { return value{text: v}, nil }

// durationValue accepts a Go duration ("10s", "500ms", "1m30s") or plain seconds ("10",
// "0.5"). Int is milliseconds (finer parts are dropped); CONFIG GET shows the Go duration
// ("10s", "500ms", "0s").
func durationValue(_ *Setting, v string) (value, error) {
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil && strings.Trim(v, "0123456789.") == "" {
		if f > float64(math.MaxInt64/int64(time.Second)) {
			return value{}, errDuration
		}
		d = time.Duration(f * float64(time.Second))
	} else if d, err = time.ParseDuration(v); err != nil || d < 0 {
		return value{}, errDuration
	}
	d = d.Truncate(time.Millisecond)
	return value{num: d.Milliseconds(), text: d.String()}, nil
}

// octalValue is a permission mask such as 700 (Redis shows unixsocketperm in octal).
func octalValue(_ *Setting, v string) (value, error) {
	n, err := strconv.ParseInt(v, 8, 64)
	if err != nil || v == "" || v[0] == '+' || v[0] == '-' {
		return value{}, errInteger
	}
	if n > 0o777 {
		return value{}, errRange(0, 0o777)
	}
	return value{num: n, text: strconv.FormatInt(n, 8)}, nil
}

// hzValue is Redis's hz: any non-negative int is accepted and clamped to 1..500.
func hzValue(s *Setting, v string) (value, error) {
	r, err := intValue(0, math.MaxInt32)(s, v)
	if err != nil {
		return r, err
	}
	r.num = min(max(r.num, 1), 500)
	r.text = strconv.FormatInt(r.num, 10)
	return r, nil
}

// maxMemoryValue is "auto" (see maxmemory.go) or a size; Int and CONFIG GET give the
// resolved bytes, 0 = unlimited. aux is the *MemorySizing of auto (nil when explicit).
func maxMemoryValue(_ *Setting, v string) (value, error) {
	if strings.EqualFold(v, "auto") {
		z := AutoMemory(0)
		if z.Limit <= 0 {
			return value{text: "0", aux: (*MemorySizing)(nil)}, nil
		}
		return value{num: z.MaxMemory, text: strconv.FormatInt(z.MaxMemory, 10), aux: &z}, nil
	}
	n, err := ParseSize(v)
	if err != nil {
		return value{}, err
	}
	return value{num: n, text: strconv.FormatInt(n, 10), aux: (*MemorySizing)(nil)}, nil
}

// niceValue is background-nice: "auto" (Int -1: the server picks, cmd/sidecache) or 0..19.
func niceValue(s *Setting, v string) (value, error) {
	if strings.EqualFold(v, "auto") {
		return value{num: -1, text: "auto"}, nil
	}
	return niceRange(s, v)
}

var niceRange = intValue(0, 19)

// memoryOrPercentValue is Redis's maxmemory-clients: bytes, or "N%" of maxmemory (0..100).
// Int is the bytes, or minus the percentage (Redis stores it so); CONFIG GET shows "10%".
func memoryOrPercentValue(_ *Setting, v string) (value, error) {
	if len(v) > 1 && v[len(v)-1] == '%' {
		if n, ok := parseLL(v[:len(v)-1]); ok && n >= 0 {
			if n > 100 {
				return value{}, errors.New("percentage argument must be less or equal to 100")
			}
			return value{num: -n, text: v}, nil
		}
	}
	n, err := ParseSize(v)
	if err != nil {
		return value{}, errors.New("argument must be a memory or percent value")
	}
	return value{num: n, text: strconv.FormatInt(n, 10)}, nil
}

// saveValue validates Redis's "seconds changes ..." pairs (seconds >= 1, changes >= 0).
// sidecache does not persist: the value is kept for clients that read it.
func saveValue(_ *Setting, v string) (value, error) {
	f := strings.Fields(v)
	if len(f)%2 != 0 {
		return value{}, errSave
	}
	for i, a := range f {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || (i%2 == 0 && n < 1) || (i%2 == 1 && n < 0) {
			return value{}, errSave
		}
	}
	return value{text: strings.Join(f, " ")}, nil
}

// maxBindAddrs is Redis's CONFIG_BINDADDR_MAX.
const maxBindAddrs = 16

// bindValue is a space-separated address list; Redis's "-" prefix (optional address) is kept
// for the listener to interpret.
func bindValue(_ *Setting, v string) (value, error) {
	f := strings.Fields(v)
	if len(f) > maxBindAddrs {
		return value{}, errors.New("Too many bind addresses specified.")
	}
	if len(f) == 0 {
		return value{}, errors.New("argument must name at least one address")
	}
	return value{text: strings.Join(f, " ")}, nil
}
