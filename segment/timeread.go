package segment

import (
	"errors"
	"sort"
)

// OffsetAtTime returns the offset of the first record whose timestamp is
// at or after ts, in unix nanoseconds: LowestOffset when ts is at or
// before the oldest record's, NextOffset when every record is older. It
// binary-searches the segments and their time indexes, then decodes at
// most a few dozen records, and relies on timestamps that do not decrease
// (see Append). A damaged record met on the way is taken as the answer,
// since its timestamp cannot be known: a read from there reports it.
func (l *Log) OffsetAtTime(ts int64) (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	off, err := l.findTime(ts)
	if err != nil {
		return 0, err
	}
	// Records below the mark do not read, and later ones are no older.
	return max(off, l.meta.low), nil
}

// findTime finds the first record at or after ts. The caller holds mu.
func (l *Log) findTime(ts int64) (uint64, error) {
	segs := l.segments
	// The answer lies in the last segment whose first entry is older than
	// ts, or right after it.
	i := sort.Search(len(segs), func(i int) bool {
		e := segs[i].times.entries
		return len(e) == 0 || e[0].ts >= ts
	})
	if i == 0 {
		return segs[0].base, nil
	}
	s := segs[i-1]
	off, found, err := s.findTime(ts)
	switch {
	case err != nil || found:
		return off, err
	case i < len(segs):
		return segs[i].base, nil
	}
	return s.next(), nil
}

// findTime looks for the first record at or after ts in s, whose first
// entry is older than ts, and reports whether s holds it.
func (s *segment) findTime(ts int64) (uint64, bool, error) {
	e := s.times.entries
	j := sort.Search(len(e), func(j int) bool { return e[j].ts >= ts }) - 1
	stop := s.index.n
	if j+1 < len(e) {
		stop = uint64(e[j+1].rel)
	}
	for k := uint64(e[j].rel) + 1; k < stop; k++ {
		t, err := s.timestampAt(k)
		if errors.Is(err, ErrCorrupt) || err == nil && t >= ts {
			return s.base + k, true, nil
		}
		if err != nil {
			return 0, false, err
		}
	}
	return s.base + stop, j+1 < len(e), nil
}

// newestTimestamp is the newest record's timestamp, for Append to assign
// none below it, or 0 when the log holds no record. The caller holds mu
// or has the log to itself.
func (l *Log) newestTimestamp() int64 {
	for i := len(l.segments) - 1; i >= 0; i-- {
		if ts, ok := l.segments[i].newestTimestamp(); ok {
			return ts
		}
	}
	return 0
}
