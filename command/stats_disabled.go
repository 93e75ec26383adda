//go:build nostats

package command

// statsEnabled is false in this build: Exec neither counts nor times commands. It exists
// only to measure the statistics' cost against the default build; never ship it.
const statsEnabled = false
