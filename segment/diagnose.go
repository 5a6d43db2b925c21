package segment

import (
	"fmt"

	"github.com/evlog/evlog/segment/internal/frame"
)

// diagnosis is what a segment's files say about its records, read-only.
// Recovery at NewLog and Check both take it from diagnose, so that what
// the log does with a segment and what Check predicts it does cannot
// drift apart.
type diagnosis struct {
	// trusted says the index is cut to its entries and its last entry
	// ends exactly at the end of the store with an intact frame, as after
	// a clean close or a roll: the log uses it without reading the store.
	trusted bool
	// scanned says positions and end hold the scan of the store. A
	// diagnosis of a trusted index skips the scan unless asked for it.
	scanned bool
	// positions holds the position of every intact frame the scan found,
	// up to the first one that is not; end is where the last one ends.
	// Recovery keeps exactly these records.
	positions []uint64
	end       uint64
	// pending counts the intact frames after end of a batch whose last
	// frame is missing, which end at pendingEnd: a crash in the middle of
	// a batch's write, not damage, and cut like a torn frame.
	pending    int
	pendingEnd uint64
	// intactPast holds the positions that index entries beyond the scan's
	// records give for the intact record of their own offset past end.
	// A crash only tears the tail, after which the index points at nothing
	// intact: such records mean the middle of the store went bad, and
	// cutting at end would delete records that may have been acknowledged.
	intactPast []uint64
}

// damaged reports whether the store holds bytes after its last intact
// frame.
func (d *diagnosis) damaged(s *segment) bool { return d.scanned && d.end < s.store.size }

// diagnose judges s's index against its store. With scan false, a trusted
// index is taken as it is and the store is not read further; otherwise the
// store is scanned and the index entries past the scan are looked at.
// Zeros after the last intact frame are free space in the active segment
// only: a crash leaves its store preallocated, while a sealed store was
// cut to its last frame and synced before the next segment was created,
// so zeros at its end are records lost to the disk, which is damage.
func diagnose(s *segment, scan, active bool) (*diagnosis, error) {
	d := &diagnosis{trusted: s.trusted(s.index.capacity())}
	if d.trusted && !scan {
		return d, nil
	}
	sc, err := scanStore(s.store)
	if err != nil {
		return nil, err
	}
	d.scanned, d.positions, d.end = true, sc.Positions, sc.End
	d.pending, d.pendingEnd = sc.Pending, sc.PendingEnd
	fileEnd := s.store.size
	if active {
		if err := s.store.findFree(max(d.end, d.pendingEnd)); err != nil {
			return nil, fmt.Errorf("scan %s: %w", s.store.name, err)
		}
	}
	if d.end < s.store.size {
		d.findIntactPast(s, fileEnd)
	}
	return d, nil
}

// findIntactPast fills intactPast from the index entries beyond the scan's
// records. It reads frames up to fileEnd, the file's length, rather than
// to the store's size, which findFree ended at the last byte that is not
// zero: a record may end in zeros (a timestamp, a value), and those bytes
// are part of its frame, not free space. The store's size is moved back
// past the furthest such frame, so that nothing cuts them as free.
func (d *diagnosis) findIntactPast(s *segment, fileEnd uint64) {
	furthest := s.store.size
	for k := uint64(len(d.positions)); k < s.index.capacity(); k++ {
		// Entries of the incomplete batch's records may point at them:
		// its write returned before the crash.
		_, pos := s.index.entry(k)
		if pos <= d.end || pos < d.pendingEnd {
			continue
		}
		if end, ok := s.recordEnd(k, pos, fileEnd); ok {
			d.intactPast = append(d.intactPast, pos)
			furthest = max(furthest, end)
		}
	}
	if grown := furthest - s.store.size; grown > 0 {
		s.store.size += grown
		s.store.free -= grown
	}
}

// recordEnd reports whether an intact frame at pos, within the first
// limit bytes of the file, holds the record of relative offset k, and
// where that frame ends.
func (s *segment) recordEnd(k, pos, limit uint64) (uint64, bool) {
	payload, err := frame.ReadAt(storeReader{s.store}, pos, limit)
	if err != nil {
		return 0, false
	}
	if _, err := decodeRecord(payload, s.base+k); err != nil {
		return 0, false
	}
	return pos + frame.HeaderSize + uint64(len(payload)), true
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
	if uint64(rel) != n-1 || pos > s.store.size || s.store.size-pos < frame.HeaderSize {
		return false
	}
	payload, err := s.store.frameAt(pos)
	if err != nil || pos+frame.HeaderSize+uint64(len(payload)) != s.store.size {
		return false
	}
	// A last frame that says more follow ends a batch cut short.
	var hdr [frame.HeaderSize]byte
	return s.store.readAt(hdr[:], pos) == nil && !frame.More(hdr[:])
}

// errCutsIntact is recovery's refusal to cut an active store whose damage
// intact records follow.
func errCutsIntact(s *segment, d *diagnosis) error {
	return fmt.Errorf("%w: %s is damaged at position %d, yet its index points at an intact record at "+
		"position %d: cutting the tail would delete records that may have been acknowledged, so the log "+
		"does not open; run evlog check on the directory, then restore the segment or move it aside",
		ErrCorrupt, s.store.name, d.end, d.intactPast[len(d.intactPast)-1])
}
