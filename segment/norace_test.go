//go:build !race

package segment

// raceEnabled says the race detector is on; see race_test.go.
const raceEnabled = false
