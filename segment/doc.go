// Package segment is evlog's storage engine: a durable, append-only log of
// messages.Record values kept in segments in one directory. It knows nothing
// of NATS; the service package puts it on the network.
//
// # Files
//
// A segment is two files named by the offset of its first record (its base
// offset), zero-padded to 20 digits so that a plain ls lists them in order:
//
//	00000000000000000000.store   the records
//	00000000000000000000.index   offset -> position in the store
//	00000000000000001024.store   the next segment, from offset 1024
//	00000000000000001024.index
//
// Only the newest segment, the active one, is appended to. It is full when
// its store reaches Config.Segment.MaxStoreBytes (a record that does not
// fit goes to a new segment; stores never exceed the limit) or its index
// reaches MaxIndexBytes. The log then seals it (syncs it and cuts its index
// to size) and rolls to a new segment whose base is the next offset.
// TruncateFront deletes whole segments from the front.
//
// # Store
//
// A store is a sequence of frames, one per record, with no file header
// (the format is defined once, in segment/internal/frame):
//
//	+----------------+----------------+----------------------+
//	| length  uint32 | crc32c  uint32 | record (length bytes)|
//	+----------------+----------------+----------------------+
//
// Integers are big-endian. The CRC is CRC-32C (Castagnoli) of the record
// bytes, which are the msgpack encoding of a messages.Record, including its
// offset, so that a read can tell a misplaced record from the right one.
// A frame's length is never 0.
//
// Stores are written with one write call per append or batch, so that an
// acknowledged record is in the kernel even if the process dies, and read
// through a read-only memory mapping, so that a read costs a copy rather
// than a system call. A page that cannot be read (a failing disk, or a
// file cut from outside) turns into an error, not a crash.
//
// # Index
//
// An index is an array of 12-byte entries, entry i for the record at base+i:
//
//	+----------------------+----------------------+
//	| rel. offset  uint32  | store position uint64|
//	+----------------------+----------------------+
//
// The active segment's index file is grown to MaxIndexBytes and mapped into
// memory (gommap), so appending an entry is a memory write; sealing or
// closing cuts the file to the entries in use. On Linux the grown file's
// blocks are allocated at once (fallocate): a write through the mapping to
// an unallocated block of a full file system would kill the process with
// SIGBUS, where the store's write reports the full disk as an error.
//
// # Recovery
//
// The index is never synced for durability: the store is the truth. On
// NewLog, an index that is cut to its entries and whose last entry points at
// an intact frame ending exactly at the end of the store is trusted, so a
// clean reopen reads one frame per segment. Any other index (preallocated
// after a crash, missing, or garbage) is rebuilt by scanning its store.
// The scan stops at the first frame that is torn, has a zero length, runs
// past the end of the file or fails its CRC; in the active segment the
// store is cut there, since nothing after it was ever acknowledged as
// durable, unless the index as found points at intact records after that
// point: then the damage is not a torn tail and NewLog refuses to open
// with ErrCorrupt rather than delete them. Check judges segments with the
// same rules (diagnose.go), so it reports what NewLog would do. A damaged
// tail of a sealed segment is left in place and its records read as
// ErrCorrupt. Log.Recovered reports what recovery did.
//
// Reads check every frame's length against the store and its CRC before
// decoding, and decoding bounds every msgpack length by the bytes present,
// so damaged bytes are never returned as data and never cause a large
// allocation. A read that finds a record damaged says where: its error is
// a *DamageError naming the segment and the offset, a raw batch that ends
// before a damaged record names it in RawBatch.Damage, and Config.OnDamage
// hears of each damaged record once, so that a server can log and count
// damage it serves around.
//
// # Durability
//
// Config.Sync.Mode chooses what an acknowledged append survives:
//
//   - SyncAlways (default): Append returns after fdatasync; nothing
//     acknowledged is lost even on power loss. Concurrent appenders share
//     one fdatasync (group commit).
//   - SyncInterval: a background sync every Config.Sync.Interval. Appends
//     are written to the kernel before Append returns, so a crash of the
//     process loses nothing; a power loss may lose the last interval.
//   - SyncNever: syncing is left to the kernel (and Close). A power loss may
//     lose any recent append.
//
// In every mode the directory is synced when segment files are created or
// removed, and segments are synced when they are sealed.
//
// # Source files
//
// The Log and its operations, one job a file:
//
//	log.go        the Log type, its fields and small accessors (offsets, Stats, Dir)
//	open.go       NewLog: lock the directory, list the segments, recover each one
//	append.go     Append, AppendBatch, AppendUnsynced; rolling and sealing segments
//	sync.go       Sync with group commit, the interval syncer, the sticky failure
//	read.go       Read, ReadRaw and ReadRawBatch
//	damage.go     DamageError, and reporting each damaged record once to Config.OnDamage
//	reader.go     Reader, the raw bytes of every store
//	truncate.go   TruncateFront (and the place for a future TruncateBack)
//	close.go      Close, Remove and Reset
//
// One segment and its files:
//
//	segment.go    a store and its index: naming, bounds of a record, close, remove
//	store.go      the store file: writes, mapped reads, sync
//	index.go      the memory-mapped index file
//	diagnose.go   judging an index against its store, for recovery and Check alike
//	recover.go    recovery at open: trust, rebuild or cut, reported as Recovery
//	check.go      Check, the offline verification and repair of a directory
//
// Around them: config.go (Config and sync modes), errors.go (the sentinel
// errors), dir.go (directory sync), lock_*.go (the directory lock),
// alloc_*.go and sync_*.go (fallocate and fdatasync per platform).
// segment/internal/frame holds the frame format; segment/segmenttest is
// support for tests that work on a log's files from outside.
//
// # Usage
//
//	l, err := segment.NewLog("data", segment.Config{})
//	if err != nil { ... }
//	defer l.Close()
//	off, err := l.Append(&messages.Record{Value: []byte("hello")})
//	rec, err := l.Read(off)
package segment
