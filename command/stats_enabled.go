//go:build !nostats

package command

// statsEnabled is false only in binaries built with -tags nostats, which exist to measure
// what command statistics cost a whole server (results/stats-overhead).
const statsEnabled = true
