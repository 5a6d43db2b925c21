package service

import (
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service/logapi"
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
// # Reads
//
// Readers see records below CommittedOffset only. CommitChanged returns a
// channel that is closed when the committed offset next moves, for reads
// that wait for records: take the channel, then read the offset, then
// wait on the channel. ReadRaw, TruncateFront, Stats and Recovered may be
// called from any goroutine at any time, concurrently with each other and
// with appends.
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
	// ReadRaw appends to dst the stored bytes of up to maxRecords
	// committed records from offset, at most maxBytes of them unless the
	// first alone is larger (ErrTooLarge), in the layout of
	// segment.Log.ReadRaw, each checked against its CRC. It returns the
	// bytes and the number of records.
	ReadRaw(offset uint64, maxRecords, maxBytes int, dst []byte) ([]byte, int, error)
	// TruncateFront deletes records below lowest, in whole segments, and
	// returns the lowest offset left.
	TruncateFront(lowest uint64) (uint64, error)
	// Stats describes the log's storage.
	Stats() LogStats
	// Recovered reports what opening the log's storage repaired.
	Recovered() []segment.Recovery
	// Failed is closed once the log has failed; Err then says why.
	Failed() <-chan struct{}
	// Err returns the failure that closed Failed, or nil.
	Err() error
}

// The vocabulary of Log, defined in package logapi so that an
// implementation need not import this package.
type (
	// Append is one append request on its way through a Log; see
	// logapi.Append.
	Append = logapi.Append
	// Commit is a committed range, or appends given up; see
	// logapi.Commit.
	Commit = logapi.Commit
	// CommitFunc receives a Log's commits.
	CommitFunc = logapi.CommitFunc
	// LogStats describes a Log's storage; see logapi.Stats.
	LogStats = logapi.Stats
)
