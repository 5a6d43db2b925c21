package messages

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// JSONGrowth bounds how much MsgpackToJSON can grow a body: its output
// is at most JSONGrowth*len(body)+16 bytes. The worst case is bytes that
// need escaping or base64, which is what a caller sizing a reply against
// a payload limit must allow for.
const JSONGrowth = 7

// MsgpackToJSON converts one msgpack body, after Validate, into compact
// JSON, keeping the order of map keys:
//
//   - integers become JSON numbers, exactly as they are (uint64 included);
//     nil, booleans and floats become null, true/false and numbers (a NaN
//     or an infinity has no JSON form and is an error).
//   - a str or bin map value under key K becomes the string K when it is
//     valid UTF-8, and its base64 (standard alphabet, padded) under
//     K_base64 otherwise.
//   - a map value under key K whose values are all str or bin, such as a
//     record's headers, is split the same way one level down: the values
//     that are text go in an object under K, the others, base64, in an
//     object under K_base64; each object is left out when empty.
//   - a str or bin anywhere else (an array element, the whole body)
//     becomes a string when it is text and {"base64": "..."} otherwise.
//   - map keys become strings: str and bin keys as text, with any invalid
//     UTF-8 replaced by U+FFFD, and integer keys in decimal. Other keys
//     are an error.
//
// The result of an evlog reply is the JSON form of the protocol that the
// README documents, and the input of a JSON request where the keys agree.
func MsgpackToJSON(body []byte) ([]byte, error) {
	if err := Validate(body); err != nil {
		return nil, err
	}
	out, _, err := appendJSONValue(make([]byte, 0, len(body)+len(body)/2+16), body, 0)
	return out, err
}

// mpItem is the head of one msgpack value that Validate has checked.
type mpItem struct {
	kind  mpKind
	u     uint64  // mpUint; mpBool as 0 or 1
	i     int64   // mpInt
	f     float64 // mpFloat
	bits  int     // mpFloat: 32 or 64
	bytes []byte  // mpBytes
	n     int     // mpArray and mpMap: the count
}

type mpKind int

const (
	mpNil mpKind = iota
	mpBool
	mpUint
	mpInt
	mpFloat
	mpBytes
	mpArray
	mpMap
)

// readItem reads the head of the value at b[i] and returns the position
// after it: after the whole value for scalars and byte strings, after the
// count for arrays and maps. b must have passed Validate, which refuses
// extensions and lengths beyond the data.
func readItem(b []byte, i int) (mpItem, int) {
	c := b[i]
	i++
	switch {
	case c <= 0x7f:
		return mpItem{kind: mpUint, u: uint64(c)}, i
	case c >= 0xe0:
		return mpItem{kind: mpInt, i: int64(int8(c))}, i
	case c >= 0x80 && c <= 0x8f:
		return mpItem{kind: mpMap, n: int(c & 0x0f)}, i
	case c >= 0x90 && c <= 0x9f:
		return mpItem{kind: mpArray, n: int(c & 0x0f)}, i
	case c >= 0xa0 && c <= 0xbf:
		n := int(c & 0x1f)
		return mpItem{kind: mpBytes, bytes: b[i : i+n]}, i + n
	}
	switch c {
	case 0xc2, 0xc3:
		return mpItem{kind: mpBool, u: uint64(c - 0xc2)}, i
	case 0xcc, 0xcd, 0xce, 0xcf:
		w := 1 << (c - 0xcc)
		return mpItem{kind: mpUint, u: beUint(b[i : i+w])}, i + w
	case 0xd0, 0xd1, 0xd2, 0xd3:
		w := 1 << (c - 0xd0)
		return mpItem{kind: mpInt, i: beInt(b[i : i+w])}, i + w
	case 0xca:
		return mpItem{kind: mpFloat, bits: 32, f: float64(math.Float32frombits(binary.BigEndian.Uint32(b[i:])))}, i + 4
	case 0xcb:
		return mpItem{kind: mpFloat, bits: 64, f: math.Float64frombits(binary.BigEndian.Uint64(b[i:]))}, i + 8
	case 0xc4, 0xc5, 0xc6, 0xd9, 0xda, 0xdb:
		w := 1 << (c - 0xc4) // bin8, bin16, bin32
		if c >= 0xd9 {
			w = 1 << (c - 0xd9) // str8, str16, str32
		}
		n := int(beUint(b[i : i+w]))
		i += w
		return mpItem{kind: mpBytes, bytes: b[i : i+n]}, i + n
	case 0xdc, 0xdd:
		w := 2 << (c - 0xdc)
		return mpItem{kind: mpArray, n: int(beUint(b[i : i+w]))}, i + w
	case 0xde, 0xdf:
		w := 2 << (c - 0xde)
		return mpItem{kind: mpMap, n: int(beUint(b[i : i+w]))}, i + w
	}
	return mpItem{kind: mpNil}, i // 0xc0: Validate let nothing else through
}

func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func beInt(b []byte) int64 {
	v := int64(int8(b[0]))
	for _, c := range b[1:] {
		v = v<<8 | int64(c)
	}
	return v
}

// appendJSONValue appends the JSON of the value at b[i] and returns the
// position after it.
func appendJSONValue(dst, b []byte, i int) ([]byte, int, error) {
	it, i := readItem(b, i)
	switch it.kind {
	case mpNil:
		return append(dst, "null"...), i, nil
	case mpBool:
		return strconv.AppendBool(dst, it.u == 1), i, nil
	case mpUint:
		return strconv.AppendUint(dst, it.u, 10), i, nil
	case mpInt:
		return strconv.AppendInt(dst, it.i, 10), i, nil
	case mpFloat:
		if math.IsNaN(it.f) || math.IsInf(it.f, 0) {
			return nil, 0, fmt.Errorf("%w: float %v has no JSON form", ErrMalformed, it.f)
		}
		return strconv.AppendFloat(dst, it.f, 'g', -1, it.bits), i, nil
	case mpBytes:
		if utf8.Valid(it.bytes) {
			return appendJSONString(dst, it.bytes), i, nil
		}
		dst = append(dst, `{"base64":`...)
		return append(appendBase64(dst, it.bytes), '}'), i, nil
	case mpArray:
		dst = append(dst, '[')
		var err error
		for k := 0; k < it.n; k++ {
			if k > 0 {
				dst = append(dst, ',')
			}
			if dst, i, err = appendJSONValue(dst, b, i); err != nil {
				return nil, 0, err
			}
		}
		return append(dst, ']'), i, nil
	}
	return appendJSONMap(dst, b, i, it.n)
}

// appendJSONMap appends the JSON object of the n map entries at b[i].
func appendJSONMap(dst, b []byte, i, n int) ([]byte, int, error) {
	dst = append(dst, '{')
	first := true
	for ; n > 0; n-- {
		key, next, err := jsonKey(b, i)
		if err != nil {
			return nil, 0, err
		}
		i = next
		if dst, i, err = appendJSONEntry(dst, b, i, key, &first); err != nil {
			return nil, 0, err
		}
	}
	return append(dst, '}'), i, nil
}

// jsonKey reads a map key at b[i] as the text of a JSON object key.
func jsonKey(b []byte, i int) ([]byte, int, error) {
	it, next := readItem(b, i)
	switch it.kind {
	case mpBytes:
		return it.bytes, next, nil
	case mpUint:
		return strconv.AppendUint(nil, it.u, 10), next, nil
	case mpInt:
		return strconv.AppendInt(nil, it.i, 10), next, nil
	}
	return nil, 0, fmt.Errorf("%w: map key at byte %d is not a string or an integer", ErrMalformed, i)
}

// appendJSONEntry appends the member or members that the value at b[i]
// under key becomes, with a comma before each but the first of the
// object.
func appendJSONEntry(dst, b []byte, i int, key []byte, first *bool) ([]byte, int, error) {
	member := func(suffix string) {
		if !*first {
			dst = append(dst, ',')
		}
		*first = false
		dst = append(appendJSONString(dst, append(key[:len(key):len(key)], suffix...)), ':')
	}
	it, next := readItem(b, i)
	switch {
	case it.kind == mpBytes && utf8.Valid(it.bytes):
		member("")
		return appendJSONString(dst, it.bytes), next, nil
	case it.kind == mpBytes:
		member("_base64")
		return appendBase64(dst, it.bytes), next, nil
	case it.kind == mpMap && splitsText(b, next, it.n):
		var text, b64 []byte
		text, b64, next = splitStrings(b, next, it.n)
		if len(text) > 0 {
			member("")
			dst = append(append(append(dst, '{'), text...), '}')
		}
		member("_base64")
		return append(append(append(dst, '{'), b64...), '}'), next, nil
	}
	member("")
	return appendJSONValue(dst, b, i)
}

// splitsText reports whether the n map entries at b[i] all have byte
// string values, at least one of them not UTF-8: the headers of a record
// that splitStrings divides into text and base64.
func splitsText(b []byte, i, n int) bool {
	found := false
	for ; n > 0; n-- {
		i, _ = skipValue(b, i, 0) // the key; Validate has checked it
		it, next := readItem(b, i)
		if it.kind != mpBytes {
			return false
		}
		found = found || !utf8.Valid(it.bytes)
		i = next
	}
	return found
}

// splitStrings returns the members of the n map entries at b[i] whose
// values are text and, apart, those whose values are not, as base64,
// and the position after the map. splitsText has checked the entries.
func splitStrings(b []byte, i, n int) (text, b64 []byte, next int) {
	for ; n > 0; n-- {
		key, j, _ := jsonKey(b, i)
		it, k := readItem(b, j)
		i = k
		if utf8.Valid(it.bytes) {
			if len(text) > 0 {
				text = append(text, ',')
			}
			text = appendJSONString(append(appendJSONString(text, key), ':'), it.bytes)
			continue
		}
		if len(b64) > 0 {
			b64 = append(b64, ',')
		}
		b64 = appendBase64(append(appendJSONString(b64, key), ':'), it.bytes)
	}
	return text, b64, i
}

// appendBase64 appends b as a JSON string of its standard base64.
func appendBase64(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// appendJSONString appends s as a JSON string. Unlike encoding/json it
// does not escape <, > and &, which a terminal shows better as they are;
// invalid UTF-8 becomes U+FFFD, as it does there.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		switch {
		case r == utf8.RuneError && size == 1:
			dst = utf8.AppendRune(dst, utf8.RuneError)
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			dst = append(dst, s[:size]...)
		}
		s = s[size:]
	}
	return append(dst, '"')
}
