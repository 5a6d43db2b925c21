// Package dedup is the table of recent append ids that makes appends
// idempotent, and the record headers that store an id with its batch.
//
// A log that accepts an append with an id first looks the id up in its
// Table: when the id is there, the append is a duplicate, answered with
// the offsets of the original and appending nothing. Otherwise the log
// stamps the batch with Stamp (the id, and the batch's length when it has
// more than one record, as headers of its first record) and, once it has
// assigned the offsets, adds the id with Add.
//
// The table is a function of the log's contents: every decision depends
// only on the ids stored with the records, their timestamps and the
// timestamp of the append being decided, never on the wall clock at the
// moment of the lookup. So a log rebuilds it after a restart by feeding
// the records of its tail to Observe, and every replica of a replicated
// log that applies the same records in the same order, each append with
// its timestamp, reaches the same decisions. A table saved with
// SaveCheckpoint at a clean stop and loaded with LoadCheckpoint decides as
// the saved one would have, which spares the restart the rebuild.
//
// An id is forgotten once it is older than the window (its record's
// timestamp more than Window before the timestamp of the append being
// decided), or when the table holds MaxIDs newer ones: the oldest id is
// evicted first, or once the log is truncated past its batch's first
// record (ForgetBelow), since a table rebuilt from the log could not know
// it. An append with a forgotten id is a new append, as in JetStream's
// duplicate window. Lookup forgets the ids too old at the timestamp it is
// given; Find only tells, for a log whose lookups may carry timestamps
// that no record stores (a replicated log's entries of duplicates only),
// so that what the table holds depends on the stored records alone.
// The table is not safe for concurrent use:
// its owner, the log, serialises it with the appends.
package dedup
