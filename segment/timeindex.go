package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"slices"

	"github.com/evlog/evlog/segment/internal/frame"
)

const timeIndexSuffix = ".timeindex"

// A segment's time index holds an entry for its first intact record, then
// for the first intact record at least timeEveryRecords records or
// timeEveryBytes store bytes past the last entry's, so that a lookup by
// time decodes at most that many records after a binary search. The rule
// depends only on the store, so the index written while appending and one
// rebuilt from the store are the same bytes.
const (
	timeEveryRecords = 64
	timeEveryBytes   = 64 << 10
	// timeEntryWidth is an entry: relative offset uint32, timestamp int64.
	timeEntryWidth = 12
	// timeTrailerWidth is the trailer: records covered uint64, crc32c
	// uint32 of everything before it.
	timeTrailerWidth = 12
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// timeEntry says that the record at rel, relative to the segment's base,
// has timestamp ts.
type timeEntry struct {
	rel uint32
	ts  int64
}

// timeIndex is a segment's sparse time index, kept in memory whole (an
// entry per 64 records costs 0.2 bytes a record) and written to its file
// when the segment is sealed or closed. It changes under the Log's write
// lock; readers hold its read lock.
type timeIndex struct {
	name    string
	entries []timeEntry
	// lastPos is the store position of the last entry's record.
	lastPos uint64
}

// wants reports whether the record at relative offset k, whose frame is at
// pos, gets an entry.
func (t *timeIndex) wants(k, pos uint64) bool {
	n := len(t.entries)
	return n == 0 || k-uint64(t.entries[n-1].rel) >= timeEveryRecords || pos-t.lastPos >= timeEveryBytes
}

// add records the timestamp of the record at k, at pos, if it wants one.
func (t *timeIndex) add(k, pos uint64, ts int64) {
	if t.wants(k, pos) {
		t.entries = append(t.entries, timeEntry{rel: uint32(k), ts: ts})
		t.lastPos = pos
	}
}

// encode returns the file's bytes for an index covering records records.
func (t *timeIndex) encode(records uint64) []byte {
	b := make([]byte, 0, len(t.entries)*timeEntryWidth+timeTrailerWidth)
	for _, e := range t.entries {
		b = binary.BigEndian.AppendUint32(b, e.rel)
		b = binary.BigEndian.AppendUint64(b, uint64(e.ts))
	}
	b = binary.BigEndian.AppendUint64(b, records)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// errTimeFile is the reason a time index file does not decode.
var errTimeFile = errors.New("not a time index")

// decodeTimeIndex parses a time index file, returning its entries and the
// number of records it covers.
func decodeTimeIndex(b []byte) ([]timeEntry, uint64, error) {
	if len(b) < timeTrailerWidth || (len(b)-timeTrailerWidth)%timeEntryWidth != 0 {
		return nil, 0, fmt.Errorf("%w: %d bytes", errTimeFile, len(b))
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return nil, 0, fmt.Errorf("%w: checksum mismatch", errTimeFile)
	}
	records := binary.BigEndian.Uint64(b[len(b)-timeTrailerWidth:])
	entries := make([]timeEntry, (len(b)-timeTrailerWidth)/timeEntryWidth)
	for i := range entries {
		e := b[i*timeEntryWidth:]
		entries[i] = timeEntry{rel: binary.BigEndian.Uint32(e), ts: int64(binary.BigEndian.Uint64(e[4:]))}
		if i > 0 && (entries[i].rel <= entries[i-1].rel || entries[i].ts < entries[i-1].ts) {
			return nil, 0, fmt.Errorf("%w: entry %d goes backwards", errTimeFile, i)
		}
	}
	if n := len(entries); n > 0 && uint64(entries[n-1].rel) >= records {
		return nil, 0, fmt.Errorf("%w: entry for relative offset %d of %d records", errTimeFile, entries[n-1].rel, records)
	}
	return entries, records, nil
}

// loadTimes loads s's time index. A sealed segment's file is trusted when
// it covers exactly the segment's records (see trustTimes); otherwise, as
// when it is missing (a directory written before time indexes) or damaged,
// the index is rebuilt from the store and s.timesDirty says that the file
// needs writing. The active segment's index is always rebuilt, and any
// file it has removed: the file is written once the segment is sealed, at
// Close, so that a crash never leaves one stale. It reports
// whether it rebuilt a sealed segment's index whose file existed.
func (s *segment) loadTimes(name string, active bool) (rebuilt bool, err error) {
	s.times = &timeIndex{name: name}
	if active {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("remove time index: %w", err)
		}
		return false, s.rebuildTimes()
	}
	b, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("read time index: %w", err)
	}
	found := err == nil
	if found && s.trustTimes(b) {
		return false, nil
	}
	s.timesDirty = true
	return found, s.rebuildTimes()
}

// trustTimes takes b as s's time index if it covers exactly the segment's
// records. It reads no record, so that a clean reopen still reads one
// frame a segment: the checksum catches a damaged file, the record count a
// stale one, and Check compares every entry with its record.
func (s *segment) trustTimes(b []byte) bool {
	entries, records, err := decodeTimeIndex(b)
	if err != nil || records != s.index.n || len(entries) == 0 && records > 0 {
		return false
	}
	if len(entries) > 0 {
		_, s.times.lastPos = s.index.entry(uint64(entries[len(entries)-1].rel))
	}
	s.times.entries = entries
	return true
}

// rebuildTimes rebuilds s's time index from its records, decoding only
// those that get an entry. A damaged record gets none: the next intact one
// takes its place.
func (s *segment) rebuildTimes() error {
	t := s.times
	t.entries, t.lastPos = nil, 0
	for k := range s.index.n {
		start, _, err := s.bounds(k)
		if err != nil || !t.wants(k, start) {
			continue
		}
		ts, err := s.timestampAt(k)
		if errors.Is(err, ErrCorrupt) {
			continue
		}
		if err != nil {
			return err
		}
		t.add(k, start, ts)
	}
	return nil
}

// saveTimes writes s's time index file, atomically: a temporary file,
// synced, renamed over it. The directory is not synced: a rename lost to
// a power loss leaves the old file, which the next open rebuilds.
func (s *segment) saveTimes() error {
	s.timesDirty = false
	tmp := s.times.name + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write time index: %w", err)
	}
	_, err = f.Write(s.times.encode(s.index.n))
	if err == nil {
		err = fdatasync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.times.name)
	}
	if err != nil {
		s.timesDirty = true
		if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("write time index %s: %w", s.times.name, err)
	}
	return nil
}

// keepTimes writes s's time index file if it needs writing. The store
// holds everything the file does, so a failure loses nothing: it is
// logged, and the next open rebuilds the index.
func (l *Log) keepTimes(s *segment) {
	if !s.timesDirty {
		return
	}
	if err := s.saveTimes(); err != nil {
		l.config.Logger.Warn("time index not written; the next start rebuilds it", "err", err)
	}
}

// timestampAt decodes the timestamp of the record at relative offset k.
func (s *segment) timestampAt(k uint64) (int64, error) {
	start, end, err := s.bounds(k)
	if err != nil {
		return 0, err
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	b := slices.Grow((*bp)[:0], int(end-start))[:end-start]
	*bp = b
	if err := s.store.readAt(b, start); err != nil {
		return 0, err
	}
	payload, err := frame.Check(b, start)
	if err != nil {
		return 0, err
	}
	r, err := decodeRecord(payload, s.base+k)
	if err != nil {
		return 0, err
	}
	return r.Timestamp, nil
}

// newestTimestamp is the timestamp of the newest record of the segment,
// or of the newest one that reads, and false when none has an entry.
func (s *segment) newestTimestamp() (int64, bool) {
	e := s.times.entries
	if len(e) == 0 {
		return 0, false
	}
	if ts, err := s.timestampAt(s.index.n - 1); err == nil {
		return max(ts, e[len(e)-1].ts), true
	}
	return e[len(e)-1].ts, true
}
