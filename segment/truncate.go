package segment

import (
	"errors"
	"fmt"
)

// TruncateFront deletes every segment whose records are all below lowest. Since
// whole segments go, records below lowest may remain. When every record is
// below lowest the active segment goes too and an empty one takes its place
// at the same next offset: offsets are never reused. A lowest beyond
// NextOffset gives ErrOffsetOutOfRange.
func (l *Log) TruncateFront(lowest uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	next := l.active().next()
	if lowest > next {
		return fmt.Errorf("%w: truncate to %d, beyond the next offset %d", ErrOffsetOutOfRange, lowest, next)
	}
	if a := l.active(); lowest == next && a.index.n > 0 {
		// Every record goes: start a fresh active segment first, so that
		// the log always has one.
		s, _, err := openSegment(l.dir, next, l.config.Segment.MaxIndexBytes, l.config.Segment.MaxStoreBytes, true)
		if err != nil {
			return err
		}
		if err := l.seal(a); err != nil {
			s.remove()
			return err
		}
		// The new segment must be durable before the old ones go: if only
		// the removals survived a power loss, the log would start again
		// at an old base and reuse offsets.
		if err := syncDir(l.dir); err != nil {
			s.remove()
			return err
		}
		l.segments = append(l.segments, s)
	}
	var errs []error
	keep := l.segments[:0]
	for i, s := range l.segments {
		if i < len(l.segments)-1 && l.segments[i+1].base <= lowest {
			if err := s.remove(); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		keep = append(keep, s)
	}
	clear(l.segments[len(keep):])
	l.segments = keep
	errs = append(errs, syncDir(l.dir))
	return errors.Join(errs...)
}

// TruncateBack, deleting every record from a given offset on, belongs here
// too, next to TruncateFront. Replication will need it: a follower whose
// tail conflicts with the leader's must cut that tail before it appends the
// leader's records. It is not implemented. When it is, it must cut the
// active store and index and remove whole later segments under mu, sync the
// store before the directory, move synced back with the new end, and give
// ErrOffsetOutOfRange for an offset below LowestOffset or beyond NextOffset.
