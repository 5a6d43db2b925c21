package messages

import (
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// The protocol bodies encode and decode by hand, like Record: the service
// handles one per request, reflection would cost more than the rest of the
// request, and a hand-written decoder can check every declared length
// before it allocates. Encoders have value receivers so that a body which
// is not addressable, such as Marshal(AppendReply{...}), encodes too.
//
// Decoders follow the same rules for every body: keys are those of the
// struct tags, unknown keys are skipped, a nil value is the same as leaving
// the key out, and an unsigned field accepts any msgpack integer encoding
// but no negative value. Where a request must say what it means, the
// decoder refuses the request rather than guess: a read without an
// offset, a truncation without lowest, and a max_records or max_bytes of
// 0, which a client can only have meant as "the default" by leaving the
// key out.

var (
	_ msgpack.CustomEncoder = AppendRequest{}
	_ msgpack.CustomDecoder = (*AppendRequest)(nil)
	_ msgpack.CustomEncoder = AppendReply{}
	_ msgpack.CustomDecoder = (*AppendReply)(nil)
	_ msgpack.CustomEncoder = ReadRequest{}
	_ msgpack.CustomDecoder = (*ReadRequest)(nil)
	_ msgpack.CustomEncoder = ReadReply{}
	_ msgpack.CustomDecoder = (*ReadReply)(nil)
	_ msgpack.CustomEncoder = TruncateRequest{}
	_ msgpack.CustomDecoder = (*TruncateRequest)(nil)
	_ msgpack.CustomEncoder = TruncateReply{}
	_ msgpack.CustomDecoder = (*TruncateReply)(nil)
	_ msgpack.CustomEncoder = InfoReply{}
	_ msgpack.CustomDecoder = (*InfoReply)(nil)
	_ msgpack.CustomEncoder = Committed{}
	_ msgpack.CustomDecoder = (*Committed)(nil)
)

// EncodeMsgpack encodes r without reflection. Records is always written as
// an array, empty when there are none, so that clients need not expect nil.
// The id and the expected offset are left out when unset.
func (r AppendRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	n := 1
	if r.ID != "" {
		n++
	}
	if r.ExpectedOffset != nil {
		n++
	}
	if err := e.EncodeMapLen(n); err != nil {
		return err
	}
	if err := e.EncodeString("records"); err != nil {
		return err
	}
	if err := encodeRecords(e, r.Records); err != nil {
		return err
	}
	if r.ID != "" {
		if err := e.EncodeString("id"); err != nil {
			return err
		}
		if err := e.EncodeString(r.ID); err != nil {
			return err
		}
	}
	if r.ExpectedOffset != nil {
		if err := e.EncodeString("expected_offset"); err != nil {
			return err
		}
		return e.EncodeUint(*r.ExpectedOffset)
	}
	return nil
}

// DecodeMsgpack decodes r without reflection. The record count is checked
// against the bytes left before the slice is allocated, so that decoding
// allocates in proportion to the data, whatever the data declares. An id
// must be a str or bin of 1 to MaxIDLen bytes (see CheckID); nil is no id.
func (r *AppendRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*r = AppendRequest{maxRecords: r.maxRecords}
	return decodeMap(d, "append request", func(key []byte) (err error) {
		switch string(key) {
		case "records":
			r.Records, err = decodeRecords(d, r.maxRecords)
		case "id":
			r.ID, err = decodeID(d)
		case "expected_offset":
			r.ExpectedOffset, err = decodeOptUintPtr(d, "expected_offset")
		default:
			err = skipUnknown(d)
		}
		return err
	})
}

// EncodeMsgpack encodes r without reflection, in the layout the service
// writes by hand: duplicate is only there when true.
func (r AppendReply) EncodeMsgpack(e *msgpack.Encoder) error {
	n := 2
	if r.Duplicate {
		n++
	}
	if err := e.EncodeMapLen(n); err != nil {
		return err
	}
	for _, f := range []uintField{{key: "first_offset", val: r.FirstOffset}, {key: "last_offset", val: r.LastOffset}} {
		if err := e.EncodeString(f.key); err != nil {
			return err
		}
		if err := e.EncodeUint(f.val); err != nil {
			return err
		}
	}
	if !r.Duplicate {
		return nil
	}
	if err := e.EncodeString("duplicate"); err != nil {
		return err
	}
	return e.EncodeBool(true)
}

// DecodeMsgpack decodes r without reflection.
func (r *AppendReply) DecodeMsgpack(d *msgpack.Decoder) error {
	*r = AppendReply{}
	return decodeMap(d, "append reply", func(key []byte) (err error) {
		switch string(key) {
		case "first_offset":
			r.FirstOffset, err = decodeUint(d, "first_offset")
		case "last_offset":
			r.LastOffset, err = decodeUint(d, "last_offset")
		case "duplicate":
			r.Duplicate, err = decodeOptBool(d)
		default:
			err = skipUnknown(d)
		}
		return err
	})
}

// EncodeMsgpack encodes r without reflection, leaving out the optional
// fields that are zero, and the offset when Timestamp is set.
func (r ReadRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	limits := []uintField{
		{key: "max_records", val: r.MaxRecords, omitEmpty: true},
		{key: "max_bytes", val: r.MaxBytes, omitEmpty: true},
		{key: "wait_ms", val: r.WaitMS, omitEmpty: true},
	}
	if r.Timestamp == nil {
		return encodeUints(e, append([]uintField{{key: "offset", val: r.Offset}}, limits...)...)
	}
	// The timestamp is signed: it goes first, then the map goes on with
	// the limits, so the map's length counts it.
	n := 1
	for _, f := range limits {
		if f.val != 0 {
			n++
		}
	}
	if err := e.EncodeMapLen(n); err != nil {
		return err
	}
	if err := e.EncodeString("timestamp"); err != nil {
		return err
	}
	if err := e.EncodeInt(*r.Timestamp); err != nil {
		return err
	}
	for _, f := range limits {
		if f.val == 0 {
			continue
		}
		if err := e.EncodeString(f.key); err != nil {
			return err
		}
		if err := e.EncodeUint(f.val); err != nil {
			return err
		}
	}
	return nil
}

// DecodeMsgpack decodes r without reflection. It refuses a request with
// neither an offset nor a timestamp, or with both, and a max_records or
// max_bytes of 0; see ReadRequest.
func (r *ReadRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*r = ReadRequest{}
	hasOffset := false
	err := decodeMap(d, "read request", func(key []byte) (err error) {
		switch string(key) {
		case "offset":
			r.Offset, hasOffset, err = decodeOptUint(d, "offset")
		case "timestamp":
			r.Timestamp, err = decodeOptInt(d, "timestamp")
		case "max_records":
			r.MaxRecords, err = decodeLimit(d, "max_records")
		case "max_bytes":
			r.MaxBytes, err = decodeLimit(d, "max_bytes")
		case "wait_ms":
			r.WaitMS, err = decodeUint(d, "wait_ms")
		default:
			err = skipUnknown(d)
		}
		return err
	})
	if err == nil {
		err = checkReadStart(hasOffset, r.Timestamp != nil)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// checkReadStart refuses a read request that says neither where to start
// nor, with both an offset and a timestamp, says it twice.
func checkReadStart(hasOffset, hasTimestamp bool) error {
	switch {
	case hasOffset && hasTimestamp:
		return errors.New("read request has both offset and timestamp; send one")
	case !hasOffset && !hasTimestamp:
		return errNoField("read request", "offset or timestamp")
	}
	return nil
}

// decodeOptInt decodes a signed integer like decodeInt, or nil, like a
// missing key, as no value.
func decodeOptInt(d *msgpack.Decoder, field string) (*int64, error) {
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	if c == msgpcode.Nil {
		return nil, d.Skip()
	}
	v, err := decodeInt(d, field)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// EncodeMsgpack encodes r without reflection, in the layout that
// AppendReadReply writes from records already encoded.
func (r ReadReply) EncodeMsgpack(e *msgpack.Encoder) error {
	if err := e.EncodeMapLen(2); err != nil {
		return err
	}
	if err := e.EncodeString("records"); err != nil {
		return err
	}
	if err := encodeRecords(e, r.Records); err != nil {
		return err
	}
	if err := e.EncodeString("next_offset"); err != nil {
		return err
	}
	return e.EncodeUint(r.NextOffset)
}

// DecodeMsgpack decodes r without reflection, with the same bound on the
// record count as AppendRequest.
func (r *ReadReply) DecodeMsgpack(d *msgpack.Decoder) error {
	*r = ReadReply{}
	return decodeMap(d, "read reply", func(key []byte) (err error) {
		switch string(key) {
		case "records":
			r.Records, err = decodeRecords(d, 0)
		case "next_offset":
			r.NextOffset, err = decodeUint(d, "next_offset")
		default:
			err = skipUnknown(d)
		}
		return err
	})
}

// EncodeMsgpack encodes r without reflection.
func (r TruncateRequest) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeUints(e, uintField{key: "lowest", val: r.Lowest})
}

// DecodeMsgpack decodes r without reflection. It refuses a request
// without lowest; see TruncateRequest.
func (r *TruncateRequest) DecodeMsgpack(d *msgpack.Decoder) error {
	*r = TruncateRequest{}
	hasLowest := false
	err := decodeMap(d, "truncate request", func(key []byte) (err error) {
		switch string(key) {
		case "lowest":
			r.Lowest, hasLowest, err = decodeOptUint(d, "lowest")
		default:
			err = skipUnknown(d)
		}
		return err
	})
	if err == nil && !hasLowest {
		err = fmt.Errorf("%w: %v", ErrMalformed, errNoField("truncate request", "lowest"))
	}
	return err
}

// EncodeMsgpack encodes r without reflection.
func (r TruncateReply) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeUints(e, uintField{key: "lowest_offset", val: r.LowestOffset})
}

// DecodeMsgpack decodes r without reflection.
func (r *TruncateReply) DecodeMsgpack(d *msgpack.Decoder) error {
	*r = TruncateReply{}
	return decodeMap(d, "truncate reply", func(key []byte) (err error) {
		switch string(key) {
		case "lowest_offset":
			r.LowestOffset, err = decodeUint(d, "lowest_offset")
		default:
			err = skipUnknown(d)
		}
		return err
	})
}

// EncodeMsgpack encodes r without reflection.
func (r InfoReply) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeUints(e,
		uintField{key: "lowest_offset", val: r.LowestOffset},
		uintField{key: "next_offset", val: r.NextOffset},
		uintField{key: "segments", val: r.Segments},
		uintField{key: "bytes", val: r.Bytes})
}

// DecodeMsgpack decodes r without reflection.
func (r *InfoReply) DecodeMsgpack(d *msgpack.Decoder) error {
	*r = InfoReply{}
	return decodeMap(d, "info reply", func(key []byte) (err error) {
		switch string(key) {
		case "lowest_offset":
			r.LowestOffset, err = decodeUint(d, "lowest_offset")
		case "next_offset":
			r.NextOffset, err = decodeUint(d, "next_offset")
		case "segments":
			r.Segments, err = decodeUint(d, "segments")
		case "bytes":
			r.Bytes, err = decodeUint(d, "bytes")
		default:
			err = skipUnknown(d)
		}
		return err
	})
}

// EncodeMsgpack encodes c without reflection.
func (c Committed) EncodeMsgpack(e *msgpack.Encoder) error {
	return encodeUints(e,
		uintField{key: "first_offset", val: c.FirstOffset},
		uintField{key: "last_offset", val: c.LastOffset})
}

// DecodeMsgpack decodes c without reflection.
func (c *Committed) DecodeMsgpack(d *msgpack.Decoder) error {
	*c = Committed{}
	return decodeMap(d, "committed", func(key []byte) (err error) {
		switch string(key) {
		case "first_offset":
			c.FirstOffset, err = decodeUint(d, "first_offset")
		case "last_offset":
			c.LastOffset, err = decodeUint(d, "last_offset")
		default:
			err = skipUnknown(d)
		}
		return err
	})
}

// decodeMap decodes a map with string keys, handing each key to field,
// which decodes or skips the value that follows. A nil map decodes as an
// empty one. body names what is decoded in errors.
func decodeMap(d *msgpack.Decoder, body string, field func(key []byte) error) error {
	n, err := decodeLen(d, d.DecodeMapLen)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, body, err)
	}
	if err := checkLen(d, n, 2); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, body, err)
	}
	// One scratch for all keys: it escapes to the heap, so one allocation
	// per body instead of one per key.
	var scratch [32]byte
	for ; n > 0; n-- {
		key, err := decodeKey(d, &scratch)
		if err != nil {
			return fmt.Errorf("%w: %s key: %v", ErrMalformed, body, err)
		}
		if err := field(key); errors.Is(err, ErrTooManyRecords) {
			return err // a limit, not a malformed body
		} else if err != nil {
			return fmt.Errorf("%w: %s field %q: %v", ErrMalformed, body, key, err)
		}
	}
	return nil
}

// uintField is one unsigned integer entry of a body being encoded.
type uintField struct {
	key       string
	val       uint64
	omitEmpty bool
}

// encodeUints encodes fields as a map in the order given, leaving out the
// omitEmpty fields that are zero. Values take the shortest integer
// encoding, unlike the 9-byte uint64 that reflection writes.
func encodeUints(e *msgpack.Encoder, fields ...uintField) error {
	n := 0
	for _, f := range fields {
		if !f.omitEmpty || f.val != 0 {
			n++
		}
	}
	if err := e.EncodeMapLen(n); err != nil {
		return err
	}
	for _, f := range fields {
		if f.omitEmpty && f.val == 0 {
			continue
		}
		if err := e.EncodeString(f.key); err != nil {
			return err
		}
		if err := e.EncodeUint(f.val); err != nil {
			return err
		}
	}
	return nil
}

// encodeRecords encodes recs as an array of Record maps.
func encodeRecords(e *msgpack.Encoder, recs []Record) error {
	if err := e.EncodeArrayLen(len(recs)); err != nil {
		return err
	}
	for i := range recs {
		if err := recs[i].EncodeMsgpack(e); err != nil {
			return err
		}
	}
	return nil
}

// decodeRecords decodes an array of records. Every record takes at least
// one byte (an empty map or nil), so a count larger than the bytes left is
// refused before the slice is made. nil and an empty array decode to nil.
func decodeRecords(d *msgpack.Decoder, maxRecords int) ([]Record, error) {
	n, err := decodeLen(d, d.DecodeArrayLen)
	if err != nil || n <= 0 {
		return nil, err
	}
	// A count the bytes cannot hold is a malformed body (400), whatever
	// the limit; only a body that could hold its records is too large.
	if err := checkLen(d, n, 1); err != nil {
		return nil, err
	}
	if maxRecords > 0 && n > maxRecords {
		return nil, fmt.Errorf("%w: %d records, more than %d", ErrTooManyRecords, n, maxRecords)
	}
	recs := make([]Record, n)
	var scratch [32]byte
	for i := range recs {
		if err := recs[i].decode(d, &scratch); err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
	}
	return recs, nil
}

// decodeOptUint decodes an unsigned integer like decodeUint and reports
// whether one was there: nil, like a missing key, is not.
func decodeOptUint(d *msgpack.Decoder, field string) (v uint64, ok bool, err error) {
	c, err := d.PeekCode()
	if err != nil {
		return 0, false, err
	}
	if c == msgpcode.Nil {
		return 0, false, d.Skip()
	}
	v, err = decodeUint(d, field)
	return v, err == nil, err
}

// decodeOptUintPtr decodes an optional unsigned integer whose zero is a
// value of its own, such as an expected offset: nil for nil.
func decodeOptUintPtr(d *msgpack.Decoder, field string) (*uint64, error) {
	v, ok, err := decodeOptUint(d, field)
	if err != nil || !ok {
		return nil, err
	}
	return &v, nil
}

// decodeOptBool decodes a boolean; nil is false.
func decodeOptBool(d *msgpack.Decoder) (bool, error) {
	c, err := d.PeekCode()
	if err != nil {
		return false, err
	}
	if c == msgpcode.Nil {
		return false, d.Skip()
	}
	return d.DecodeBool()
}

// decodeID decodes an append id, a str or bin that CheckID accepts; nil
// is no id.
func decodeID(d *msgpack.Decoder) (string, error) {
	b, err := decodeBin(d)
	if err != nil || b == nil {
		return "", err
	}
	id := string(b)
	return id, CheckID(id)
}

// decodeLimit decodes an optional limit such as max_records, which may be
// left out (or nil) for its default but is never 0.
func decodeLimit(d *msgpack.Decoder, field string) (uint64, error) {
	v, ok, err := decodeOptUint(d, field)
	if err == nil && ok {
		err = checkLimit(field, v)
	}
	return v, err
}

// checkLimit refuses a limit of 0. A read of at most 0 records or bytes
// cannot be answered, and reading it as the default would hide a client's
// bug; leaving the key out asks for the default.
func checkLimit(field string, v uint64) error {
	if v == 0 {
		return fmt.Errorf("%s is 0; leave it out for the default", field)
	}
	return nil
}

// errNoField is the error for a request without a key it needs.
func errNoField(body, field string) error {
	return fmt.Errorf("%s has no %s", body, field)
}
