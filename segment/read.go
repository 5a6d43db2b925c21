package segment

import (
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

// Read returns the record at offset. An offset below LowestOffset or at or
// beyond NextOffset gives ErrOffsetOutOfRange; a record whose stored bytes
// fail their checks gives ErrCorrupt.
func (l *Log) Read(offset uint64) (*messages.Record, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, k, err := l.locate(offset)
	if err != nil {
		return nil, err
	}
	start, end, err := s.bounds(k)
	if err != nil {
		return nil, err
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
		return nil, fmt.Errorf("read offset %d: %w", offset, err)
	}
	return decodeRecord(payload, offset)
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
	lowest, next := l.segments[0].base, l.active().next()
	if offset < lowest || offset >= next {
		return nil, 0, fmt.Errorf("%w: offset %d, the log holds [%d, %d)", ErrOffsetOutOfRange, offset, lowest, next)
	}
	i := sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset }) - 1
	s := l.segments[i]
	if offset >= s.next() {
		// Only a sealed segment whose tail was damaged ends before the
		// next one begins.
		return nil, 0, fmt.Errorf("%w: offset %d lies in the damaged tail of %s", ErrCorrupt, offset, s.store.name)
	}
	return s, offset - s.base, nil
}

// ReadRaw appends to dst the stored msgpack encodings of consecutive records
// from offset on, checksum-verified but not decoded: at most maxRecords of
// them and at most maxBytes of encodings in all, stopping early at the end
// of a segment or before a damaged record. It returns the extended dst and
// how many records it holds; only a damaged record at offset itself gives
// ErrCorrupt.
// When the record at offset alone exceeds maxBytes it returns
// ErrRecordTooLarge and dst unchanged.
func (l *Log) ReadRaw(offset uint64, maxRecords, maxBytes int, dst []byte) ([]byte, int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, k, err := l.locate(offset)
	if err != nil || maxRecords <= 0 {
		return dst, 0, err
	}
	first, end, err := s.bounds(k)
	if err != nil {
		return dst, 0, err
	}
	// A negative limit admits nothing; as uint64 it would admit everything.
	limit := uint64(max(maxBytes, 0))
	if end-first-frame.HeaderSize > limit {
		return dst, 0, fmt.Errorf("%w: record %d takes %d bytes, the limit is %d", ErrRecordTooLarge, offset, end-first-frame.HeaderSize, maxBytes)
	}
	// Walk the index to see how many records fit, then read them with one
	// call.
	m, total := 1, end-first-frame.HeaderSize
	for ; m < maxRecords && k+uint64(m) < s.index.n; m++ {
		start, e, err := s.bounds(k + uint64(m))
		if err != nil || start != end || total+e-start-frame.HeaderSize > limit {
			break
		}
		total += e - start - frame.HeaderSize
		end = e
	}
	base := len(dst)
	dst = slices.Grow(dst, int(end-first))[:base+int(end-first)]
	if err := s.store.readAt(dst[base:], first); err != nil {
		return dst[:base], 0, err
	}
	// Verify every frame and slide the payloads over the headers.
	w, r := base, base
	for j := 0; j < m; j++ {
		start, e, _ := s.bounds(k + uint64(j))
		fr := dst[r : r+int(e-start)]
		payload, err := frame.Check(fr, start)
		if err != nil && j > 0 {
			// Return the intact records before it: the next read
			// starts at the damaged one and gets the error alone.
			return dst[:w], j, nil
		}
		if err != nil {
			return dst[:base], 0, fmt.Errorf("read offset %d: %w", offset+uint64(j), err)
		}
		w += copy(dst[w:], payload)
		r += len(fr)
	}
	return dst[:w], m, nil
}
