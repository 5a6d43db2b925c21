package messages

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Unmarshal decodes one msgpack value from data into v after Validate has
// checked that no declared length exceeds the data. Any failure wraps
// ErrMalformed.
func Unmarshal(data []byte, v any) error {
	if err := Validate(data); err != nil {
		return err
	}
	d := decoders.Get().(*decoder)
	d.r.Reset(data)
	d.dec.Reset(&d.r)
	err := d.dec.Decode(v)
	d.r.Reset(nil)
	decoders.Put(d)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// Marshal encodes v as msgpack.
func Marshal(v any) ([]byte, error) {
	e := NewEncoder()
	b, err := e.Encode(v)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(b), nil
}

type decoder struct {
	r   bytes.Reader
	dec *msgpack.Decoder
}

var decoders = sync.Pool{New: func() any {
	d := &decoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}}

// Encoder encodes values into a buffer it reuses, so that a hot path that
// encodes one value after another allocates nothing once warm. It is not
// safe for concurrent use.
type Encoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

// NewEncoder returns an Encoder with an empty buffer.
func NewEncoder() *Encoder {
	e := &Encoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	return e
}

// Encode encodes v and returns its bytes, which stay valid until the next
// call to Encode or Reset.
func (e *Encoder) Encode(v any) ([]byte, error) {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return e.buf.Bytes(), nil
}

// remaining returns how many bytes a decoder reading from memory has left,
// or -1 when it reads from a stream and cannot tell.
func remaining(d *msgpack.Decoder) int {
	if r, ok := d.Buffered().(interface{ Len() int }); ok {
		return r.Len()
	}
	return -1
}

// checkLen rejects a declared count of n items that each take at least
// minBytes, when the decoder can tell that fewer bytes remain. It is the
// custom decoders' own guard, kept even though Unmarshal validates first, so
// that a direct msgpack.Unmarshal into an evlog type cannot be made to
// allocate what the data does not hold.
func checkLen(d *msgpack.Decoder, n, minBytes int) error {
	if n < 0 {
		return nil
	}
	if left := remaining(d); left >= 0 && n > left/minBytes {
		return fmt.Errorf("%w: %d items declared with %d bytes left", ErrMalformed, n, left)
	}
	return nil
}

// decodeBin decodes a bin or str value into a new slice of exactly its
// length; nil decodes to nil.
func decodeBin(d *msgpack.Decoder) ([]byte, error) {
	n, err := d.DecodeBytesLen()
	if err != nil || n < 0 {
		return nil, err
	}
	if err := checkLen(d, n, 1); err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if err := d.ReadFull(b); err != nil {
		return nil, err
	}
	return b, nil
}

// decodeKey reads a map key into scratch without allocating. A key longer
// than scratch is skipped and returned as nil, which matches no field.
func decodeKey(d *msgpack.Decoder, scratch *[32]byte) ([]byte, error) {
	n, err := d.DecodeBytesLen()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: nil map key", ErrMalformed)
	}
	if n > len(scratch) {
		if err := checkLen(d, n, 1); err != nil {
			return nil, err
		}
		for n > 0 {
			k := min(n, len(scratch))
			if err := d.ReadFull(scratch[:k]); err != nil {
				return nil, err
			}
			n -= k
		}
		return nil, nil
	}
	if err := d.ReadFull(scratch[:n]); err != nil {
		return nil, err
	}
	return scratch[:n], nil
}

// decodeUint decodes a non-negative integer of any msgpack integer type and
// rejects negative values, which DecodeUint64 would silently wrap.
func decodeUint(d *msgpack.Decoder, field string) (uint64, error) {
	c, err := d.PeekCode()
	if err != nil {
		return 0, err
	}
	if msgpcode.IsFixedNum(c) && int8(c) < 0 || c >= msgpcode.Int8 && c <= msgpcode.Int64 {
		v, err := d.DecodeInt64()
		if err != nil {
			return 0, err
		}
		if v < 0 {
			return 0, fmt.Errorf("%w: %s is negative (%d)", ErrMalformed, field, v)
		}
		return uint64(v), nil
	}
	if c == msgpcode.Nil {
		return 0, d.Skip()
	}
	if !msgpcode.IsFixedNum(c) && (c < msgpcode.Uint8 || c > msgpcode.Uint64) {
		return 0, fmt.Errorf("%w: %s is not an integer (code 0x%02x)", ErrMalformed, field, c)
	}
	return d.DecodeUint64()
}

// decodeInt decodes a signed integer of any msgpack integer type.
func decodeInt(d *msgpack.Decoder, field string) (int64, error) {
	c, err := d.PeekCode()
	if err != nil {
		return 0, err
	}
	if c == msgpcode.Uint64 {
		v, err := d.DecodeUint64()
		if err != nil {
			return 0, err
		}
		if v > 1<<63-1 {
			return 0, fmt.Errorf("%w: %s overflows int64 (%d)", ErrMalformed, field, v)
		}
		return int64(v), nil
	}
	if c != msgpcode.Nil && !msgpcode.IsFixedNum(c) && (c < msgpcode.Uint8 || c > msgpcode.Int64) {
		return 0, fmt.Errorf("%w: %s is not an integer (code 0x%02x)", ErrMalformed, field, c)
	}
	return d.DecodeInt64()
}
