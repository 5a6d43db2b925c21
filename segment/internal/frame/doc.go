// Package frame is the frame format of a segment store, in one place: how a
// frame is built, how one is validated, and how a store is scanned for its
// intact frames. The segment package writes, reads and recovers stores with
// it, and segment/segmenttest locates and damages frames with it, so that
// the format has a single definition.
//
// A frame is
//
//	+----------------+----------------+----------------------+
//	| length  uint32 | crc32c  uint32 | record (length bytes)|
//	+----------------+----------------+----------------------+
//
// with big-endian integers. The top bit of the length field is the batch
// flag, and the record's length is the 31 bits below it (at most
// MaxPayload): every frame of one append's write except its last carries
// the flag, so that a scan can tell a complete batch from the start of one
// that a crash cut short. The CRC is CRC-32C (Castagnoli) of the record
// bytes; for a flagged frame it is extended over the four bytes of the
// length field as stored, flag included, so that a flag flipped alone is
// caught. Frames without the flag are exactly what format version 1 wrote.
//
// A frame is intact when its length is at least MinPayload, it lies wholly
// inside its store and its CRC matches. Every check returns an error
// wrapping ErrCorrupt that names the frame's position.
package frame
