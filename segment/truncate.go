package segment

import (
	"errors"
	"fmt"
)

// TruncateFront raises the low-water mark to lowest: from when it returns,
// every record below lowest reads as ErrOffsetOutOfRange and LowestOffset
// is lowest, even after a restart, since the mark is written to the
// metadata file first. Segments whose records are all below lowest are
// deleted; the records below lowest in the segment that holds lowest stay
// on disk, unreadable, until that segment goes too. When every record is
// below lowest the active segment goes as well and an empty one takes its
// place at the same next offset: offsets are never reused. A lowest at or
// below the mark changes nothing; one beyond NextOffset gives
// ErrOffsetOutOfRange. Config.OnRemove hears of a truncation that made
// records unreadable.
func (l *Log) TruncateFront(lowest uint64) error {
	l.mu.Lock()
	r, err := l.truncateFront(lowest)
	l.mu.Unlock()
	l.reportRemoval(r)
	return err
}

// truncateFront is TruncateFront under mu. The Removal it returns says
// what went, even when err says that deleting a segment failed.
func (l *Log) truncateFront(lowest uint64) (Removal, error) {
	if l.closed {
		return Removal{}, ErrClosed
	}
	r := Removal{From: l.meta.low, To: l.meta.low}
	next := l.active().next()
	if lowest > next {
		return r, fmt.Errorf("%w: truncate to %d, beyond the next offset %d", ErrOffsetOutOfRange, lowest, next)
	}
	if lowest <= l.meta.low {
		// Segments wholly below the mark may remain from a crash.
		return r, l.removeBelow(l.meta.low, &r)
	}
	if a := l.active(); lowest == next && a.index.n > 0 {
		if err := l.replaceActive(a, next); err != nil {
			return r, err
		}
	} else if err := l.active().store.sync(); err != nil {
		// The mark must never pass the durable end of the log: after a
		// power loss it would hide the offsets appends then give out.
		return r, l.fail(err)
	}
	m := l.meta
	m.low = lowest
	if err := writeMeta(l.dir, m); err != nil {
		return r, fmt.Errorf("truncate: %w", err)
	}
	l.meta = m
	r.To = lowest
	return r, l.removeBelow(lowest, &r)
}

// replaceActive starts a fresh active segment at next, after a, the
// active segment, whose records all go, so that the log always has one.
func (l *Log) replaceActive(a *segment, next uint64) error {
	s, _, err := openSegment(l.dir, next, l.config.Segment.MaxIndexBytes, l.config.Segment.MaxStoreBytes, true)
	if err != nil {
		return err
	}
	if err := l.seal(a); err != nil {
		s.remove()
		return err
	}
	// The new segment must be durable before the old ones go: if only
	// the removals survived a power loss, the log would start again at an
	// old base and reuse offsets.
	if err := syncDir(l.dir); err != nil {
		s.remove()
		return err
	}
	l.segments = append(l.segments, s)
	return nil
}

// removeBelow deletes the segments whose records are all below lowest,
// counting them and their store bytes in r.
func (l *Log) removeBelow(lowest uint64, r *Removal) error {
	if len(l.segments) < 2 || l.segments[1].base > lowest {
		return nil
	}
	var errs []error
	keep := l.segments[:0]
	for i, s := range l.segments {
		if i < len(l.segments)-1 && l.segments[i+1].base <= lowest {
			r.Segments++
			r.Bytes += s.store.size
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
