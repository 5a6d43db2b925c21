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
// and returns the bytes written. It reads l with ReadRaw, a batch at a
// time, while l may go on taking appends; it fails if the range is not all
// in l (ErrOffsetOutOfRange, as when TruncateFront removes the start of it
// meanwhile) or a record in it is damaged (a *segment.DamageError). On
// error, what reached w is not a valid snapshot.
func WriteLog(w io.Writer, l *segment.Log, h Header) (int64, error) {
	sw, err := NewWriter(w, h)
	if err != nil {
		return 0, err
	}
	var (
		buf []byte
		br  bytes.Reader
		dec = msgpack.NewDecoder(&br)
		rec messages.Record
	)
	for off := h.First; off < h.Next; {
		want := int(min(h.Next-off, batchRecords))
		b, n, err := l.ReadRaw(off, want, batchBytes, buf[:0])
		if errors.Is(err, segment.ErrRecordTooLarge) {
			b, n, err = l.ReadRaw(off, 1, math.MaxInt, buf[:0])
		}
		if err != nil {
			return sw.Written(), fmt.Errorf("snapshot of [%d, %d): read %d: %w", h.First, h.Next, off, err)
		}
		if n == 0 {
			// ReadRaw gives at least one record of a range it holds;
			// guard the loop all the same.
			return sw.Written(), fmt.Errorf("snapshot of [%d, %d): read %d: no record", h.First, h.Next, off)
		}
		buf = b
		// ReadRaw returns the records back to back: decoding each one
		// finds where it ends and gives its offset for the Writer's check.
		br.Reset(b)
		dec.Reset(&br)
		for range n {
			start := len(b) - br.Len()
			if err := rec.DecodeMsgpack(dec); err != nil {
				return sw.Written(), fmt.Errorf("snapshot of [%d, %d): record %d: %w", h.First, h.Next, off, err)
			}
			if err := sw.expect(rec.Offset); err != nil {
				return sw.Written(), err
			}
			if err := sw.frame(b[start:len(b)-br.Len()], rec.Offset); err != nil {
				return sw.Written(), err
			}
			off++
		}
	}
	err = sw.Close()
	return sw.Written(), err
}
