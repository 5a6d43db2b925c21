package messages

import (
	"fmt"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

// Record is one entry of the log.
//
// On the wire and on disk it is a msgpack map with the keys, in this
// order, "value" (bin, or nil when Value is nil), "offset" (uint),
// "timestamp" (unix nanoseconds, in the shortest integer encoding: a uint
// for any present-day time, an int only when negative), and, only when not
// empty, "key" (bin) and "headers" (map of str to str). Decoding also takes
// str for value and key and bin for header names and values, and ignores
// unknown keys, so that newer writers can add fields.
type Record struct {
	// Value is the payload.
	Value []byte `msgpack:"value"`
	// Offset is the record's position in the log, assigned by the log.
	Offset uint64 `msgpack:"offset"`
	// Timestamp is when the record was appended, in unix nanoseconds. The
	// log sets it at append when it is zero.
	Timestamp int64 `msgpack:"timestamp"`
	// Key is an optional key, for example what a consumer partitions by.
	Key []byte `msgpack:"key,omitempty"`
	// Headers are optional metadata.
	Headers map[string]string `msgpack:"headers,omitempty"`
}

var (
	_ msgpack.CustomEncoder = Record{}
	_ msgpack.CustomDecoder = (*Record)(nil)
)

// EncodeMsgpack encodes r without reflection. Headers are written in key
// order so that equal records encode to equal bytes. The receiver is a value
// so that a Record that is not addressable, such as Marshal(rec), encodes
// too; the library refuses those for pointer-receiver encoders.
func (r Record) EncodeMsgpack(e *msgpack.Encoder) error {
	n := 3
	if len(r.Key) > 0 {
		n++
	}
	if len(r.Headers) > 0 {
		n++
	}
	if err := e.EncodeMapLen(n); err != nil {
		return err
	}
	if err := e.EncodeString("value"); err != nil {
		return err
	}
	if err := e.EncodeBytes(r.Value); err != nil {
		return err
	}
	if err := e.EncodeString("offset"); err != nil {
		return err
	}
	if err := e.EncodeUint(r.Offset); err != nil {
		return err
	}
	if err := e.EncodeString("timestamp"); err != nil {
		return err
	}
	if err := e.EncodeInt(r.Timestamp); err != nil {
		return err
	}
	if len(r.Key) > 0 {
		if err := e.EncodeString("key"); err != nil {
			return err
		}
		if err := e.EncodeBytes(r.Key); err != nil {
			return err
		}
	}
	if len(r.Headers) > 0 {
		if err := e.EncodeString("headers"); err != nil {
			return err
		}
		if err := e.EncodeMapLen(len(r.Headers)); err != nil {
			return err
		}
		// Sorted, so that one record always encodes to the same bytes. A
		// record has few headers: their keys are sorted on the stack.
		var buf [8]string
		keys := buf[:0]
		for k := range r.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := e.EncodeString(k); err != nil {
				return err
			}
			if err := e.EncodeString(r.Headers[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// DecodeMsgpack decodes r without reflection, checking every declared
// length against the bytes left before allocating.
func (r *Record) DecodeMsgpack(d *msgpack.Decoder) error {
	var scratch [32]byte
	return r.decode(d, &scratch)
}

// decode is DecodeMsgpack with a scratch for keys from the caller. The
// scratch escapes to the heap, so a body of many records shares one rather
// than allocating one per record.
func (r *Record) decode(d *msgpack.Decoder, scratch *[32]byte) error {
	n, err := decodeLen(d, d.DecodeMapLen)
	if err != nil {
		return fmt.Errorf("%w: record: %v", ErrMalformed, err)
	}
	if err := checkLen(d, n, 2); err != nil {
		return err
	}
	*r = Record{}
	for ; n > 0; n-- {
		key, err := decodeKey(d, scratch)
		if err != nil {
			return fmt.Errorf("%w: record key: %v", ErrMalformed, err)
		}
		switch string(key) {
		case "value":
			r.Value, err = decodeBin(d)
		case "offset":
			r.Offset, err = decodeUint(d, "offset")
		case "timestamp":
			r.Timestamp, err = decodeInt(d, "timestamp")
		case "key":
			r.Key, err = decodeBin(d)
		case "headers":
			r.Headers, err = decodeHeaders(d)
		default:
			err = skipUnknown(d)
		}
		if err != nil {
			return fmt.Errorf("%w: record field %q: %v", ErrMalformed, key, err)
		}
	}
	return nil
}

func decodeHeaders(d *msgpack.Decoder) (map[string]string, error) {
	n, err := decodeLen(d, d.DecodeMapLen)
	if err != nil || n <= 0 {
		return nil, err
	}
	if err := checkLen(d, n, 2); err != nil {
		return nil, err
	}
	// Not sized by n: duplicate keys collapse, so a body could declare
	// many pairs to make the map's allocation outgrow the body.
	h := make(map[string]string, min(n, 8))
	for ; n > 0; n-- {
		k, err := decodeBin(d)
		if err != nil {
			return nil, err
		}
		v, err := decodeBin(d)
		if err != nil {
			return nil, err
		}
		h[string(k)] = string(v)
	}
	return h, nil
}
