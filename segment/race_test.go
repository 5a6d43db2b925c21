//go:build race

package segment

// raceEnabled says the race detector is on; its instrumentation makes
// values escape that do not otherwise, so allocation counts differ.
const raceEnabled = true
