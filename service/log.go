package service

import (
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// Log is what the service serves: a sequence of records that grows by
// appends and becomes visible to readers as it commits. The service is its
// only caller; package service/local implements it on one segment.Log, and
// a replicated implementation can stand behind the same methods.
//
// # Appends and commits
//
// The service calls Attach once, before its first Append, with the function
// that receives commits, and Detach once when it stops. Append hands the
// log one append request's records. When Append returns an error the
// request was not accepted and the log never mentions it again. When it
// returns nil the request is accepted and the log delivers it to the
// CommitFunc exactly once, in a Commit that either commits it (Err nil) or
// gives it up (Err set). Append never waits for the disk or for peers, but a
// Commit may be delivered before Append returns, from the caller's
// goroutine.
//
// Commits are delivered one at a time, never concurrently, in offset order:
// each committed range starts at the offset after the previous one, and by
// the time a Commit is delivered CommittedOffset already includes it. A
// range may complete none of this process's appends (a replica that applies
// what another node appended) or several of them (a group commit, sharing
// one sync). The service calls Append from one goroutine at a time, so
// accepted appends commit in the order they were accepted.
//
// Detach returns once every accepted append has been delivered, and no
// Commit is delivered after it returns.
//
// # Idempotent and conditional appends
//
// An Append with an ID whose records the log holds from an append within
// its deduplication window is a duplicate: the log appends nothing, sets
// First and Last to the original's and Duplicate, and delivers it like
// any other accepted append, never before the original has committed, in
// a Commit that lists it after any new records' appends (its offsets are
// then below the range) or, when it holds nothing else, in an Empty one.
// An Append with an ExpectedOffset that is not the log's next offset at
// the moment the log would assign its offsets is refused with a
// *ConflictError; a duplicate is a duplicate before that check. The
// decision must follow from the log's contents alone (the stored ids and
// the records' timestamps), so that every replica of a replicated log and
// a log reopened after a crash decide alike.
//
// # Reads
//
// Readers see records below CommittedOffset only. CommitChanged returns a
// channel that is closed when the committed offset next moves, for reads
// that wait for records: take the channel, then read the offset, then
// wait on the channel. ReadRawBatch, OffsetAtTime, TruncateFront, Stats,
// Recovered and ID may be called from any goroutine at any time,
// concurrently with each other and with appends.
//
// # Errors
//
// The log wraps the service's sentinels so that the service can map its
// errors to wire codes: ErrTooLarge for a record or batch it cannot hold or
// a record larger than a read's byte limit, ErrOffsetOutOfRange for an
// offset outside the log, ErrUnavailable when it cannot take work now
// (closed, no leader) and the request may be retried, ErrLogFailed once it
// has failed. Any other error means the outcome is unknown.
//
// # Failure
//
// A log that can no longer guarantee what it acknowledges (a failed sync, a
// partial write) fails for good: Failed is closed, Err returns the reason,
// wrapping ErrLogFailed, and every later Append returns it.
type Log interface {
	// Attach makes fn the receiver of every Commit. It is called once,
	// before the first Append.
	Attach(fn CommitFunc) error
	// Detach waits until every accepted append has been delivered, then
	// stops delivering commits.
	Detach()
	// Append accepts a's records, or returns why not. It sets a.First and
	// a.Last before delivering a, and leaves a.Token alone.
	Append(a *Append) error
	// CommittedOffset is the offset after the last committed record.
	CommittedOffset() uint64
	// CommitChanged returns a channel closed once CommittedOffset has
	// moved past the value it had when CommitChanged was called.
	CommitChanged() <-chan struct{}
	// ReadRawBatch appends to dst the stored bytes of up to maxRecords
	// committed records from offset, at most maxBytes of them unless the
	// first alone is larger (ErrTooLarge), in the layout of
	// segment.Log.ReadRawBatch, each checked against its CRC. A batch
	// that ends early because the record after it is damaged says so in
	// its Damage; a damaged record at offset itself is an error that
	// wraps a *segment.DamageError.
	ReadRawBatch(offset uint64, maxRecords, maxBytes int, dst []byte) (segment.RawBatch, error)
	// OffsetAtTime returns the offset of the first committed record whose
	// timestamp (unix nanoseconds) is at or after ts: the lowest offset
	// when ts is at or before the oldest record's, CommittedOffset when
	// every committed record is older. Timestamps do not decrease in
	// offset order, so a read from there returns records from ts on.
	OffsetAtTime(ts int64) (uint64, error)
	// TruncateFront makes records below lowest unreadable at once and for
	// good (whole segments below it are deleted), and returns the lowest
	// offset left: lowest, or the current one if that is higher.
	TruncateFront(lowest uint64) (uint64, error)
	// Stats describes the log's storage.
	Stats() LogStats
	// Recovered reports what opening the log's storage repaired.
	Recovered() []segment.Recovery
	// ID names the log, for the header of its snapshots; the zero id
	// means unknown.
	ID() [16]byte
	// Failed is closed once the log has failed; Err then says why.
	Failed() <-chan struct{}
	// Err returns the failure that closed Failed, or nil.
	Err() error
}

// Append is one append request on its way through a log. The caller fills
// in Records, ID, ExpectedOffset and Token; the log sets First and Last,
// the offsets of the first and last record, and Duplicate, before it
// delivers the Append in a Commit.
type Append struct {
	Records []*messages.Record
	// ID, when not empty, makes the append idempotent; ExpectedOffset,
	// when not nil, makes it conditional. See the Log's contract.
	ID             string
	ExpectedOffset *uint64
	First, Last    uint64
	// Duplicate says the append repeated the ID of one the log holds,
	// whose offsets First and Last are: nothing was appended.
	Duplicate bool
	// Token is the caller's: the log hands it back untouched.
	Token any
}

// Commit is a range of records that committed, or a group of appends the
// log gave up.
type Commit struct {
	// First and Last bound the committed range. They are unset when Err
	// or Empty is.
	First, Last uint64
	// Empty says the commit completes duplicates only: no records
	// committed, and CommittedOffset has not moved.
	Empty bool
	// Appends are the accepted appends the commit completes, in offset
	// order; they cover part or all of First to Last, or none of it when
	// the records were appended elsewhere. The receiver may keep the
	// slice only until it returns.
	Appends []*Append
	// Err, when set, says why Appends will never commit; it wraps
	// ErrLogFailed or ErrUnavailable, or, from a log that decides an
	// append only as it commits (a replicated one), is that append's
	// *ConflictError or wraps ErrTooLarge.
	Err error
	// Synced says the log synced its storage for this commit, and
	// SyncDuration how long that took; a failed sync is reported too.
	Synced       bool
	SyncDuration time.Duration
}

// CommitFunc receives a Log's commits, one at a time, in offset order.
// It may call the Log's CommittedOffset and ReadRawBatch: the service
// answers reads parked at the old end from it, so a Log delivers without
// holding a lock that those take.
type CommitFunc func(Commit)

// LogStats describes a Log's storage.
type LogStats struct {
	// Segments is the number of segments, the active one included.
	Segments int
	// Bytes is the size of the stored records.
	Bytes uint64
	// LowestOffset is the offset of the oldest record kept.
	LowestOffset uint64
	// NextOffset is the offset the next appended record gets, committed
	// or not.
	NextOffset uint64
	// DedupIDs is how many append ids the log remembers.
	DedupIDs int
}
