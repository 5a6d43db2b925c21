package dedup

import (
	"fmt"
	"strconv"

	"github.com/evlog/evlog/messages"
)

// Stamp stores id with the batch records, in the headers of its first
// record: messages.IDHeader with the id and, for a batch of more than one
// record, messages.BatchRecordsHeader with their number. The record's
// header map is the caller's, and written into. A log that encodes the
// records itself adds StampHeaders at encoding instead, which stores the
// same bytes without a header map.
func Stamp(records []*messages.Record, id string) {
	r := records[0]
	if r.Headers == nil {
		r.Headers = make(map[string]string, 2)
	}
	var buf [2]messages.Header
	for _, h := range StampHeaders(buf[:0], id, len(records)) {
		r.Headers[h.Key] = h.Value
	}
}

// StampHeaders appends to dst the headers Stamp sets on the first record
// of a batch of n records with id, and returns the extended slice.
func StampHeaders(dst []messages.Header, id string, n int) []messages.Header {
	dst = append(dst, messages.Header{Key: messages.IDHeader, Value: id})
	if n > 1 {
		dst = append(dst, messages.Header{Key: messages.BatchRecordsHeader, Value: strconv.Itoa(n)})
	}
	return dst
}

// StampBytes bounds how much Stamp grows the encoding of a batch's first
// record, for checking the record's size before it is stamped.
func StampBytes(id string, hadHeaders bool) int {
	n := messages.StrSize(len(messages.IDHeader)) + messages.StrSize(len(id)) +
		messages.StrSize(len(messages.BatchRecordsHeader)) + messages.StrSize(len("4294967295"))
	if !hadHeaders {
		n += 1 + len("headers") + 5 // the key and the map's header
	}
	return n
}

// Stamped returns the id and the span of the batch whose first record is
// r, if r was stamped. A record whose batch length cannot be read is an
// error: it was not written by Stamp.
func Stamped(r *messages.Record) (id string, s Span, ok bool, err error) {
	id, ok = r.Headers[messages.IDHeader]
	if !ok {
		return "", Span{}, false, nil
	}
	n := uint64(1)
	if v, has := r.Headers[messages.BatchRecordsHeader]; has {
		n, err = strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return "", Span{}, false, fmt.Errorf("record %d: header %s is %q, not a record count", r.Offset, messages.BatchRecordsHeader, v)
		}
	}
	return id, Span{First: r.Offset, Last: r.Offset + n - 1}, true, nil
}

// Observe adds the id r was stamped with, if any, as Add would have when
// r's batch was appended. A log rebuilding its table feeds it the records
// of its tail in offset order.
func (t *Table) Observe(r *messages.Record) error {
	id, s, ok, err := Stamped(r)
	if ok {
		t.Add(id, s, r.Timestamp)
	}
	return err
}
