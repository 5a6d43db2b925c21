package segment

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

// Append appends r, sets its Offset (and its Timestamp, when zero) and
// returns the offset. Under SyncAlways it returns once r is durable.
//
// A zero Timestamp becomes Config.Now, or the previous record's timestamp
// if that is later (the clock stepped back), so that the timestamps the
// log assigns never decrease. A Timestamp the caller sets is kept as it
// is: OffsetAtTime assumes timestamps that do not decrease, which holds
// for a log whose records all get theirs from the log, as the service's
// do.
func (l *Log) Append(r *messages.Record) (uint64, error) {
	return l.AppendBatch([]*messages.Record{r})
}

// AppendBatch appends records with contiguous offsets, in order, and returns
// the first. Under SyncAlways it returns once all of them are durable.
//
// A batch that fits in one segment is written with one write and marked as
// one batch in the store: on error none of it is in the log, and a crash
// during the write leaves none of it either, since recovery cuts a batch
// whose last record is missing. A batch larger than a whole segment is
// split across segments, one batch of the format in each, and an error or
// a crash may leave a prefix of it appended.
func (l *Log) AppendBatch(records []*messages.Record) (first uint64, err error) {
	first, err = l.AppendUnsynced(records)
	if err != nil || l.config.Sync.Mode != SyncAlways {
		return first, err
	}
	return first, l.Sync()
}

// AppendUnsynced appends like AppendBatch but returns as soon as the records
// are written to the operating system, whatever the sync mode: they survive
// a crash of the process but not of the machine until Sync returns. A
// server uses it to acknowledge many requests after one Sync.
func (l *Log) AppendUnsynced(records []*messages.Record) (first uint64, err error) {
	return l.AppendUnsyncedStamped(records, nil)
}

// AppendUnsyncedStamped appends like AppendUnsynced, the first record
// stored with the headers stamp besides its own, as if they were set in
// its Headers (see messages.AppendRecordWith), which it leaves as they
// are. A server stamps the id of an append this way without a header map
// per append.
func (l *Log) AppendUnsyncedStamped(records []*messages.Record, stamp []messages.Header) (first uint64, err error) {
	if len(records) == 0 {
		return 0, errors.New("append: no records")
	}
	if i := slices.Index(records, nil); i >= 0 {
		return 0, fmt.Errorf("append: record %d of the batch is nil", i)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.releaseScratch()
	if l.closed {
		return 0, ErrClosed
	}
	l.syncMu.Lock()
	serr := l.syncErr
	l.syncMu.Unlock()
	if serr != nil {
		return 0, fmt.Errorf("append: %w", serr)
	}
	first = l.active().next()
	// NextOffset must stay representable: past the largest offset the
	// next one would wrap to 0 and offsets would be given out again.
	if uint64(len(records)) > math.MaxUint64-first {
		return 0, fmt.Errorf("%w: append of %d records at offset %d would pass the largest offset",
			ErrOffsetOutOfRange, len(records), first)
	}
	if err := l.encode(records, first, stamp); err != nil {
		return 0, err
	}
	maxStore := l.config.Segment.MaxStoreBytes
	maxEntries := l.config.Segment.MaxIndexBytes / entryWidth
	for k := 0; k < len(records); {
		s := l.active()
		from := l.frameStart(k)
		var room uint64
		if s.store.size < maxStore {
			room = maxStore - s.store.size
		}
		slots := s.index.capacity() - s.index.n
		m := 0
		for k+m < len(records) && uint64(m) < slots && uint64(l.ends[k+m]-from) <= room {
			m++
		}
		rest := len(records) - k
		restFitsEmpty := uint64(rest) <= maxEntries && uint64(l.ends[len(records)-1]-from) <= maxStore
		if m == 0 && s.index.n == 0 {
			return first, fmt.Errorf("append: segment %s takes no record", s.store.name)
		}
		if m == 0 || (m < rest && restFitsEmpty && s.index.n > 0) {
			if err := l.roll(); err != nil {
				return first, err
			}
			continue
		}
		if k+m < len(records) {
			// The batch goes on in the next segment: this write is a
			// batch of its own, since a sealed segment never ends
			// inside one.
			frame.SetMore(l.frames[l.frameStart(k+m-1):l.ends[k+m-1]], false)
		}
		if err := s.store.write(l.frames[from:l.ends[k+m-1]]); err != nil {
			return first, fmt.Errorf("append: %w", err)
		}
		pos := s.store.size - uint64(l.ends[k+m-1]-from)
		for j := k; j < k+m; j++ {
			p := pos + uint64(l.frameStart(j)-from)
			s.times.add(s.index.n, p, records[j].Timestamp)
			s.index.append(p)
			l.lastTS = max(l.lastTS, records[j].Timestamp)
		}
		s.end = s.store.size
		k += m
	}
	return first, nil
}

// frameStart is where the frame of batch record j starts in l.frames.
func (l *Log) frameStart(j int) int {
	if j == 0 {
		return 0
	}
	return l.ends[j-1]
}

// encode frames records into l.frames, numbering them from first, the
// first with the headers extra besides its own. Every record is checked
// before anything is written, so that a record too large fails the batch
// as a whole.
func (l *Log) encode(records []*messages.Record, first uint64, extra []messages.Header) error {
	now := l.config.Now().UnixNano()
	l.frames, l.ends = l.frames[:0], l.ends[:0]
	prev := l.lastTS
	for j, r := range records {
		ts := stamp(r.Timestamp, now, prev)
		prev = max(prev, ts)
		l.scratch = messages.Record{
			Value: r.Value, Key: r.Key, Headers: r.Headers,
			Offset: first + uint64(j), Timestamp: ts,
		}
		// The record is encoded in place, after room for its frame's
		// header, which is written once the payload's length is known.
		start := len(l.frames)
		var err error
		l.frames, err = messages.AppendRecordWith(append(l.frames, make([]byte, frame.HeaderSize)...), &l.scratch, extra)
		extra = nil
		if err != nil {
			return fmt.Errorf("append: %w", err)
		}
		if n := uint64(len(l.frames) - start); n > l.config.Segment.MaxStoreBytes || n-frame.HeaderSize > frame.MaxPayload {
			return fmt.Errorf("%w: record %d of the batch takes %d bytes, a segment holds %d",
				ErrRecordTooLarge, j, n, l.config.Segment.MaxStoreBytes)
		}
		// Every frame but the batch's last says that more follow, so that
		// recovery can tell a batch cut short by a crash.
		frame.SetMore(l.frames[start:], j < len(records)-1)
		l.ends = append(l.ends, len(l.frames))
	}
	// Only now that the batch is accepted do the caller's records learn
	// their offsets and timestamps.
	prev = l.lastTS
	for j, r := range records {
		r.Offset = first + uint64(j)
		r.Timestamp = stamp(r.Timestamp, now, prev)
		prev = max(prev, r.Timestamp)
	}
	return nil
}

// Now returns the timestamp a record appended now without one would get:
// the clock (Config.Now), or the newest record's timestamp if the clock is
// behind it. A caller that stamps records itself, to decide something from
// the same time it stores, stamps them with Now and so keeps the log's
// timestamps from ever decreasing.
func (l *Log) Now() int64 {
	now := l.config.Now().UnixNano()
	l.mu.RLock()
	defer l.mu.RUnlock()
	return max(now, l.lastTS)
}

// stamp is the timestamp a record gets: given, if the caller gave one, or
// now, but never earlier than prev, the newest record's, so that the
// timestamps the log assigns never decrease even when the clock steps back
// and a lookup by time can binary-search them.
func stamp(given, now, prev int64) int64 {
	if given != 0 {
		return given
	}
	return max(now, prev)
}

// releaseScratch drops scratch that a huge batch grew, so that it does not
// pin that memory for ever. AppendUnsynced defers it: the scratch is in use
// until the batch is written.
func (l *Log) releaseScratch() {
	if cap(l.frames) > 4<<20 {
		l.frames, l.ends = nil, nil
	}
}

// roll seals the active segment and starts a new one after it.
func (l *Log) roll() error {
	s := l.active()
	if err := l.seal(s); err != nil {
		return err
	}
	next, _, err := openSegment(l.dir, s.next(), l.config.Segment.MaxIndexBytes, l.config.Segment.MaxStoreBytes, true)
	if err != nil {
		return err
	}
	l.segments = append(l.segments, next)
	if err := syncDir(l.dir); err != nil {
		// Appends to the new segment would be acknowledged although its
		// file may not survive a power loss, and nothing retries this.
		return l.fail(err)
	}
	if l.config.OnRoll != nil {
		l.config.OnRoll()
	}
	return nil
}

// seal makes s, the active segment, durable and cuts its index to size, so
// that a reopen trusts it without a scan. The caller holds mu. The store's
// sync covers appends not yet synced, so its failure fails the log as a
// failed Sync does: a later fdatasync may succeed although the pages this
// one could not write are gone.
func (l *Log) seal(s *segment) error {
	// Cut before the sync, so that one fdatasync makes both the records
	// and the store's final size durable.
	if err := s.store.cutSpare(); err != nil {
		return err
	}
	if err := s.store.sync(); err != nil {
		return l.fail(err)
	}
	if err := s.index.seal(); err != nil {
		return err
	}
	// Its time index is written at Close: writing it now would take room
	// from the next segment's index on a nearly full disk.
	s.timesDirty = true
	return nil
}
