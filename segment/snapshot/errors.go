package snapshot

import (
	"errors"
	"fmt"
)

// Errors of a snapshot stream. Every error a Reader returns for a stream
// that is not a valid snapshot is a *FormatError wrapping one of them, and
// the Writer returns ErrOffset, ErrCount and ErrFrameTooLarge for records
// that would make an invalid one. Match them with errors.Is.
var (
	// ErrNotSnapshot is returned when a stream does not start with the
	// snapshot magic.
	ErrNotSnapshot = errors.New("not a snapshot")
	// ErrVersion is returned for a format version this build does not
	// read: a newer one, or 0.
	ErrVersion = errors.New("unknown snapshot version")
	// ErrHeader is returned for a header whose CRC fails or whose offsets
	// and count disagree, and by NewWriter for such a Header.
	ErrHeader = errors.New("bad snapshot header")
	// ErrTruncated is returned when a stream ends before its trailer does.
	ErrTruncated = errors.New("snapshot truncated")
	// ErrFrameTooLarge is returned for a frame that declares a record
	// larger than the reader's limit, before anything is allocated for
	// it, and by the Writer for a record the format cannot frame.
	ErrFrameTooLarge = errors.New("snapshot frame too large")
	// ErrChecksum is returned for a frame whose CRC does not match its
	// record, or whose length is 0.
	ErrChecksum = errors.New("snapshot frame checksum mismatch")
	// ErrRecord is returned for a frame whose CRC matches but whose bytes
	// are not a record.
	ErrRecord = errors.New("snapshot record does not decode")
	// ErrOffset is returned for a record that is not at the next offset of
	// the range: frames reordered, lost or repeated.
	ErrOffset = errors.New("snapshot record out of order")
	// ErrCount is returned when the trailer's record count differs from
	// the header's, and by Writer.Close when fewer records were written
	// than the Header announced, or by Write for one too many.
	ErrCount = errors.New("snapshot record count mismatch")
	// ErrTrailer is returned for a trailer whose magic or stream CRC is
	// wrong, or that is followed by more bytes.
	ErrTrailer = errors.New("bad snapshot trailer")
)

// FormatError is the error a Reader returns for a stream that is not a
// valid snapshot: what is wrong (Err, a sentinel of this package) and
// where, as the byte position in the stream and, for a record, its offset.
type FormatError struct {
	// Err is the sentinel naming the problem, such as ErrChecksum.
	Err error
	// Pos is the byte position in the stream where the problem was found:
	// the start of the header, frame or trailer at fault.
	Pos int64
	// Offset is the offset of the record concerned, when HasOffset.
	Offset    uint64
	HasOffset bool
	// Detail says more, such as the two values that disagree.
	Detail string
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("%v at byte %d", e.Err, e.Pos)
	if e.HasOffset {
		s += fmt.Sprintf(" (offset %d)", e.Offset)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns Err, so that errors.Is matches the sentinel.
func (e *FormatError) Unwrap() error { return e.Err }
