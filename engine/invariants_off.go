//go:build !invariants

package engine

// invariants is off in normal builds: see invariants_on.go.
const invariants = false
