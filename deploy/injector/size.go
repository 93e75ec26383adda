package injector

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// RSS bound of DESIGN.md invariant 5: the process stays within
// 1.1 x maxmemory + maxmemory-clients + 32 MiB. It is the design bound, to be confirmed by
// measurement; the memory limit a sidecar gets is never below it.
const boundOverhead = 32 << 20

var errSize = errors.New("not a size: want digits with an optional unit b, k, kb, m, mb, g, gb")

// parseSize reads a Redis memory value as the server does (config.ParseSize): digits and an
// optional unit k (1000), kb (1024), m, mb, g, gb, case insensitive.
func parseSize(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errSize
	}
	var mul int64
	switch strings.ToLower(s[i:]) {
	case "", "b":
		mul = 1
	case "k":
		mul = 1000
	case "kb":
		mul = 1 << 10
	case "m":
		mul = 1000 * 1000
	case "mb":
		mul = 1 << 20
	case "g":
		mul = 1000 * 1000 * 1000
	case "gb":
		mul = 1 << 30
	default:
		return 0, errSize
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mul {
		return 0, errSize
	}
	return n * mul, nil
}

// clientBytes resolves maxmemory-clients against maxmemory: a size, or "N%" of maxmemory.
func clientBytes(maxmemoryClients string, maxmemory int64) (int64, error) {
	if p, ok := strings.CutSuffix(maxmemoryClients, "%"); ok {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 || n > 100 {
			return 0, errors.New("percentage must be 0..100")
		}
		return maxmemory * n / 100, nil
	}
	return parseSize(maxmemoryClients)
}

// MemoryBound is the smallest container memory limit, in bytes rounded up to a MiB, that
// holds the RSS bound for an explicit maxmemory and maxmemory-clients.
func MemoryBound(maxmemory, maxmemoryClients string) (int64, error) {
	mm, err := parseSize(maxmemory)
	if err != nil {
		return 0, err
	}
	if mm == 0 {
		return 0, errors.New("maxmemory 0 (unlimited) has no memory bound: use auto or a size")
	}
	mc, err := clientBytes(maxmemoryClients, mm)
	if err != nil {
		return 0, err
	}
	if mc == 0 {
		return 0, errors.New("maxmemory-clients 0 (unlimited) has no memory bound: set a size or a percentage")
	}
	b := (mm*11+9)/10 + mc + boundOverhead
	const mib = 1 << 20
	return (b + mib - 1) / mib * mib, nil
}

// boundQuantity is MemoryBound as a Kubernetes quantity in Mi.
func boundQuantity(bytes int64) resource.Quantity {
	return resource.MustParse(strconv.FormatInt(bytes>>20, 10) + "Mi")
}
