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
// with big-endian integers and the CRC-32C (Castagnoli) of the record
// bytes. A frame is intact when its length is at least MinPayload, it lies
// wholly inside its store and its CRC matches. Every check returns an error
// wrapping ErrCorrupt that names the frame's position.
package frame
