package segment

import "io"

// Reader returns a reader of the raw bytes of every store, oldest first, as
// they are at the time of the call: the frames described in the package
// documentation, from the frame of the record at the low-water mark on, so
// that records TruncateFront removed are not among them although their
// segment remains. It fails if the log is truncated or closed while it
// reads.
func (l *Log) Reader() io.Reader {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errReader{ErrClosed}
	}
	readers := make([]io.Reader, len(l.segments))
	for i, s := range l.segments {
		var from uint64
		if i == 0 {
			from = s.position(l.meta.low)
		}
		readers[i] = io.NewSectionReader(s.store.file, int64(from), int64(s.store.size-from))
	}
	return io.MultiReader(readers...)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// position is where the frame of the record at offset starts in s's store,
// for an offset at or above s's base: the end of the store for an offset
// past its indexed records.
func (s *segment) position(offset uint64) uint64 {
	if k := offset - s.base; k < s.index.n {
		_, pos := s.index.entry(k)
		return min(pos, s.store.size)
	}
	return s.store.size
}
