package segment

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

// Read returns the record at offset. An offset below LowestOffset (the
// low-water mark, even while its segment still exists) or at or beyond
// NextOffset gives ErrOffsetOutOfRange; a record whose stored bytes
// fail their checks gives a *DamageError, which wraps ErrCorrupt, and is
// reported to Config.OnDamage.
func (l *Log) Read(offset uint64) (*messages.Record, error) {
	r, err := l.read(offset)
	l.reportDamage(err)
	return r, err
}

func (l *Log) read(offset uint64) (*messages.Record, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, k, err := l.locate(offset)
	if err != nil {
		return nil, err
	}
	start, end, err := s.bounds(k)
	if err != nil {
		return nil, damaged(s, offset, err)
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	b := slices.Grow((*bp)[:0], int(end-start))[:end-start]
	*bp = b
	if err := s.store.readAt(b, start); err != nil {
		return nil, err
	}
	payload, err := frame.Check(b, start)
	if err != nil {
		return nil, damaged(s, offset, err)
	}
	r, err := decodeRecord(payload, offset)
	if err != nil {
		return nil, damaged(s, offset, err)
	}
	return r, nil
}

var readBufs = sync.Pool{New: func() any { return new([]byte) }}

// decodeRecord decodes a record read from disk and checks that it is the
// one the index pointed at.
func decodeRecord(payload []byte, offset uint64) (*messages.Record, error) {
	r := &messages.Record{}
	if err := messages.UnmarshalRecord(payload, r); err != nil {
		return nil, fmt.Errorf("%w: offset %d: %v", ErrCorrupt, offset, err)
	}
	if r.Offset != offset {
		return nil, fmt.Errorf("%w: offset %d holds the record of offset %d", ErrCorrupt, offset, r.Offset)
	}
	return r, nil
}

// locate finds the segment holding offset and the record's entry in it.
// The caller holds mu.
func (l *Log) locate(offset uint64) (*segment, uint64, error) {
	if l.closed {
		return nil, 0, ErrClosed
	}
	lowest, next := l.meta.low, l.active().next()
	if offset < lowest || offset >= next {
		return nil, 0, fmt.Errorf("%w: offset %d, the log holds [%d, %d)", ErrOffsetOutOfRange, offset, lowest, next)
	}
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset }) - 1
	s := l.segments[i]
	if offset >= s.next() {
		// Only a sealed segment whose tail was damaged ends before the
		// next one begins.
		return nil, 0, damaged(s, offset, fmt.Errorf("%w: offset %d lies in the damaged tail of %s", ErrCorrupt, offset, s.store.name))
	}
	return s, offset - s.base, nil
}

// RawBatch is what ReadRawBatch returns: consecutive records as stored,
// and why the batch ended early if damage ended it.
type RawBatch struct {
	// Records is the dst passed in, extended with the stored msgpack
	// encodings of the records, back to back.
	Records []byte
	// N is how many records Records holds.
	N int
	// Damage, when not nil, says the batch ended before the limits because
	// the record after it, at offset+N, is damaged: a read from there
	// returns this error. The record is reported to Config.OnDamage.
	Damage *DamageError
}

// ReadRaw is ReadRawBatch for a caller that needs no reason why a batch
// ended: it returns the extended dst, how many records it holds and the
// error.
func (l *Log) ReadRaw(offset uint64, maxRecords, maxBytes int, dst []byte) ([]byte, int, error) {
	b, err := l.ReadRawBatch(offset, maxRecords, maxBytes, dst)
	return b.Records, b.N, err
}

// ReadRawBatch appends to dst the stored msgpack encodings of consecutive
// records from offset on, checksum-verified but not decoded: at most
// maxRecords of them and at most maxBytes of encodings in all, stopping
// early at the end of a segment or before a damaged record, which
// RawBatch.Damage then names. Only a damaged record at offset itself gives
// an error, a *DamageError (wrapping ErrCorrupt), and a batch of no records.
// When the record at offset alone exceeds maxBytes it returns
// ErrRecordTooLarge and dst unchanged.
func (l *Log) ReadRawBatch(offset uint64, maxRecords, maxBytes int, dst []byte) (RawBatch, error) {
	b, err := l.readRaw(offset, maxRecords, maxBytes, dst)
	if b.Damage != nil {
		l.reportDamage(b.Damage)
	}
	l.reportDamage(err)
	return b, err
}

func (l *Log) readRaw(offset uint64, maxRecords, maxBytes int, dst []byte) (RawBatch, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	b := RawBatch{Records: dst}
	s, k, err := l.locate(offset)
	if err != nil || maxRecords <= 0 {
		return b, err
	}
	sp, err := l.span(s, k, maxRecords, maxBytes)
	if err != nil {
		return b, err
	}
	base := len(dst)
	dst = slices.Grow(dst, int(sp.end-sp.first))[:base+int(sp.end-sp.first)]
	if err := s.store.readAt(dst[base:], sp.first); err != nil {
		return b, err
	}
	// Verify every frame and slide the payloads over the headers.
	w, r := base, base
	for j := 0; j < sp.records; j++ {
		start, e, _ := s.bounds(k + uint64(j))
		fr := dst[r : r+int(e-start)]
		payload, err := frame.Check(fr, start)
		if err != nil && j == 0 {
			return b, damaged(s, offset, err)
		}
		if err != nil {
			// Return the intact records before it: the next read
			// starts at the damaged one and gets the error alone.
			return RawBatch{Records: dst[:w], N: j, Damage: damaged(s, offset+uint64(j), err)}, nil
		}
		w += copy(dst[w:], payload)
		r += len(fr)
	}
	return RawBatch{Records: dst[:w], N: sp.records, Damage: sp.damage}, nil
}

// rawSpan is the run of records a raw read returns, found in the index:
// their number, the store range [first, end) holding their frames, and the
// damage found at the record after them, if that is what ended the run.
type rawSpan struct {
	records    int
	first, end uint64
	damage     *DamageError
}

// span walks s's index from relative entry k to see how many records fit
// in maxRecords and maxBytes, so that a raw read fetches them with one
// call. The caller holds mu.
func (l *Log) span(s *segment, k uint64, maxRecords, maxBytes int) (rawSpan, error) {
	offset := s.base + k
	first, end, err := s.bounds(k)
	if err != nil {
		return rawSpan{}, damaged(s, offset, err)
	}
	// A negative limit admits nothing; as uint64 it would admit everything.
	limit := uint64(max(maxBytes, 0))
	if end-first-frame.HeaderSize > limit {
		return rawSpan{}, fmt.Errorf("%w: record %d takes %d bytes, the limit is %d", ErrRecordTooLarge, offset, end-first-frame.HeaderSize, maxBytes)
	}
	sp := rawSpan{records: 1, first: first}
	total := end - first - frame.HeaderSize
	for ; sp.records < maxRecords && k+uint64(sp.records) < s.index.n; sp.records++ {
		start, e, err := s.bounds(k + uint64(sp.records))
		if err != nil {
			sp.damage = damaged(s, offset+uint64(sp.records), err)
			break
		}
		if start != end || total+e-start-frame.HeaderSize > limit {
			break
		}
		total += e - start - frame.HeaderSize
		end = e
	}
	sp.end = end
	if sp.records < maxRecords && k+uint64(sp.records) == s.index.n {
		// The run reached the end of s: if a damaged tail of s follows,
		// that is why it ended.
		_, _, err := l.locate(offset + uint64(sp.records))
		errors.As(err, &sp.damage)
	}
	return sp, nil
}
