// Package segment is evlog's storage engine: a durable, append-only log of
// messages.Record values kept in segments in one directory. It knows nothing
// of NATS; the service package puts it on the network.
//
// # Files
//
// A log directory holds one metadata file, evlog.meta, and segments. A
// segment is three files named by the offset of its first record (its base
// offset), zero-padded to 20 digits so that a plain ls lists them in order:
//
//	evlog.meta                      format version, log id, low-water mark
//	00000000000000000000.store      the records
//	00000000000000000000.index      offset -> position in the store
//	00000000000000000000.timeindex  timestamp -> offset, sparse (sealed only)
//	00000000000000001024.store      the next segment, from offset 1024
//	00000000000000001024.index
//
// Only the newest segment, the active one, is appended to. It is full when
// its store reaches Config.Segment.MaxStoreBytes (a record that does not
// fit goes to a new segment; stores never exceed the limit) or its index
// reaches MaxIndexBytes. The log then seals it (syncs it and cuts its index
// to size) and rolls to a new segment whose base is the next offset.
// TruncateFront raises the low-water mark and deletes the segments wholly
// below it. ApplyRetention does the same for a RetentionPolicy (a byte
// limit, an age limit): it deletes the oldest whole sealed segments the
// policy lets go, never the active one, by raising the mark to the base of
// the first segment it keeps. Config.OnRoll and Config.OnRemove let the
// owner apply a policy when a segment rolls and hear of every removal.
//
// # Metadata file and versions
//
// evlog.meta is 40 bytes, big-endian (FormatVersion 2):
//
//	+----------------+----------------+--------------+------------------+----------------+
//	| magic 8 bytes  | version uint32 | log id 16 B  | low-water uint64 | crc32c uint32  |
//	| "EVLOGMD\n"    |                |              |                  |                |
//	+----------------+----------------+--------------+------------------+----------------+
//
// The CRC is CRC-32C of the 36 bytes before it. Every future version keeps
// the magic and version first and such a CRC last, so that a newer file is
// told from a damaged one: a newer version is refused with ErrVersion, a
// damaged file with ErrCorrupt naming it, and neither is ever rewritten,
// since the log id (random, fixed when the directory is created, Log.ID)
// and the low-water mark cannot be recovered from the segments. The file is
// replaced atomically: a temporary file is written and synced, renamed over
// it, and the directory synced.
//
// The low-water mark is LowestOffset: every record below it reads as
// ErrOffsetOutOfRange, through Read, ReadRaw, ReadRawBatch and Reader, even
// while its segment still exists. TruncateFront syncs the active store and
// writes the new mark before it deletes any segment and before it returns,
// so the mark never passes the durable end of the log and survives a
// restart; a segment that a crash left wholly below the mark is deleted by
// the next TruncateFront. A mark beyond the log's next offset at open means
// records are missing, and NewLog refuses with ErrCorrupt.
//
// Version 1 is a directory with segments and no metadata file, whose
// frames carry no batch flags. NewLog upgrades it in place: it writes the
// metadata file, with a new log id and the first segment's base as the
// mark, and rewrites no segment, since a version 1 store reads as batches
// of one record. An empty or new directory is created at FormatVersion.
//
// # Store
//
// A store is a sequence of frames, one per record, with no file header
// (the format is defined once, in segment/internal/frame):
//
//	+---+---------------+----------------+----------------------+
//	| M | length 31 bit | crc32c  uint32 | record (length bytes)|
//	+---+---------------+----------------+----------------------+
//
// Integers are big-endian. The record bytes are the msgpack encoding of a
// messages.Record, including its offset, so that a read can tell a
// misplaced record from the right one. A frame's length is never 0 and at
// most 2^31-1.
//
// M, the top bit of the length field, is the batch flag: every frame of a
// batch (the records of one append, written with one write) except its
// last carries it. The CRC is CRC-32C (Castagnoli) of the record bytes; for
// a flagged frame it continues over the four bytes of the length field as
// stored, so that a flipped flag fails the check, while an unflagged
// frame's CRC is that of its record alone, exactly as version 1 wrote every
// frame. A batch never spans segments: one that does not fit in an empty
// segment is written as one batch per segment, so a sealed segment never
// ends inside a batch.
//
// The active store is preallocated: its file is grown to MaxStoreBytes,
// its blocks allocated at once (fallocate), and mapped for writing, so
// that an append or batch is one copy into the kernel's page cache rather
// than a write call. The bytes are in the kernel when Append returns, as
// with a write call, so an acknowledged record survives the death of the
// process and the sync modes promise what they did. The bytes after the
// last frame are zeros: free space. Sealing and closing cut the file back
// to its last frame; an active store found with zeros at its end (after a
// crash) has them taken for free space, not for a torn tail or damage: recovery
// cuts them without reporting bytes cut, and Check notes them. The
// frames' zero length makes the first free byte end the scan, as a torn
// frame does. Where the blocks cannot be allocated ahead (a file system
// without fallocate, a disk too full for a whole store, a store larger
// than 1 GiB), the store is written with one write call per append or
// batch instead, which reports a full disk as an error: a write through
// a mapping to an unallocated block of a full file system would kill the
// process with SIGBUS.
//
// Stores are read through a memory mapping, so that a read costs a copy
// rather than a system call. A page that cannot be read or written (a
// failing disk, or a file cut from outside) turns into an error, not a
// crash.
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
// SIGBUS; the store is preallocated for the same reason.
//
// # Time index
//
// A time index is a sparse array of 12-byte entries, then a 12-byte
// trailer:
//
//	+----------------------+----------------------+     +-----------------+----------------+
//	| rel. offset  uint32  | timestamp  int64     | ... | records  uint64 | crc32c uint32  |
//	+----------------------+----------------------+     +-----------------+----------------+
//
// There is an entry for the segment's first intact record, then for the
// first intact record at least 64 records or 64 KiB of store after the last
// entry's; records counts the segment's records when the file was written,
// and the CRC-32C covers everything before it. OffsetAtTime binary-searches
// the segments and their entries, then decodes at most 64 records.
//
// Append gives a record without a timestamp Config.Now, or the newest
// record's timestamp if that is later: when the clock steps back, timestamps
// stand still rather than decrease, so that the search is exact. (After a
// restart the newest record is read to know where they stand; a log
// truncated to empty forgets it.) A timestamp the caller sets is kept as it
// is, and a log that mixes decreasing ones with assigned ones finds records
// by time only approximately.
//
// The index is kept in memory. Its file is written (temporary file,
// synced, renamed) for the segments sealed since the log was opened at
// Close, before the active index is cut (so that on a nearly full disk
// neither a roll nor the next open loses the room an index needs), and
// trusted at NewLog when
// its CRC holds and it covers exactly the segment's records, so that a
// clean reopen still reads one frame a sealed segment. Any other file,
// damaged or missing, is rebuilt from the store and the offset index,
// decoding only the records that get an entry; the rule depends on the
// store alone, so the rebuilt file is the one the log wrote. The active
// segment has no file: its index is rebuilt at every open (a decode per 64
// records), so that a crash leaves nothing stale; neither does it for a
// segment sealed after the last Close, which the next open rebuilds and
// writes. The file holds nothing the store does
// not, so failing to write it is logged, not an error: the next open
// rebuilds it. A directory of
// version 1, or of version 2 written before time indexes, gets them this
// way at its first open: they are part of format version 2 and change
// nothing else. Check compares every entry with its record: a wrong file is
// damage that Repair rebuilds, a missing one in a sealed segment a note.
//
// # Recovery
//
// The index is never synced for durability: the store is the truth. On
// NewLog, an index that is cut to its entries and whose last entry points at
// an intact frame ending exactly at the end of the store is trusted, so a
// clean reopen reads one frame per segment. Any other index (preallocated
// after a crash, missing, or garbage) is rebuilt by scanning its store.
// The scan stops at the first frame that is torn, has a zero length, runs
// past the end of the file or fails its CRC, and keeps only complete
// batches: the intact frames of a batch whose last frame is missing, which
// a crash in the middle of its write leaves, go with the torn frame. In the
// active segment the store is cut after the last complete batch, since
// nothing after it was ever acknowledged, unless the index as found points
// at intact records after that point: then the damage is not a torn tail
// and NewLog refuses to open with ErrCorrupt rather than delete them
// (index entries of the incomplete batch's own records do not count: its
// write may have returned). A refusal changes no file of the refused
// segment (the sealed segments before it may have had their indexes
// rebuilt), so every later open refuses too, until the segment is
// restored or moved aside. Zeros at the end of the active store count as
// free space only after the last intact frame the scan or such an index
// entry finds, since a record may end in zero bytes; at the end of a
// sealed store, which was cut to its last frame and synced before the next
// segment was created, they are damage. Check
// judges segments with the same rules (diagnose.go), so it reports what
// NewLog would do: an incomplete batch at the end of the active segment is
// a torn tail, anywhere else damage. A damaged tail of a sealed segment,
// an incomplete batch included, is left in place and its records read as
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
//	timeread.go   OffsetAtTime, the lookup of a record by time
//	damage.go     DamageError, and reporting each damaged record once to Config.OnDamage
//	reader.go     Reader, the raw bytes of every store
//	truncate.go   TruncateFront (and the place for a future TruncateBack)
//	retention.go  RetentionPolicy and ApplyRetention, deleting old sealed segments
//	meta.go       the metadata file: version, log id, low-water mark
//	close.go      Close, Remove and Reset
//
// One segment and its files:
//
//	segment.go    a store and its index: naming, bounds of a record, close, remove
//	store.go      the store file: preallocated mapped writes, mapped reads, free space, sync
//	index.go      the memory-mapped index file
//	timeindex.go  the time index: its rule, file, loading and rebuilding
//	diagnose.go   judging an index against its store, for recovery and Check alike
//	recover.go    recovery at open: trust, rebuild or cut, reported as Recovery
//	check.go      Check, the offline verification and repair of a directory
//	timecheck.go  Check's judgement of a time index
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
