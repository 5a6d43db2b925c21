package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/evlog/evlog/segment/segmenttest"
)

// campaignSetting reads a whole number from the environment variable
// name, for soak runs, or returns def.
func campaignSetting(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		tb.Fatalf("%s=%q: want a whole number", name, s)
	}
	return n
}

// campaignSeed returns the seed of a campaign's random choices: the
// environment variable name if set, to replay a failure, else the clock.
// It logs the seed either way.
func campaignSeed(tb testing.TB, name string) uint64 {
	tb.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(name); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("%s=%q: want a seed", name, s)
		}
		seed = n
	}
	tb.Logf("seed %d (replay with %s=%d)", seed, name, seed)
	return seed
}

// campaignFrames returns the end of every intact frame of a store up to
// the first torn or damaged one, and the store's size: recovery keeps
// exactly these frames of an active segment and cuts the rest.
func campaignFrames(tb testing.TB, store string) (ends []int64, size int64) {
	tb.Helper()
	frames, size := segmenttest.Frames(tb, store)
	for _, f := range frames {
		ends = append(ends, f.End())
	}
	return ends, size
}

// campaignCopyDir copies the files of src into dst one by one, in the
// order perm gives (nil: as listed), as a snapshot taken while a process
// writes them would: each file as it is when its turn comes.
func campaignCopyDir(tb testing.TB, src, dst string, perm func(n int, swap func(i, j int))) {
	tb.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	if perm != nil {
		perm(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}
