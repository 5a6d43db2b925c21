package messages

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Header is one record header, for AppendRecordWith.
type Header struct {
	Key, Value string
}

// AppendRecord appends the msgpack encoding of r to dst, byte for byte
// what Record.EncodeMsgpack writes, without the library's encoder: the
// storage engine encodes every appended record, and writing straight
// into its buffer saves the library's per-field calls and a copy. A value,
// key or header longer than msgpack can say is refused.
func AppendRecord(dst []byte, r *Record) ([]byte, error) {
	return AppendRecordWith(dst, r, nil)
}

// AppendRecordWith appends the encoding of r with the headers extra
// besides its own, byte for byte what AppendRecord writes for r once
// extra is set in r.Headers (a key of extra replacing the same key of
// r's), without writing into r.Headers: the log stamps the ids of
// appends this way, sparing a header map per append. The keys of extra
// must differ from each other.
func AppendRecordWith(dst []byte, r *Record, extra []Header) ([]byte, error) {
	n := 3
	if len(r.Key) > 0 {
		n++
	}
	if len(r.Headers) > 0 || len(extra) > 0 {
		n++
	}
	if uint64(len(r.Value)) > math.MaxUint32 || uint64(len(r.Key)) > math.MaxUint32 {
		return dst, fmt.Errorf("encode record: a value or key of more than %d bytes", uint64(math.MaxUint32))
	}
	dst = append(dst, 0x80|byte(n))
	dst = append(dst, 0xa5, 'v', 'a', 'l', 'u', 'e')
	dst = appendBin(dst, r.Value)
	dst = append(dst, 0xa6, 'o', 'f', 'f', 's', 'e', 't')
	dst = appendMsgpackUint(dst, r.Offset)
	dst = append(dst, 0xa9, 't', 'i', 'm', 'e', 's', 't', 'a', 'm', 'p')
	dst = appendMsgpackInt(dst, r.Timestamp)
	if len(r.Key) > 0 {
		dst = append(dst, 0xa3, 'k', 'e', 'y')
		dst = appendBin(dst, r.Key)
	}
	if len(r.Headers) > 0 || len(extra) > 0 {
		return appendHeaders(dst, r.Headers, extra)
	}
	return dst, nil
}

// appendHeaders appends the "headers" entry of h and extra, sorted by key
// as EncodeMsgpack writes it.
func appendHeaders(dst []byte, h map[string]string, extra []Header) ([]byte, error) {
	if len(h) == 0 && len(extra) <= 2 {
		// A stamp on a record without headers of its own, the usual
		// case: neither a map to range over nor a list to sort.
		var pair [2]Header
		all := pair[:copy(pair[:], extra)]
		if len(all) == 2 && all[1].Key < all[0].Key {
			all[0], all[1] = all[1], all[0]
		}
		return appendHeaderList(dst, all)
	}
	var buf [8]Header
	all := buf[:0]
	for k, v := range h {
		if !slices.ContainsFunc(extra, func(x Header) bool { return x.Key == k }) {
			all = append(all, Header{Key: k, Value: v})
		}
	}
	all = append(all, extra...)
	slices.SortFunc(all, func(a, b Header) int { return strings.Compare(a.Key, b.Key) })
	return appendHeaderList(dst, all)
}

// appendHeaderList appends the "headers" entry of all, sorted by key.
func appendHeaderList(dst []byte, all []Header) ([]byte, error) {
	for _, x := range all {
		if uint64(len(x.Key)) > math.MaxUint32 || uint64(len(x.Value)) > math.MaxUint32 {
			return dst, fmt.Errorf("encode record: a header of more than %d bytes", uint64(math.MaxUint32))
		}
	}
	dst = append(dst, 0xa7, 'h', 'e', 'a', 'd', 'e', 'r', 's')
	dst = appendMapLen(dst, len(all))
	for _, x := range all {
		dst = appendMsgpackStr(dst, x.Key)
		dst = appendMsgpackStr(dst, x.Value)
	}
	return dst, nil
}

// appendBin appends b as the library's EncodeBytes does: nil as nil, any
// other slice as bin8, bin16 or bin32.
func appendBin(dst, b []byte) []byte {
	switch n := len(b); {
	case b == nil:
		return append(dst, 0xc0)
	case n <= math.MaxUint8:
		dst = append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xc5), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xc6), uint32(n))
	}
	return append(dst, b...)
}

// appendMsgpackStr appends s as the library's EncodeString does.
func appendMsgpackStr(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

// appendMapLen appends a map header as the library's EncodeMapLen does.
func appendMapLen(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xde), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(n))
}

// appendMsgpackUint appends n in its shortest encoding, as the library's
// EncodeUint does.
func appendMsgpackUint(dst []byte, n uint64) []byte {
	switch {
	case n <= math.MaxInt8:
		return append(dst, byte(n))
	case n <= math.MaxUint8:
		return append(dst, 0xcc, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xcf), n)
}

// appendMsgpackInt appends n in its shortest encoding, unsigned when it
// is not negative, as the library's EncodeInt does.
func appendMsgpackInt(dst []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendMsgpackUint(dst, uint64(n))
	case n >= -32:
		return append(dst, byte(n))
	case n >= math.MinInt8:
		return append(dst, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(n))
}
