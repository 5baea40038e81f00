//go:build !race

package store

// raceTokenAllocs: see race_on_test.go.
const raceTokenAllocs = 0
