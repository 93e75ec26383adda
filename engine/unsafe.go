package engine

import (
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// unsafeString views b as a string without copying; valid only while b is unchanged.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// hashKey is the key hash: its high bits pick the segment, its low 32 bits the index slot.
func hashKey(k []byte) uint64 { return xxhash.Sum64(k) }
