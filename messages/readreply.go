package messages

import (
	"fmt"
	"math"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// AppendReadReply appends to dst the encoding of a ReadReply whose records
// are the count records already encoded, one after another, in records,
// and whose NextOffset is next, and returns the extended slice. The
// service reads records from disk in their msgpack encoding; this puts
// them on the wire as they are instead of decoding and re-encoding each.
// The result is byte for byte what ReadReply.EncodeMsgpack writes for the
// same records.
//
// records must hold exactly count Record maps: AppendReadReply does not
// look inside them. It panics if count is negative or above 4294967295,
// the most a msgpack array holds, as those are bugs in the caller.
func AppendReadReply(dst []byte, count int, records []byte, next uint64) []byte {
	if count < 0 || uint64(count) > math.MaxUint32 {
		panic(fmt.Sprintf("messages: AppendReadReply with %d records", count))
	}
	a := appenders.Get().(*appender)
	a.w.b = dst
	err := a.encode(count, records, next)
	dst = a.w.b
	a.w.b = nil // the pool must not keep the caller's buffer alive
	appenders.Put(a)
	if err != nil {
		// appendWriter cannot fail and count was checked above, so the
		// encoder has nothing to report; an error here is a bug.
		panic(fmt.Sprintf("messages: AppendReadReply: %v", err))
	}
	return dst
}

// appender is an encoder writing to a slice it is handed, pooled so that a
// read reply costs no allocation beyond growing that slice.
type appender struct {
	w   appendWriter
	enc *msgpack.Encoder
}

var appenders = sync.Pool{New: func() any {
	a := &appender{}
	a.enc = msgpack.NewEncoder(&a.w)
	return a
}}

func (a *appender) encode(count int, records []byte, next uint64) error {
	if err := a.enc.EncodeMapLen(2); err != nil {
		return err
	}
	if err := a.enc.EncodeString("records"); err != nil {
		return err
	}
	if err := a.enc.EncodeArrayLen(count); err != nil {
		return err
	}
	if _, err := a.w.Write(records); err != nil {
		return err
	}
	if err := a.enc.EncodeString("next_offset"); err != nil {
		return err
	}
	return a.enc.EncodeUint(next)
}

// appendWriter appends whatever is written to b. It implements
// io.ByteWriter so that the encoder writes single bytes without wrapping
// it.
type appendWriter struct {
	b []byte
}

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (w *appendWriter) WriteByte(c byte) error {
	w.b = append(w.b, c)
	return nil
}
