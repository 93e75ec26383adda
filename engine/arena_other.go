//go:build !linux

package engine

// Development fallback: other systems get arena memory from the Go heap (pointer-free, so
// the GC does not scan it, but it does count toward GOGC); production runs on Linux.

// heapArena bounds the fallback's region: make() of maxArena would commit it eagerly on
// some systems.
const heapArena = 1 << 30

func reserve(size int) ([]byte, error) {
	if size > heapArena {
		size = heapArena
	}
	return make([]byte, size), nil
}

func release(b []byte) error { return nil }

func dontNeed(b []byte) { clear(b) }

func mapTable(size int) ([]byte, error) { return make([]byte, size), nil }

func unmapTable(b []byte) {}

func protectNone(b []byte) {}

const osPage = 4096
