package messages

import (
	"bytes"
	"errors"
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
	if err == nil && d.r.Len() > 0 {
		// Validate and the decoder disagree on where the value ends, so the
		// decoder read something other than what was checked: refuse it.
		err = fmt.Errorf("%w: %d bytes left after decoding %T", ErrMalformed, d.r.Len(), v)
	}
	d.r.Reset(nil)
	decoders.Put(d)
	if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooManyRecords) {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return err
}

// UnmarshalRecord decodes one record, as Unmarshal does, without the
// separate Validate pass: Record's decoder checks every declared length
// against the bytes left and skips unknown fields with bounded depth, so
// the pass would only repeat it. The storage engine decodes every read
// this way.
func UnmarshalRecord(data []byte, r *Record) error {
	return decodeDirect(data, "record", func(d *msgpack.Decoder, scratch *[32]byte) error {
		return r.decode(d, scratch)
	})
}

// decodeDirect runs one of this package's own decoders over data, on a
// pooled decoder, and refuses trailing bytes. It is for the bodies whose
// decoders bound every declared length themselves, so that the hot paths
// skip both the Validate pass and the library's type dispatch.
func decodeDirect(data []byte, what string, decode func(*msgpack.Decoder, *[32]byte) error) error {
	d := decoders.Get().(*decoder)
	d.r.Reset(data)
	d.dec.Reset(&d.r)
	d.scratch = [32]byte{}
	err := decode(d.dec, &d.scratch)
	if err == nil && d.r.Len() > 0 {
		err = fmt.Errorf("%w: %d bytes left after the %s", ErrMalformed, d.r.Len(), what)
	}
	d.r.Reset(nil)
	decoders.Put(d)
	if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooManyRecords) {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	return err
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
	r       bytes.Reader
	dec     *msgpack.Decoder
	scratch [32]byte // for keys, so that pooling saves its allocation too
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

// EncodeRecord encodes r like Encode, but calls its encoder directly
// instead of through the library's type lookup: the storage engine encodes
// every appended record this way.
func (e *Encoder) EncodeRecord(r *Record) ([]byte, error) {
	e.buf.Reset()
	if err := r.EncodeMsgpack(e.enc); err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
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

// decodeLen reads a str, bin, array or map header with read. On 32-bit
// platforms the library turns a 32-bit length of 2 GiB or more into a
// negative int, which callers would take for nil (-1) or let pass checkLen;
// decodeLen refuses any negative length that does not come from a nil.
func decodeLen(d *msgpack.Decoder, read func() (int, error)) (int, error) {
	c, err := d.PeekCode()
	if err != nil {
		return 0, err
	}
	n, err := read()
	if err == nil && n < 0 && c != msgpcode.Nil {
		return 0, fmt.Errorf("%w: length does not fit in an int", ErrMalformed)
	}
	return n, err
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
	n, err := decodeLen(d, d.DecodeBytesLen)
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
	n, err := decodeLen(d, d.DecodeBytesLen)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: nil map key", ErrMalformed)
	}
	if n > len(scratch) {
		return nil, discard(d, n, scratch)
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

// discard reads and drops n bytes through scratch, after checkLen, so that
// skipping a long string or binary value allocates nothing.
func discard(d *msgpack.Decoder, n int, scratch *[32]byte) error {
	if err := checkLen(d, n, 1); err != nil {
		return err
	}
	for n > 0 {
		k := min(n, len(scratch))
		if err := d.ReadFull(scratch[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// skipUnknown skips the value of a key that the decoder does not know. The
// library's Decoder.Skip would read a declared length in chunks of up to
// 1 MiB before finding the data short, and recurse as deeply as the data
// nests; skipUnknown checks every length with checkLen and nests at most
// MaxDepth levels below its caller, which matters for a direct
// msgpack.Unmarshal that Validate did not check first. Extension values are
// refused, as Validate refuses them.
func skipUnknown(d *msgpack.Decoder) error {
	return skipNested(d, 0)
}

func skipNested(d *msgpack.Decoder, depth int) error {
	if depth >= MaxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrMalformed, MaxDepth)
	}
	c, err := d.PeekCode()
	if err != nil {
		return err
	}
	switch {
	case msgpcode.IsString(c) || msgpcode.IsBin(c):
		n, err := decodeLen(d, d.DecodeBytesLen)
		if err != nil || n <= 0 {
			return err
		}
		// Declared here, not above, so that the heap allocation it escapes
		// to is only made for the values that need it.
		var scratch [32]byte
		return discard(d, n, &scratch)
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := decodeLen(d, d.DecodeArrayLen)
		if err != nil {
			return err
		}
		return skipNestedItems(d, depth, n, 1)
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := decodeLen(d, d.DecodeMapLen)
		if err != nil {
			return err
		}
		return skipNestedItems(d, depth, n, 2)
	case msgpcode.IsExt(c):
		return fmt.Errorf("%w: extension value (code 0x%02x)", ErrMalformed, c)
	}
	// What is left is nil, a bool, a number or an invalid code: at most
	// nine bytes, which Skip reads into the decoder's own small buffer.
	return d.Skip()
}

// skipNestedItems skips n items of width values each: 1 for an array, 2
// (key and value) for a map.
func skipNestedItems(d *msgpack.Decoder, depth, n, width int) error {
	if err := checkLen(d, n, width); err != nil {
		return err
	}
	for n *= width; n > 0; n-- {
		if err := skipNested(d, depth+1); err != nil {
			return err
		}
	}
	return nil
}
