package segment

import (
	"errors"
	"fmt"
	"os"
	"slices"
)

// checkTimes compares s's time index file with the one NewLog builds from
// the records the scan found, positions, whose timestamps are stamps and of
// which those in bad do not decode. A missing or stale file is a note,
// since NewLog builds it from the store, and not even that in the active
// segment, where a crash always leaves it so; a wrong one is a problem
// that Repair fixes by rebuilding it.
func (c *segmentCheck) checkTimes(dir string, s *segment, positions []uint64, stamps []int64, bad map[int]error) error {
	want := &timeIndex{}
	for i, pos := range positions {
		if bad[i] == nil {
			want.add(uint64(i), pos, stamps[i])
		}
	}
	name := segmentName(dir, s.base, timeIndexSuffix)
	b, err := os.ReadFile(name)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if len(positions) > 0 && !c.active {
			c.report.Notes = append(c.report.Notes, "time index file missing (written before time indexes, "+
				"or lost in a crash); opening the log builds it")
		}
		return nil
	case err != nil:
		return fmt.Errorf("check: %w", err)
	}
	n := uint64(len(positions))
	entries, records, err := decodeTimeIndex(b)
	switch {
	case err != nil:
		c.problem(nil, "time index %s: %v", name, err)
	case records < n && slices.Equal(entries, entriesBelow(want.entries, records)):
		if c.active {
			return nil
		}
		c.report.Notes = append(c.report.Notes, fmt.Sprintf("time index covers %d of the %d records (as a crash "+
			"leaves it); opening the log rebuilds it", records, n))
		return nil
	case records != n:
		c.problem(nil, "time index %s covers %d records, the store holds %d", name, records, n)
	case !slices.Equal(entries, want.entries):
		c.problem(nil, "time index %s does not match the store: %s", name, firstTimeDiff(entries, want.entries))
	default:
		return nil
	}
	c.timesBad = true
	// A store that stays damaged is not repaired at all; NewLog rebuilds
	// the time index anyway.
	c.fix = c.fix || !c.storeDamaged
	return nil
}

// entriesBelow is the entries of records below n.
func entriesBelow(e []timeEntry, n uint64) []timeEntry {
	i, _ := slices.BinarySearchFunc(e, n, func(e timeEntry, n uint64) int {
		return cmpUint(uint64(e.rel), n)
	})
	return e[:i]
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// firstTimeDiff describes the first entry where got and want differ.
func firstTimeDiff(got, want []timeEntry) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("entry %d is (relative offset %d, timestamp %d), want (%d, %d)",
				i, got[i].rel, got[i].ts, want[i].rel, want[i].ts)
		}
	}
	return fmt.Sprintf("%d entries, want %d", len(got), len(want))
}
