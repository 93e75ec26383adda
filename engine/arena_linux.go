//go:build linux

package engine

// Cache memory comes from anonymous mmap so it never counts toward the Go heap and never
// drives GOGC or GC mark time (invariant 1).

import "golang.org/x/sys/unix"

// reserve maps size bytes of address space; MAP_NORESERVE so untouched pages cost nothing.
func reserve(size int) ([]byte, error) {
	return unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
}

func release(b []byte) error { return unix.Munmap(b) }

// dontNeed hands the pages' memory back to the OS; they read as zeros afterwards.
func dontNeed(b []byte) { _ = unix.Madvise(b, unix.MADV_DONTNEED) }

// mapTable maps memory for an index table (fully used, so no MAP_NORESERVE).
func mapTable(size int) ([]byte, error) {
	return unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
}

func unmapTable(b []byte) { _ = unix.Munmap(b) }

// protectNone makes a mapping inaccessible (invariants builds: retired index tables).
func protectNone(b []byte) { _ = unix.Mprotect(b, unix.PROT_NONE) }

const osPage = 4096
