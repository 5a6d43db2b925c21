package segment

import "io"

// Reader returns a reader of the raw bytes of every store, oldest first, as
// they are at the time of the call: the frames described in the package
// documentation. It fails if the log is truncated or closed while it reads.
func (l *Log) Reader() io.Reader {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return errReader{ErrClosed}
	}
	readers := make([]io.Reader, len(l.segments))
	for i, s := range l.segments {
		readers[i] = io.NewSectionReader(s.store.file, 0, int64(s.store.size))
	}
	return io.MultiReader(readers...)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
