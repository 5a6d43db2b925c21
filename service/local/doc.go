// Package local is the Log the service serves on one machine: a
// segment.Log on a local disk, with the group commit and the sync policy.
//
// Append writes the records to the segment log at once, unsynced, and
// queues the request for the committer, a goroutine the Log owns. The
// committer takes everything queued, syncs the segment log once when its
// sync mode is segment.SyncAlways, advances the committed offset, and
// delivers one Commit for the contiguous range: many requests share one
// fdatasync. Under SyncInterval and SyncNever the segment log syncs on its
// own schedule, and an append that finds nothing queued is committed by
// the caller of Append itself, sparing a goroutine hand-over.
//
// An append with an id is looked up in the Log's dedup.Table, and one
// with an expected offset checked against the next offset, under the lock
// that assigns offsets, so that neither check races another append. A
// duplicate is queued like any append, behind its original, and delivered
// with the original's offsets once that has committed. The table is
// saved as a checkpoint in the segment log's directory (dedup's
// checkpoint, in the file append-ids) at each roll of a segment, by a
// goroutine of the Log's (saver.go), and at Close; New loads the last one
// and reads the records appended since. When there is none it can use,
// New rebuilds the table from the ids stamped on the records of the log's
// tail (ids.go).
//
// An append that fails after writing part of its records, or a failed
// sync, fails the Log for good (Failed, Err): acknowledging later records
// would expose the unacknowledged ones, or records the kernel dropped.
//
// New syncs the segment log under SyncAlways, so that records a crashed
// predecessor wrote but never synced are durable before anyone reads them.
// Close stops the committer after it has committed what is queued; it does
// not close the segment log, which stays its opener's.
package local
