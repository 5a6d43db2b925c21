package messages

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// checkFastAgrees fails if the fast path accepts data and the library's
// decoder does not, or decodes it to something else: the fast path may
// only give up, never decide.
func checkFastAgrees(t *testing.T, data []byte, maxRecords int) {
	t.Helper()
	fast, ok := decodeAppendFast(data, maxRecords)
	if !ok {
		return
	}
	slow, err := decodeAppendLibrary(data, maxRecords)
	if err != nil {
		t.Fatalf("fast path accepted %x, the library refuses it: %v", data, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%x: fast path decoded %+v, the library %+v", data, fast, slow)
	}
}

// appendBodies are append requests in the encodings clients write and in
// the unusual ones the fast path leaves to the library.
func appendBodies(t *testing.T) [][]byte {
	t.Helper()
	off := uint64(70000)
	var bodies [][]byte
	for _, ar := range []AppendRequest{
		{},
		{Records: []Record{{Value: []byte("x")}}},
		{Records: []Record{{Value: bytes.Repeat([]byte("v"), 300), Key: bytes.Repeat([]byte("k"), 70000)}}, ID: "id-1", ExpectedOffset: &off},
		{Records: []Record{{Key: []byte("k"), Headers: map[string]string{"a": "b", "c": ""}}, {Value: []byte{}}}},
		{Records: []Record{{Value: []byte("t"), Offset: 1 << 40, Timestamp: -5}, {Value: []byte("u"), Timestamp: -1 << 40}, {Value: []byte("w"), Timestamp: 1 << 62}}},
	} {
		b, err := Marshal(ar)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	// Reflection writes a nil id, nil headers and signed integers; the
	// library's encoder writes the value as str when asked.
	for _, v := range []any{
		map[string]any{"records": []map[string]any{{"value": "as str", "timestamp": int64(-3), "offset": int8(4)}}, "id": nil},
		map[string]any{"records": []map[string]any{{"value": nil, "extra": 1}}},
		map[string]any{"records": nil, "expected_offset": nil},
		map[string]any{"records": []map[string]any{{"value": []byte("a")}, {"value": []byte("b")}, {"value": []byte("c")}, {"value": []byte("d")}}},
		map[string]any{"id": ""},
	} {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	return bodies
}

// TestAppendFastAgrees decodes bodies, every prefix of them and every one
// with a byte changed, by both paths: whatever the fast path accepts, the
// library decodes the same.
func TestAppendFastAgrees(t *testing.T) {
	for _, body := range appendBodies(t) {
		for n := range len(body) + 1 {
			checkFastAgrees(t, body[:n], 3)
		}
		if len(body) > 2000 {
			continue
		}
		mutated := make([]byte, len(body))
		for i := range body {
			for _, x := range []byte{0x00, 0x7f, 0x80, 0x9f, 0xa0, 0xc0, 0xc4, 0xcc, 0xcf, 0xd0, 0xd3, 0xd9, 0xdc, 0xde, 0xe0, 0xff, body[i] + 1} {
				copy(mutated, body)
				mutated[i] = x
				checkFastAgrees(t, mutated, 3)
			}
		}
	}
}

// TestAppendFastTaken: the bodies the client writes take the fast path,
// and their values stay in the body instead of being copied.
func TestAppendFastTaken(t *testing.T) {
	for _, body := range appendBodies(t)[:5] {
		ar, ok := decodeAppendFast(body, 0)
		if !ok {
			t.Fatalf("fast path gave up on %s", hex.EncodeToString(body))
		}
		for i, r := range ar.Records {
			if len(r.Value) > 0 && !within(r.Value, body) {
				t.Fatalf("record %d's value was copied out of the body", i)
			}
			if cap(r.Value) != len(r.Value) {
				t.Fatalf("record %d's value has capacity %d past its %d bytes: appending would write over the body", i, cap(r.Value), len(r.Value))
			}
		}
	}
}

// within reports whether b lies inside buf's memory.
func within(b, buf []byte) bool {
	p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(buf))
}
