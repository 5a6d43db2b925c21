package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// Limits of one read from the log while writing a snapshot of it: memory
// stays at about batchBytes, or one record when a record is larger.
const (
	batchRecords = 1024
	batchBytes   = 1 << 20
)

// WriteLog writes a snapshot of the records [h.First, h.Next) of l to w
// and returns the bytes written. It reads l as ScanLog does, while l may go
// on taking appends, and fails as ScanLog does. On error, what reached w
// is not a valid snapshot.
func WriteLog(w io.Writer, l *segment.Log, h Header) (int64, error) {
	sw, err := NewWriter(w, h)
	if err != nil {
		return 0, err
	}
	err = ScanLog(l, h.First, h.Next, func(raw []byte, rec *messages.Record) error {
		if err := sw.expect(rec.Offset); err != nil {
			return err
		}
		return sw.frame(raw, rec.Offset)
	})
	if err == nil {
		err = sw.Close()
	}
	return sw.Written(), err
}

// ScanLog calls fn with every record of offsets [from, next) of l, in
// order: its stored msgpack encoding and its decoded form, both valid only
// until fn returns. It reads l with ReadRaw a batch at a time, so memory
// stays at about one batch or one record, whichever is larger. It stops at
// the first error of fn, which it returns as is, and fails if the range is
// not all in l (segment.ErrOffsetOutOfRange, as when TruncateFront removes
// the start of it meanwhile) or a record in it is damaged (a
// *segment.DamageError).
func ScanLog(l *segment.Log, from, next uint64, fn func(raw []byte, rec *messages.Record) error) error {
	var (
		buf []byte
		br  bytes.Reader
		dec = msgpack.NewDecoder(&br)
		rec messages.Record
	)
	for off := from; off < next; {
		want := int(min(next-off, batchRecords))
		b, n, err := l.ReadRaw(off, want, batchBytes, buf[:0])
		if errors.Is(err, segment.ErrRecordTooLarge) {
			b, n, err = l.ReadRaw(off, 1, math.MaxInt, buf[:0])
		}
		if err == nil && n == 0 {
			// ReadRaw gives at least one record of a range it holds;
			// guard the loop all the same.
			err = errors.New("no record")
		}
		if err != nil {
			return fmt.Errorf("read %d of [%d, %d): %w", off, from, next, err)
		}
		buf = b
		// ReadRaw returns the records back to back: decoding each one
		// finds where it ends.
		br.Reset(b)
		dec.Reset(&br)
		for range n {
			start := len(b) - br.Len()
			if err := rec.DecodeMsgpack(dec); err != nil {
				return fmt.Errorf("read %d of [%d, %d): %w", off, from, next, err)
			}
			if rec.Offset != off {
				return fmt.Errorf("read %d of [%d, %d): the log returned the record of offset %d", off, from, next, rec.Offset)
			}
			if err := fn(b[start:len(b)-br.Len()], &rec); err != nil {
				return err
			}
			off++
		}
	}
	return nil
}
