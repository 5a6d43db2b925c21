package logapi

import (
	"errors"
	"time"

	"github.com/evlog/evlog/messages"
)

// Append is one append request on its way through a log. The caller fills
// in Records and Token; the log sets First and Last, the offsets of the
// first and last record, before it delivers the Append in a Commit.
type Append struct {
	Records     []*messages.Record
	First, Last uint64
	// Token is the caller's: the log hands it back untouched.
	Token any
}

// Commit is a range of records that committed, or a group of appends the
// log gave up.
type Commit struct {
	// First and Last bound the committed range. They are unset when Err
	// is.
	First, Last uint64
	// Appends are the accepted appends the commit completes, in offset
	// order; they cover part or all of First to Last, or none of it when
	// the records were appended elsewhere. The receiver may keep the
	// slice only until it returns.
	Appends []*Append
	// Err, when set, says why Appends will never commit; it wraps
	// ErrLogFailed or ErrUnavailable.
	Err error
	// Synced says the log synced its storage for this commit, and
	// SyncDuration how long that took; a failed sync is reported too.
	Synced       bool
	SyncDuration time.Duration
}

// CommitFunc receives a log's commits, one at a time, in offset order.
type CommitFunc func(Commit)

// Stats describes a log's storage.
type Stats struct {
	// Segments is the number of segments, the active one included.
	Segments int
	// Bytes is the size of the stored records.
	Bytes uint64
	// LowestOffset is the offset of the oldest record kept.
	LowestOffset uint64
	// NextOffset is the offset the next appended record gets, committed
	// or not.
	NextOffset uint64
}

// Errors a log wraps, each answered with its wire code. Their texts are
// the codes' texts (messages.CodeText), so that a description built from
// a wrapped error starts with the code's text.
var (
	// ErrBadRequest: a request that does not decode or breaks a rule of
	// the protocol (400).
	ErrBadRequest = errors.New(messages.CodeText(messages.CodeBadRequest))
	// ErrOffsetOutOfRange: an offset outside the log (404).
	ErrOffsetOutOfRange = errors.New(messages.CodeText(messages.CodeOffsetOutOfRange))
	// ErrTooLarge: a request, a record or a record to be read beyond a
	// size limit (413).
	ErrTooLarge = errors.New(messages.CodeText(messages.CodeTooLarge))
	// ErrUnavailable: work that cannot be done now and may be retried,
	// such as on a closed or stopping log or with too much waiting (503).
	ErrUnavailable = errors.New(messages.CodeText(messages.CodeUnavailable))
	// ErrLogFailed: the log has failed for good, after a failed sync or a
	// write that left part of an append behind; nothing more may be
	// acknowledged (500).
	ErrLogFailed = errors.New("log failed")
	// ErrSyncFailed is wrapped, with ErrLogFailed, when the failure was a
	// sync: the kernel may have dropped the pages it could not write.
	ErrSyncFailed = errors.New("log sync failed")
)
