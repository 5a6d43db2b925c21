package segment

import "fmt"

// Recovery describes what NewLog found wrong with one segment and what its
// recovery did about it.
type Recovery struct {
	// Store is the path of the segment's store.
	Store string
	// BaseOffset is the offset of the segment's first record.
	BaseOffset uint64
	// Records is the number of intact records the segment holds now.
	Records uint64
	// IndexRebuilt says the index was missing, damaged or not cut to size
	// (as after a crash) and was rebuilt from the store.
	IndexRebuilt bool
	// TruncatedBytes is how much of the active segment's store was cut: a
	// torn or corrupt tail after the last intact record.
	TruncatedBytes uint64
	// DamagedBytes is the size of a damaged tail found in a sealed segment.
	// It is left in place for inspection; its records read as ErrCorrupt.
	DamagedBytes uint64
	// TimeIndexRebuilt says the time index file did not match the store
	// (stale after a crash, or damaged) and was rebuilt from it. A missing
	// one, as in a directory written before time indexes, is built
	// without a report.
	TimeIndexRebuilt bool
}

// recover sets the index's entry count from diagnose. A trusted index is
// used as it is, without reading the store. Otherwise the index is rebuilt
// from the scan of the store, and the active segment's store is cut after
// its last intact frame, unless intact records follow the damage.
func (s *segment) recover(active bool) (*Recovery, error) {
	d, err := diagnose(s, false, active)
	if err != nil {
		return nil, err
	}
	if d.trusted {
		s.index.n = s.index.capacity()
		s.end = s.store.size
		return nil, nil
	}
	if len(d.positions) > 1<<32 {
		return nil, fmt.Errorf("%w: %s holds more records than an index can address", ErrCorrupt, s.store.name)
	}
	if active && len(d.intactPast) > 0 {
		return nil, errCutsIntact(s, d)
	}
	if err := s.rebuildIndex(d.positions); err != nil {
		return nil, err
	}
	rec := &Recovery{Store: s.store.name, BaseOffset: s.base, Records: uint64(len(d.positions)), IndexRebuilt: true}
	s.end = d.end
	if s.store.free > 0 {
		// Free space a crash left preallocated in the active store
		// (diagnose finds none in a sealed one): cut it, so that the
		// store ends at its last byte written.
		if err := s.store.file.Truncate(int64(s.store.size)); err != nil {
			return nil, fmt.Errorf("cut free tail of %s: %w", s.store.name, err)
		}
		s.store.free = 0
	}
	if d.end < s.store.size {
		if active {
			rec.TruncatedBytes = s.store.size - d.end
			if err := s.store.file.Truncate(int64(d.end)); err != nil {
				return nil, fmt.Errorf("cut torn tail of %s: %w", s.store.name, err)
			}
			s.store.size = d.end
		} else {
			rec.DamagedBytes = s.store.size - d.end
		}
	}
	// Make the recovery itself durable, so that a crash during it cannot
	// leave the files worse than they were.
	if err := fdatasync(s.store.file); err != nil {
		return nil, fmt.Errorf("sync %s: %w", s.store.name, err)
	}
	if err := s.index.seal(); err != nil {
		return nil, err
	}
	return rec, nil
}

// rebuildIndex replaces the index's entries with the given positions.
func (s *segment) rebuildIndex(positions []uint64) error {
	if err := s.index.mapSize(0); err != nil {
		return err
	}
	if err := s.index.mapSize(uint64(len(positions)) * entryWidth); err != nil {
		return err
	}
	s.index.n = 0
	for _, p := range positions {
		s.index.append(p)
	}
	return nil
}
