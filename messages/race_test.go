//go:build race

package messages

// raceEnabled says the race detector is on. Under it sync.Pool drops a
// share of what is put back at random, so fmt's printers, which it pools,
// are allocated anew now and then, and allocation counts of a path that
// formats an error vary from run to run.
const raceEnabled = true
