//go:build race

package store

// raceTokenAllocs is what the race detector adds to a token's making:
// instrumented, crypto/rand.Read's argument escapes, so appendToken's
// buffer moves to the heap (`go build -race -gcflags=-m`: keys.go
// "moved to heap: b"; without -race it stays on the stack).
const raceTokenAllocs = 1
