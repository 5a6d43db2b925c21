package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/evlog/evlog/segment/internal/frame"
)

const (
	storeSuffix = ".store"
	indexSuffix = ".index"
)

// segment is a store and its index: the records from base on, up to the
// limits in Config. Only the last segment of a log is appended to.
type segment struct {
	base  uint64
	store *store
	index *index
	// end is the store position after the last indexed frame. It equals
	// the store's size except in a sealed segment whose damaged tail was
	// left in place at recovery.
	end uint64
}

func segmentName(dir string, base uint64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// Recovery describes what NewLog found wrong with one segment and repaired.
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
}

// openSegment opens the segment at base, creating its files if needed, and
// checks the index against the store. An active segment gets its torn tail
// cut and its index grown to indexBytes.
func openSegment(dir string, base, indexBytes, storeBytes uint64, active bool) (*segment, *Recovery, error) {
	st, err := openStore(segmentName(dir, base, storeSuffix))
	if err != nil {
		return nil, nil, err
	}
	idx, err := openIndex(segmentName(dir, base, indexSuffix))
	if err != nil {
		st.close()
		return nil, nil, err
	}
	s := &segment{base: base, store: st, index: idx}
	rec, err := s.recover(active)
	if err == nil && active {
		err = idx.mapSize(max(indexBytes, idx.n*entryWidth))
	}
	if err == nil {
		err = st.mapData(storeBytes)
	}
	if err != nil {
		s.close()
		return nil, nil, err
	}
	return s, rec, nil
}

// recover sets the index's entry count. When the index is cut to its
// entries and its last entry ends exactly at the end of the store with an
// intact frame, as after a clean close or a roll, it is trusted without
// reading the store. Otherwise the store is scanned.
func (s *segment) recover(active bool) (*Recovery, error) {
	if n := s.index.capacity(); s.trusted(n) {
		s.index.n = n
		s.end = s.store.size
		return nil, nil
	}
	positions, end, err := scanStore(s.store)
	if err != nil {
		return nil, err
	}
	if len(positions) > 1<<32 {
		return nil, fmt.Errorf("%w: %s holds more records than an index can address", ErrCorrupt, s.store.name)
	}
	if active && end < s.store.size {
		if pos, ok := s.intactAfter(end); ok {
			return nil, fmt.Errorf("%w: %s is damaged at position %d, yet its index points at an intact record at "+
				"position %d: cutting the tail would delete records that may have been acknowledged, so the log "+
				"does not open; run evlog check on the directory, then restore the segment or move it aside",
				ErrCorrupt, s.store.name, end, pos)
		}
	}
	rec := &Recovery{Store: s.store.name, BaseOffset: s.base, Records: uint64(len(positions)), IndexRebuilt: true}
	if err := s.index.mapSize(0); err != nil {
		return nil, err
	}
	if err := s.index.mapSize(uint64(len(positions)) * entryWidth); err != nil {
		return nil, err
	}
	s.index.n = 0
	for _, p := range positions {
		s.index.append(p)
	}
	s.end = end
	if end < s.store.size {
		if active {
			rec.TruncatedBytes = s.store.size - end
			if err := s.store.file.Truncate(int64(end)); err != nil {
				return nil, fmt.Errorf("cut torn tail of %s: %w", s.store.name, err)
			}
			s.store.size = end
		} else {
			rec.DamagedBytes = s.store.size - end
		}
	}
	// Make the repair itself durable, so that a crash during recovery
	// cannot leave the files worse than they were.
	if err := fdatasync(s.store.file); err != nil {
		return nil, fmt.Errorf("sync %s: %w", s.store.name, err)
	}
	if err := s.index.seal(); err != nil {
		return nil, err
	}
	return rec, nil
}

// intactAfter looks through the index as found, before it is rebuilt, for
// an intact frame after end, where the scan of the store stopped. A crash
// only tears the tail, after which the index can point at nothing intact;
// an intact frame past the damage means the middle of the store went bad,
// and cutting there would delete good records.
func (s *segment) intactAfter(end uint64) (uint64, bool) {
	for k := s.index.capacity(); k > 0; k-- {
		rel, pos := s.index.entry(k - 1)
		if pos <= end || uint64(rel) != k-1 {
			continue
		}
		if _, err := s.store.frameAt(pos); err == nil {
			return pos, true
		}
	}
	return 0, false
}

// trusted reports whether an index of n entries matches the store exactly.
func (s *segment) trusted(n uint64) bool {
	if n == 0 {
		return s.store.size == 0
	}
	if rel, pos := s.index.entry(0); rel != 0 || pos != 0 {
		return false
	}
	rel, pos := s.index.entry(n - 1)
	if uint64(rel) != n-1 || pos+frame.HeaderSize > s.store.size {
		return false
	}
	payload, err := s.store.frameAt(pos)
	return err == nil && pos+frame.HeaderSize+uint64(len(payload)) == s.store.size
}

// next is the offset after the segment's last indexed record.
func (s *segment) next() uint64 { return s.base + s.index.n }

// bounds returns the store positions where the frame of relative entry k
// starts and ends, checked against the store so that a damaged index cannot
// send a read out of bounds.
func (s *segment) bounds(k uint64) (start, end uint64, err error) {
	rel, start := s.index.entry(k)
	if uint64(rel) != k {
		return 0, 0, fmt.Errorf("%w: index of %s: entry %d holds relative offset %d", ErrCorrupt, s.store.name, k, rel)
	}
	end = s.end
	if k+1 < s.index.n {
		_, end = s.index.entry(k + 1)
	}
	// Compared so that nothing overflows: a damaged entry may hold any
	// position, and start+frame.HeaderSize could wrap past zero.
	if end > s.end || start > end || end-start < frame.HeaderSize+frame.MinPayload {
		return 0, 0, fmt.Errorf("%w: index of %s: record %d at [%d, %d) outside the store (%d bytes)",
			ErrCorrupt, s.store.name, s.base+k, start, end, s.end)
	}
	return start, end, nil
}

func (s *segment) close() error {
	// The store first: an index cut to size is trusted at the next open,
	// so it must never describe records the store has not made durable.
	if err := s.store.sync(); err != nil {
		return errors.Join(err, s.index.close(), s.store.close())
	}
	return errors.Join(s.index.close(), s.store.close())
}

// remove closes the segment and deletes its files.
func (s *segment) remove() error {
	err := s.close()
	if rerr := os.Remove(s.store.name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	if rerr := os.Remove(s.index.name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}
