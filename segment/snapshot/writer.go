package snapshot

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/evlog/evlog/messages"
)

// writeBufferSize is the Writer's buffer, and so the largest write it
// makes to its io.Writer (but for a record larger than it).
const writeBufferSize = 64 << 10

// Writer writes a snapshot stream: the header at NewWriter, one frame per
// record, the trailer at Close. Records must come in offset order, from
// Header.First to Header.Next exclusive, and each is checked against the
// offset expected, so that a Writer cannot produce a stream a Reader would
// refuse. The first error is sticky. A Writer is not safe for concurrent
// use, and it never closes the io.Writer.
type Writer struct {
	bw     *bufio.Writer
	h      Header
	next   uint64 // offset of the next record to write
	crc    uint32 // of every byte written so far
	n      int64  // bytes written so far
	enc    *messages.Encoder
	rec    messages.Record // scratch for decoding a raw record's offset
	buf    []byte
	err    error
	closed bool
}

// NewWriter writes the header of a snapshot of h's range to w and returns
// a Writer for its records.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	sw := &Writer{bw: bufio.NewWriterSize(w, writeBufferSize), h: h, next: h.First}
	sw.buf = appendHeader(sw.buf[:0], h)
	if err := sw.put(sw.buf); err != nil {
		return nil, err
	}
	return sw, nil
}

// Header returns the header the Writer was made with.
func (w *Writer) Header() Header { return w.h }

// Written returns how many bytes of the stream the Writer has produced,
// including any still in its buffer.
func (w *Writer) Written() int64 { return w.n }

// Write writes r, which must carry the next offset of the range.
func (w *Writer) Write(r *messages.Record) error {
	if err := w.expect(r.Offset); err != nil {
		return err
	}
	if w.enc == nil {
		w.enc = messages.NewEncoder()
	}
	b, err := w.enc.EncodeRecord(r)
	if err != nil {
		return fmt.Errorf("snapshot: record %d: %w", r.Offset, err)
	}
	return w.frame(b, r.Offset)
}

// WriteRaw writes one record given as its msgpack encoding, the bytes
// segment.Log.ReadRaw returns for it. The record is decoded to check that
// it is one and that it carries the next offset of the range; the bytes
// are written as they are.
func (w *Writer) WriteRaw(record []byte) error {
	if err := messages.UnmarshalRecord(record, &w.rec); err != nil {
		return fmt.Errorf("snapshot: record at offset %d: %w", w.next, err)
	}
	off := w.rec.Offset
	w.rec = messages.Record{}
	if err := w.expect(off); err != nil {
		return err
	}
	return w.frame(record, off)
}

// expect checks that a record of offset off may be written next.
func (w *Writer) expect(off uint64) error {
	switch {
	case w.err != nil:
		return w.err
	case w.closed:
		return fmt.Errorf("snapshot: write after close")
	case w.next == w.h.Next:
		return fmt.Errorf("%w: record %d is past the range [%d, %d)", ErrCount, off, w.h.First, w.h.Next)
	case off != w.next:
		return fmt.Errorf("%w: record %d, want %d", ErrOffset, off, w.next)
	}
	return nil
}

// frame writes the frame of record, the encoding of the record of offset
// off, which expect has admitted.
func (w *Writer) frame(record []byte, off uint64) error {
	if len(record) == 0 || uint64(len(record)) > MaxRecordBytes {
		return fmt.Errorf("%w: record %d takes %d bytes, the format frames 1 to %d", ErrFrameTooLarge, off, len(record), uint64(MaxRecordBytes))
	}
	var hdr [FrameHeaderSize]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(record)))
	binary.BigEndian.PutUint32(hdr[4:], crc32.Checksum(record, crcTable))
	if err := w.put(hdr[:]); err != nil {
		return err
	}
	if err := w.put(record); err != nil {
		return err
	}
	w.next++
	return nil
}

// put writes b to the stream and into its CRC.
func (w *Writer) put(b []byte) error {
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("snapshot: write: %w", err)
		return w.err
	}
	w.crc = crc32.Update(w.crc, crcTable, b)
	w.n += int64(len(b))
	return nil
}

// Close writes the trailer and flushes the stream, once every record of
// the range has been written; otherwise it writes no trailer, so that what
// was written reads as truncated, and returns ErrCount. Calling it again
// returns the same error.
func (w *Writer) Close() error {
	if w.closed || w.err != nil {
		return w.err
	}
	w.closed = true
	if w.next != w.h.Next {
		w.err = fmt.Errorf("%w: wrote %d of the %d records of [%d, %d)", ErrCount, w.next-w.h.First, w.h.Count(), w.h.First, w.h.Next)
		return w.err
	}
	w.buf = appendTrailer(w.buf[:0], w.h.Count(), w.crc)
	if err := w.put(w.buf); err != nil {
		return err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = fmt.Errorf("snapshot: write: %w", err)
	}
	return w.err
}
