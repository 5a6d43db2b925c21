// Package snapshot is the snapshot stream: a logical copy of a range of a
// log, the records of offsets [First, Next) with their offsets and
// timestamps, in one versioned byte stream. It is what evlog restore reads,
// what evlog dump and a backup can be built on, and the unit a replica is
// brought up to date with. It is not a copy of a log's files: a snapshot
// of any range of any log, whatever its segment sizes, restores into a log
// that serves the same records at the same offsets.
//
// A Writer turns records into a stream and a Reader checks a stream and
// turns it back into records, both with memory bounded by the largest
// record, never by the snapshot. WriteLog writes a range of a
// *segment.Log, read with ScanLog, which also serves a caller that wants a
// log's records without a stream, such as evlog dump. A server that streams a snapshot to a requester in chunks
// hands WriteLog an io.Writer that sends each chunk it is given (the Writer
// writes through a 64 KiB buffer, so chunks come at most that large); the
// requester feeds the chunks, in order, to a Reader.
//
// # Format (version 1)
//
// Integers are big-endian; every CRC is CRC-32C (Castagnoli). A stream is
// a header, one frame per record, and a trailer, with nothing after it.
//
// The header, 56 bytes:
//
//	+------------------+----------------+------------------------+
//	| magic "EVLOGSNP" | version uint32 | log id (16 bytes)      |
//	+------------------+----------------+------------------------+
//	| first offset uint64 | next offset uint64 | count uint64    |
//	+---------------------+--------------------+-----------------+
//	| header crc32c uint32 (of the 52 bytes before it)           |
//	+------------------------------------------------------------+
//
// The version is read right after the magic, before anything else, so that
// a reader refuses a newer format (ErrVersion) rather than misreading it.
// The log id names the log the records come from (all zero when unknown).
// The snapshot holds the records of offsets [first, next): count is
// next - first, stated again so that a damaged offset shows as an
// inconsistent header.
//
// Then count frames, the frame of a segment store:
//
//	+----------------+----------------+----------------------+
//	| length  uint32 | crc32c  uint32 | record (length bytes)|
//	+----------------+----------------+----------------------+
//
// The CRC is that of the record bytes, which are the msgpack encoding of a
// messages.Record exactly as messages.Record encodes it and the log stores
// it: the bytes segment.Log.ReadRaw returns, offset and timestamp included.
// The i-th frame holds the record of offset first+i; a length is never 0.
//
// The trailer, 20 bytes:
//
//	+------------------+--------------+---------------------------+
//	| magic "EVLOGEND" | count uint64 | stream crc32c uint32      |
//	+------------------+--------------+---------------------------+
//
// The stream CRC covers every byte before it: the header, all frames and
// the trailer's magic and count. A stream without its trailer is
// incomplete, whatever it holds.
//
// # Checks
//
// The Reader refuses, with an error naming the byte position and, for a
// record, its offset: a foreign magic (ErrNotSnapshot), a newer version
// (ErrVersion), a header whose CRC or offsets do not agree (ErrHeader), a
// frame length of 0 or above the reader's limit, refused before anything
// is allocated for it (ErrFrameTooLarge, ErrChecksum for 0), a frame whose
// CRC does not match (ErrChecksum), a record that does not decode
// (ErrRecord), a record at another offset than the next one expected
// (ErrOffset: frames reordered, lost or repeated), a trailer that is
// damaged, disagrees on the count, or has bytes after it (ErrTrailer,
// ErrCount), and a stream that ends early (ErrTruncated). Every one is a
// *FormatError, matched with errors.Is against these sentinels. A Reader
// hands out a record only after its frame and offset checked out, but the
// snapshot as a whole is proven only when Next returns io.EOF: a caller
// that must not act on a damaged snapshot reads it through once first.
//
// # Usage
//
//	w, err := snapshot.NewWriter(f, snapshot.Header{First: 10, Next: 12})
//	err = w.Write(&messages.Record{Offset: 10, Timestamp: ts, Value: v})
//	err = w.Write(&messages.Record{Offset: 11, Timestamp: ts, Value: v})
//	err = w.Close() // writes the trailer
//
//	r, err := snapshot.NewReader(f)
//	for {
//		rec, err := r.Next()
//		if err == io.EOF { break } // the trailer checked out
//		...
//	}
package snapshot
