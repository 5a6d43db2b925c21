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
// limits in Config. Only the active segment, the newest, is appended to.
type segment struct {
	base  uint64
	store *store
	index *index
	// end is the store position after the last indexed frame. It equals
	// the store's size except in a sealed segment whose damaged tail was
	// left in place at recovery.
	end uint64
	// times is the time index, loaded or rebuilt once the index is right;
	// timesRebuilt says that opening the segment rebuilt a file it found,
	// timesDirty that the file is yet to be written.
	times                    *timeIndex
	timesRebuilt, timesDirty bool
}

func segmentName(dir string, base uint64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// openSegment opens the segment at base, creating its files if needed, and
// checks the index against the store. An active segment gets its torn tail
// cut and its index grown to indexBytes.
//
// A time index that did not match is rebuilt, which timesRebuilt and the
// Recovery, when there is one, say: it is no damage of its own, since the
// store holds all of it.
func openSegment(dir string, base, indexBytes, storeBytes uint64, active bool) (s *segment, rec *Recovery, err error) {
	st, err := openStore(segmentName(dir, base, storeSuffix))
	if err != nil {
		return nil, nil, err
	}
	idx, err := openIndex(segmentName(dir, base, indexSuffix))
	if err != nil {
		st.close()
		return nil, nil, err
	}
	s = &segment{base: base, store: st, index: idx}
	rec, err = s.recover(active)
	if err != nil {
		// Leave the files as recovery found or left them, for the
		// operator and evlog check to read.
		return nil, nil, errors.Join(err, idx.release(), st.close())
	}
	if active {
		err = idx.mapSize(max(indexBytes, idx.n*entryWidth))
	}
	if err == nil && active && storeBytes > 0 {
		err = st.mapForAppends(storeBytes)
	} else if err == nil {
		err = st.mapData(storeBytes)
	}
	if err == nil {
		s.timesRebuilt, err = s.loadTimes(segmentName(dir, base, timeIndexSuffix), active)
	}
	if err != nil {
		s.close()
		return nil, nil, err
	}
	if rec != nil {
		rec.TimeIndexRebuilt = s.timesRebuilt
	}
	return s, rec, nil
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
	// so it must never describe records the store has not made durable,
	// nor a store still preallocated past its last frame.
	err := s.store.cutSpare()
	if err == nil {
		err = s.store.sync()
	}
	if err != nil {
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
	if s.times != nil {
		if rerr := os.Remove(s.times.name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}
