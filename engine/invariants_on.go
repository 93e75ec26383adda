//go:build invariants

package engine

// invariants turns on the per-operation structure checks (see checkSlot); tests run with
// -tags invariants, production pays nothing.
const invariants = true
