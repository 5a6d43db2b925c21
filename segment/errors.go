package segment

import (
	"errors"

	"github.com/evlog/evlog/segment/internal/frame"
)

// Errors returned by the log. Match them with errors.Is: the returned
// errors wrap them with the offset or file concerned.
var (
	// ErrOffsetOutOfRange is returned by Read for an offset below the
	// lowest or above the highest record, by TruncateFront for an offset
	// beyond the next one to be written, and by Append when the records
	// would pass the largest offset, 2^64-2.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrCorrupt is returned when stored bytes fail their checks: a CRC
	// mismatch, a frame that runs past its store, or a record that does
	// not decode or carries another offset than the index says. It is
	// the frame format's error, so that a frame the frame package rejects
	// matches it too. A read of a damaged record returns it wrapped in a
	// *DamageError, which names the segment and the record.
	ErrCorrupt = frame.ErrCorrupt
	// ErrRecordTooLarge is returned by Append for a record whose frame
	// cannot fit in an empty segment, and by ReadRaw when the first record
	// alone exceeds the byte limit.
	ErrRecordTooLarge = errors.New("record too large")
	// ErrEmpty is returned by HighestOffset when the log holds no record.
	ErrEmpty = errors.New("log is empty")
	// ErrClosed is returned by every method called after Close or Remove.
	ErrClosed = errors.New("log is closed")
	// ErrFailed wraps every error of a log that a failed sync has failed:
	// after an fdatasync (or a directory sync) that did not complete, what
	// the kernel kept is unknown, so appends and syncs return ErrFailed
	// until the log is closed and opened again, which recovers it from
	// what the disk holds.
	ErrFailed = errors.New("log failed")
	// ErrLocked is returned by NewLog and Check when another process has
	// the log directory open.
	ErrLocked = errors.New("log directory in use")
	// ErrVersion is returned by NewLog and Check for a directory written
	// in a newer format version than this package reads (FormatVersion);
	// the error names both versions.
	ErrVersion = errors.New("unsupported format version")
	// ErrConfig is returned by NewLog for an invalid Config.
	ErrConfig = errors.New("invalid config")
)
