package snapshot

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/evlog/evlog/segment"
)

// Version is the format version this package writes, and the newest it
// reads.
const Version = 1

// Sizes of the fixed parts of a stream.
const (
	// HeaderSize is the length of a header.
	HeaderSize = 56
	// FrameHeaderSize is the length and CRC before each record.
	FrameHeaderSize = 8
	// TrailerSize is the length of a trailer.
	TrailerSize = 20
	// MaxRecordBytes is the largest record the format can frame; a
	// Reader's limit (DefaultMaxRecordBytes, or WithMaxRecordBytes) is
	// usually far lower.
	MaxRecordBytes = 1<<32 - 1
)

// DefaultMaxRecordBytes is a Reader's default limit on a record, the
// default size of a whole segment store: a log with default settings holds
// no larger record.
const DefaultMaxRecordBytes = 64 << 20

var (
	headerMagic  = [8]byte{'E', 'V', 'L', 'O', 'G', 'S', 'N', 'P'}
	trailerMagic = [8]byte{'E', 'V', 'L', 'O', 'G', 'E', 'N', 'D'}
	crcTable     = crc32.MakeTable(crc32.Castagnoli)
)

// LogID names the log a snapshot was taken of, the segment log's id;
// the zero LogID means unknown.
type LogID = segment.LogID

// Header describes a snapshot: the log it comes from and its range of
// offsets, [First, Next). Next == First is an empty snapshot.
type Header struct {
	// LogID is the id of the log, or zero when unknown.
	LogID LogID
	// First is the offset of the first record.
	First uint64
	// Next is the offset after the last record.
	Next uint64
}

// Count is the number of records the snapshot holds.
func (h Header) Count() uint64 { return h.Next - h.First }

func (h Header) validate() error {
	if h.Next < h.First {
		return fmt.Errorf("%w: next offset %d is below first offset %d", ErrHeader, h.Next, h.First)
	}
	return nil
}

// appendHeader appends the encoded header to b.
func appendHeader(b []byte, h Header) []byte {
	start := len(b)
	b = append(b, headerMagic[:]...)
	b = binary.BigEndian.AppendUint32(b, Version)
	b = append(b, h.LogID[:]...)
	b = binary.BigEndian.AppendUint64(b, h.First)
	b = binary.BigEndian.AppendUint64(b, h.Next)
	b = binary.BigEndian.AppendUint64(b, h.Count())
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

// parseHeader decodes and checks a header. The checks go in the order that
// names the real problem: a foreign stream by its magic, a newer format by
// its version (whose header may be laid out differently), then damage.
func parseHeader(b *[HeaderSize]byte) (Header, error) {
	if !bytes.Equal(b[:8], headerMagic[:]) {
		return Header{}, &FormatError{Err: ErrNotSnapshot, Detail: fmt.Sprintf("magic %q", b[:8])}
	}
	if v := binary.BigEndian.Uint32(b[8:]); v == 0 || v > Version {
		return Header{}, &FormatError{Err: ErrVersion, Pos: 8, Detail: fmt.Sprintf("version %d, this build reads up to %d", v, Version)}
	}
	if got, want := binary.BigEndian.Uint32(b[52:]), crc32.Checksum(b[:52], crcTable); got != want {
		return Header{}, &FormatError{Err: ErrHeader, Detail: fmt.Sprintf("header crc %#08x, want %#08x", got, want)}
	}
	var h Header
	copy(h.LogID[:], b[12:28])
	h.First = binary.BigEndian.Uint64(b[28:])
	h.Next = binary.BigEndian.Uint64(b[36:])
	if h.Next < h.First {
		return Header{}, &FormatError{Err: ErrHeader, Detail: fmt.Sprintf("next offset %d is below first offset %d", h.Next, h.First)}
	}
	if n := binary.BigEndian.Uint64(b[44:]); n != h.Count() {
		return Header{}, &FormatError{Err: ErrHeader, Detail: fmt.Sprintf("count %d, but offsets [%d, %d) hold %d", n, h.First, h.Next, h.Count())}
	}
	return h, nil
}

// appendTrailer appends the trailer of a stream of count records whose
// bytes so far have the CRC crc.
func appendTrailer(b []byte, count uint64, crc uint32) []byte {
	start := len(b)
	b = append(b, trailerMagic[:]...)
	b = binary.BigEndian.AppendUint64(b, count)
	crc = crc32.Update(crc, crcTable, b[start:])
	return binary.BigEndian.AppendUint32(b, crc)
}
