package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/evlog/evlog/messages"
)

// readBufferSize is the Reader's read buffer.
const readBufferSize = 64 << 10

// Reader reads and checks a snapshot stream, one record at a time, holding
// no more than one record in memory. It is not safe for concurrent use.
type Reader struct {
	br       *bufio.Reader
	h        Header
	maxBytes int
	pos      int64  // bytes consumed
	next     uint64 // offset of the next record
	crc      uint32 // of every byte consumed
	buf      []byte
	err      error // sticky; io.EOF once the trailer checked out
}

// ReaderOption is an optional setting of NewReader.
type ReaderOption func(*Reader)

// WithMaxRecordBytes sets the largest record the Reader accepts, so that a
// damaged length cannot make it allocate more; a frame declaring a larger
// one fails with ErrFrameTooLarge. Default DefaultMaxRecordBytes; values
// below 1 or above MaxRecordBytes are clamped to those.
func WithMaxRecordBytes(n int) ReaderOption {
	return func(r *Reader) { r.maxBytes = int(min(max(int64(n), 1), MaxRecordBytes)) }
}

// NewReader reads and checks the header of the snapshot stream r.
func NewReader(r io.Reader, opts ...ReaderOption) (*Reader, error) {
	sr := &Reader{br: bufio.NewReaderSize(r, readBufferSize), maxBytes: DefaultMaxRecordBytes}
	for _, o := range opts {
		o(sr)
	}
	var b [HeaderSize]byte
	if err := sr.fill(b[:], "header", 0, false); err != nil {
		return nil, err
	}
	h, err := parseHeader(&b)
	if err != nil {
		return nil, err
	}
	sr.h, sr.next = h, h.First
	return sr, nil
}

// Header returns the snapshot's header.
func (r *Reader) Header() Header { return r.h }

// Pos returns how many bytes of the stream the Reader has consumed.
func (r *Reader) Pos() int64 { return r.pos }

// Next returns the next record. After the last one it checks the trailer
// and that nothing follows it, and returns io.EOF: only then is the whole
// snapshot proven intact. Any other error is a *FormatError or an error
// reading the stream, and is returned again by every later call.
func (r *Reader) Next() (*messages.Record, error) {
	rec := &messages.Record{}
	if _, err := r.next1(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// NextRaw is Next for a caller that wants the record as stored: it returns
// its msgpack encoding, valid until the next call, and its offset. The
// record is decoded all the same, to check its offset.
func (r *Reader) NextRaw() ([]byte, uint64, error) {
	var rec messages.Record
	b, err := r.next1(&rec)
	return b, rec.Offset, err
}

// next1 reads one frame into r.buf, decodes it into rec and checks it.
func (r *Reader) next1(rec *messages.Record) ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.next == r.h.Next {
		r.err = r.trailer()
		if r.err == nil {
			r.err = io.EOF
		}
		return nil, r.err
	}
	b, err := r.frame()
	if err == nil {
		err = r.check(b, rec)
	}
	if err != nil {
		r.err = err
		return nil, err
	}
	r.next++
	return b, nil
}

// frame reads the next frame and returns its record bytes, after checking
// its length against the limit and its CRC.
func (r *Reader) frame() ([]byte, error) {
	start := r.pos
	var hdr [FrameHeaderSize]byte
	if err := r.fill(hdr[:], "frame header", start, true); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return nil, r.errAt(ErrChecksum, start, true, "frame length 0")
	}
	if uint64(n) > uint64(r.maxBytes) {
		return nil, r.errAt(ErrFrameTooLarge, start, true, fmt.Sprintf("frame declares %d bytes, the limit is %d", n, r.maxBytes))
	}
	b, err := r.record(int(n), start)
	if err != nil {
		return nil, err
	}
	if got, want := binary.BigEndian.Uint32(hdr[4:]), crc32.Checksum(b, crcTable); got != want {
		return nil, r.errAt(ErrChecksum, start, true, fmt.Sprintf("crc %#08x, the record's is %#08x", got, want))
	}
	return b, nil
}

// record reads the n record bytes of the frame at start into r.buf. The
// buffer grows at most twice over as the bytes arrive, so that a damaged
// length under the limit costs memory only for the bytes the stream holds.
func (r *Reader) record(n int, start int64) ([]byte, error) {
	b := r.buf[:0]
	for len(b) < n {
		chunk := min(n-len(b), max(len(b), readBufferSize))
		b = slices.Grow(b, chunk)[:len(b)+chunk]
		if err := r.fill(b[len(b)-chunk:], "record", start, true); err != nil {
			return nil, err
		}
	}
	r.buf = b
	return b, nil
}

// check decodes the record bytes b of the frame just read into rec and
// checks that it is the record expected next.
func (r *Reader) check(b []byte, rec *messages.Record) error {
	start := r.pos - int64(len(b)) - FrameHeaderSize
	if err := messages.UnmarshalRecord(b, rec); err != nil {
		return r.errAt(ErrRecord, start, true, err.Error())
	}
	if rec.Offset != r.next {
		return r.errAt(ErrOffset, start, true, fmt.Sprintf("the frame holds the record of offset %d", rec.Offset))
	}
	return nil
}

// trailer reads and checks the trailer, and that the stream ends with it.
func (r *Reader) trailer() error {
	start := r.pos
	crc := r.crc
	var b [TrailerSize]byte
	if err := r.fill(b[:], "trailer", start, false); err != nil {
		return err
	}
	if !bytes.Equal(b[:8], trailerMagic[:]) {
		return r.errAt(ErrTrailer, start, false, fmt.Sprintf("magic %q after the last record", b[:8]))
	}
	crc = crc32.Update(crc, crcTable, b[:16])
	if got := binary.BigEndian.Uint32(b[16:]); got != crc {
		return r.errAt(ErrTrailer, start, false, fmt.Sprintf("stream crc %#08x, the stream's is %#08x", got, crc))
	}
	if n := binary.BigEndian.Uint64(b[8:]); n != r.h.Count() {
		return r.errAt(ErrCount, start, false, fmt.Sprintf("the trailer counts %d records, the header %d", n, r.h.Count()))
	}
	switch _, err := r.br.ReadByte(); {
	case err == nil:
		return r.errAt(ErrTrailer, r.pos, false, "bytes after the trailer")
	case !errors.Is(err, io.EOF):
		return fmt.Errorf("snapshot: read at byte %d: %w", r.pos, err)
	}
	return nil
}

// fill reads exactly len(b) bytes of the named part into b and into the
// CRC; a stream that ends first is truncated, reported at byte at, the
// start of the header, frame or trailer.
func (r *Reader) fill(b []byte, part string, at int64, hasOffset bool) error {
	n, err := io.ReadFull(r.br, b)
	r.pos += int64(n)
	r.crc = crc32.Update(r.crc, crcTable, b[:n])
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return r.errAt(ErrTruncated, at, hasOffset, fmt.Sprintf("the stream ends in the %s, at byte %d", part, r.pos))
	case err != nil:
		return fmt.Errorf("snapshot: read at byte %d: %w", r.pos, err)
	}
	return nil
}

// errAt is a FormatError at byte pos, for the next record when hasOffset.
func (r *Reader) errAt(sentinel error, pos int64, hasOffset bool, detail string) *FormatError {
	return &FormatError{Err: sentinel, Pos: pos, Offset: r.next, HasOffset: hasOffset, Detail: detail}
}
