package messages

import (
	"bytes"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range sampleBodies() {
		t.Run(tc.name, func(t *testing.T) {
			b := mustMarshal(t, tc.v)
			got := newLike(tc.v)
			if err := Unmarshal(b, got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !equalBodies(got, tc.v) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", normBody(got), normBody(tc.v))
			}
			// Encoding is canonical: what came back encodes to the same bytes.
			if again := mustMarshal(t, got); !bytes.Equal(again, b) {
				t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, b)
			}
		})
	}
}

func TestRoundTripRecords(t *testing.T) {
	for _, tc := range sampleRecords() {
		rec := tc.rec
		t.Run(tc.name, func(t *testing.T) {
			var got Record
			if err := Unmarshal(mustMarshal(t, rec), &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, normRecord(rec)) {
				t.Fatalf("got %+v, want %+v", got, normRecord(rec))
			}
			// nil and empty Value stay apart: the field is not omitempty.
			if (got.Value == nil) != (rec.Value == nil) {
				t.Fatalf("Value nil = %v, want %v", got.Value == nil, rec.Value == nil)
			}
		})
	}
}

// The encoders must match the struct tags: the keys are what clients in
// other languages read, so they are compared with what reflection writes.
func TestKeysMatchTags(t *testing.T) {
	type reflectReadRequest struct {
		Offset     uint64 `msgpack:"offset"`
		MaxRecords uint64 `msgpack:"max_records,omitempty"`
		MaxBytes   uint64 `msgpack:"max_bytes,omitempty"`
		WaitMS     uint64 `msgpack:"wait_ms,omitempty"`
	}
	tests := []struct {
		name   string
		custom any
		plain  any // same fields and tags, no custom codec
	}{
		{"read request sparse", ReadRequest{Offset: 5, MaxBytes: 9}, reflectReadRequest{Offset: 5, MaxBytes: 9}},
		{"read request full", ReadRequest{Offset: 1, MaxRecords: 2, MaxBytes: 3, WaitMS: 4}, reflectReadRequest{1, 2, 3, 4}},
		{"read request zero", ReadRequest{}, reflectReadRequest{}},
		{"append reply", AppendReply{FirstOffset: 1, LastOffset: 2}, struct {
			FirstOffset uint64 `msgpack:"first_offset"`
			LastOffset  uint64 `msgpack:"last_offset"`
		}{1, 2}},
		{"committed", Committed{3, 4}, struct {
			FirstOffset uint64 `msgpack:"first_offset"`
			LastOffset  uint64 `msgpack:"last_offset"`
		}{3, 4}},
		{"truncate request", TruncateRequest{6}, struct {
			Lowest uint64 `msgpack:"lowest"`
		}{6}},
		{"truncate reply", TruncateReply{7}, struct {
			LowestOffset uint64 `msgpack:"lowest_offset"`
		}{7}},
		{"info reply", InfoReply{1, 2, 3, 4}, struct {
			LowestOffset uint64 `msgpack:"lowest_offset"`
			NextOffset   uint64 `msgpack:"next_offset"`
			Segments     uint64 `msgpack:"segments"`
			Bytes        uint64 `msgpack:"bytes"`
		}{1, 2, 3, 4}},
		{"record", Record{Value: []byte("v"), Offset: 1, Timestamp: -2, Key: []byte("k"), Headers: map[string]string{"h": "x"}}, reflectRecord{Value: []byte("v"), Offset: 1, Timestamp: -2, Key: []byte("k"), Headers: map[string]string{"h": "x"}}},
		{"record sparse", Record{Value: []byte("v")}, reflectRecord{Value: []byte("v")}},
		{"append request", AppendRequest{Records: []Record{{Value: []byte("v")}}}, reflectAppendRequest{Records: []reflectRecord{{Value: []byte("v")}}}},
		{"read reply", ReadReply{Records: []Record{{Value: []byte("v")}}, NextOffset: 9}, struct {
			Records    []reflectRecord `msgpack:"records"`
			NextOffset uint64          `msgpack:"next_offset"`
		}{[]reflectRecord{{Value: []byte("v")}}, 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var custom, plain map[string]any
			if err := msgpack.Unmarshal(mustMarshal(t, tc.custom), &custom); err != nil {
				t.Fatal(err)
			}
			b, err := msgpack.Marshal(tc.plain)
			if err != nil {
				t.Fatal(err)
			}
			if err := msgpack.Unmarshal(b, &plain); err != nil {
				t.Fatal(err)
			}
			// Integers come back as whatever width was written; compare
			// them as text.
			if got, want := sprintMap(custom), sprintMap(plain); got != want {
				t.Fatalf("custom encoder wrote %s, reflection %s", got, want)
			}
		})
	}
}

func TestDecodeNilIsZero(t *testing.T) {
	nilBody := []byte{0xc0}
	for _, tc := range sampleBodies() {
		t.Run(tc.name, func(t *testing.T) {
			got := newLike(tc.v)
			if err := Unmarshal(nilBody, got); err != nil {
				t.Fatalf("Unmarshal(nil): %v", err)
			}
			if zero := reflect.Zero(reflect.TypeOf(tc.v)).Interface(); !reflect.DeepEqual(normBody(got), zero) {
				t.Fatalf("got %+v, want zero", normBody(got))
			}
		})
	}
}

func TestDecodeNilFields(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		into any
		want any
	}{
		{"read request", mapBody(t, "offset", 0, "max_records", nil, "max_bytes", nil, "wait_ms", nil), &ReadRequest{}, ReadRequest{}},
		{"record", mapBody(t, "value", nil, "offset", nil, "timestamp", nil, "key", nil, "headers", nil), &Record{}, Record{}},
		{"append request", mapBody(t, "records", nil), &AppendRequest{}, AppendRequest{}},
		{"append request nil record", mapBody(t, "records", []any{nil}), &AppendRequest{}, AppendRequest{Records: []Record{{}}}},
		{"read reply", mapBody(t, "records", nil, "next_offset", nil), &ReadReply{}, ReadReply{}},
		{"info reply", mapBody(t, "segments", nil, "bytes", 5), &InfoReply{}, InfoReply{Bytes: 5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Unmarshal(tc.body, tc.into); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if got := normBody(tc.into); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Unmarshal into a value that already holds data leaves nothing of it
// behind: fields missing from the body are zero.
func TestDecodeResetsTarget(t *testing.T) {
	r := ReadRequest{Offset: 1, MaxRecords: 2, MaxBytes: 3, WaitMS: 4}
	if err := Unmarshal(mustMarshal(t, ReadRequest{Offset: 9}), &r); err != nil {
		t.Fatal(err)
	}
	if r != (ReadRequest{Offset: 9}) {
		t.Fatalf("got %+v", r)
	}
	rec := Record{Value: []byte("old"), Key: []byte("old"), Headers: map[string]string{"a": "b"}}
	if err := Unmarshal(mustMarshal(t, Record{Value: []byte("new")}), &rec); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rec, Record{Value: []byte("new")}) {
		t.Fatalf("got %+v", rec)
	}
}

// Every msgpack integer encoding of a non-negative number is accepted for
// an unsigned field, and every negative one is refused.
func TestDecodeUintEncodings(t *testing.T) {
	tests := []struct {
		name    string
		enc     func(e *msgpack.Encoder) error
		want    uint64
		wantErr bool
	}{
		{"positive fixint", func(e *msgpack.Encoder) error { return e.EncodeUint(127) }, 127, false},
		{"uint8", func(e *msgpack.Encoder) error { return e.EncodeUint8(200) }, 200, false},
		{"uint16", func(e *msgpack.Encoder) error { return e.EncodeUint16(1) }, 1, false},
		{"uint32", func(e *msgpack.Encoder) error { return e.EncodeUint32(math.MaxUint32) }, math.MaxUint32, false},
		{"uint64", func(e *msgpack.Encoder) error { return e.EncodeUint64(math.MaxUint64) }, math.MaxUint64, false},
		{"int8", func(e *msgpack.Encoder) error { return e.EncodeInt8(5) }, 5, false},
		{"int16", func(e *msgpack.Encoder) error { return e.EncodeInt16(300) }, 300, false},
		{"int32", func(e *msgpack.Encoder) error { return e.EncodeInt32(70_000) }, 70_000, false},
		{"int64", func(e *msgpack.Encoder) error { return e.EncodeInt64(math.MaxInt64) }, math.MaxInt64, false},
		{"nil", func(e *msgpack.Encoder) error { return e.EncodeNil() }, 0, false},
		{"negative fixint", func(e *msgpack.Encoder) error { return e.EncodeInt(-1) }, 0, true},
		{"negative int8", func(e *msgpack.Encoder) error { return e.EncodeInt8(-100) }, 0, true},
		{"negative int16", func(e *msgpack.Encoder) error { return e.EncodeInt16(-1) }, 0, true},
		{"negative int32", func(e *msgpack.Encoder) error { return e.EncodeInt32(-1) }, 0, true},
		{"negative int64", func(e *msgpack.Encoder) error { return e.EncodeInt64(math.MinInt64) }, 0, true},
		{"float", func(e *msgpack.Encoder) error { return e.EncodeFloat64(1) }, 0, true},
		{"bool", func(e *msgpack.Encoder) error { return e.EncodeBool(true) }, 0, true},
		{"string", func(e *msgpack.Encoder) error { return e.EncodeString("1") }, 0, true},
		{"bin", func(e *msgpack.Encoder) error { return e.EncodeBytes([]byte{1}) }, 0, true},
		{"array", func(e *msgpack.Encoder) error { return e.EncodeArrayLen(0) }, 0, true},
		{"map", func(e *msgpack.Encoder) error { return e.EncodeMapLen(0) }, 0, true},
	}
	// Each unsigned field of each body, so that no decoder forgets the rule.
	fields := []struct {
		key  string
		into func() any
		get  func(v any) uint64
	}{
		{"offset", func() any { return &Record{} }, func(v any) uint64 { return v.(*Record).Offset }},
		{"first_offset", func() any { return &AppendReply{} }, func(v any) uint64 { return v.(*AppendReply).FirstOffset }},
		{"last_offset", func() any { return &AppendReply{} }, func(v any) uint64 { return v.(*AppendReply).LastOffset }},
		{"offset", func() any { return &ReadRequest{} }, func(v any) uint64 { return v.(*ReadRequest).Offset }},
		{"max_records", func() any { return &ReadRequest{} }, func(v any) uint64 { return v.(*ReadRequest).MaxRecords }},
		{"max_bytes", func() any { return &ReadRequest{} }, func(v any) uint64 { return v.(*ReadRequest).MaxBytes }},
		{"wait_ms", func() any { return &ReadRequest{} }, func(v any) uint64 { return v.(*ReadRequest).WaitMS }},
		{"next_offset", func() any { return &ReadReply{} }, func(v any) uint64 { return v.(*ReadReply).NextOffset }},
		{"lowest", func() any { return &TruncateRequest{} }, func(v any) uint64 { return v.(*TruncateRequest).Lowest }},
		{"lowest_offset", func() any { return &TruncateReply{} }, func(v any) uint64 { return v.(*TruncateReply).LowestOffset }},
		{"lowest_offset", func() any { return &InfoReply{} }, func(v any) uint64 { return v.(*InfoReply).LowestOffset }},
		{"next_offset", func() any { return &InfoReply{} }, func(v any) uint64 { return v.(*InfoReply).NextOffset }},
		{"segments", func() any { return &InfoReply{} }, func(v any) uint64 { return v.(*InfoReply).Segments }},
		{"bytes", func() any { return &InfoReply{} }, func(v any) uint64 { return v.(*InfoReply).Bytes }},
		{"first_offset", func() any { return &Committed{} }, func(v any) uint64 { return v.(*Committed).FirstOffset }},
		{"last_offset", func() any { return &Committed{} }, func(v any) uint64 { return v.(*Committed).LastOffset }},
	}
	for _, f := range fields {
		for _, tc := range tests {
			into := f.into()
			t.Run(reflect.TypeOf(into).Elem().Name()+"/"+f.key+"/"+tc.name, func(t *testing.T) {
				// A read request needs its offset, so the other fields
				// are tested next to one.
				_, isRead := into.(*ReadRequest)
				withOffset := isRead && f.key != "offset"
				body := build(t, func(e *msgpack.Encoder) error {
					if err := e.EncodeMapLen(1 + btoi(withOffset)); err != nil {
						return err
					}
					if withOffset {
						if err := e.EncodeString("offset"); err != nil {
							return err
						}
						if err := e.EncodeUint(0); err != nil {
							return err
						}
					}
					if err := e.EncodeString(f.key); err != nil {
						return err
					}
					return tc.enc(e)
				})
				err := Unmarshal(body, into)
				// nil is a missing key, which these fields may not be.
				required := map[string]bool{"ReadRequest/offset": true, "TruncateRequest/lowest": true}
				if tc.name == "nil" && required[reflect.TypeOf(into).Elem().Name()+"/"+f.key] {
					assertMalformed(t, err)
					return
				}
				if tc.wantErr {
					assertMalformed(t, err)
					return
				}
				if err != nil {
					t.Fatalf("Unmarshal: %v", err)
				}
				if got := f.get(into); got != tc.want {
					t.Fatalf("got %d, want %d", got, tc.want)
				}
			})
		}
	}
}

func TestDecodeTimestampEncodings(t *testing.T) {
	tests := []struct {
		name    string
		enc     func(e *msgpack.Encoder) error
		want    int64
		wantErr bool
	}{
		{"negative fixint", func(e *msgpack.Encoder) error { return e.EncodeInt(-32) }, -32, false},
		{"int64 min", func(e *msgpack.Encoder) error { return e.EncodeInt64(math.MinInt64) }, math.MinInt64, false},
		{"uint64 max int64", func(e *msgpack.Encoder) error { return e.EncodeUint64(math.MaxInt64) }, math.MaxInt64, false},
		{"uint64 overflow", func(e *msgpack.Encoder) error { return e.EncodeUint64(math.MaxInt64 + 1) }, 0, true},
		{"string", func(e *msgpack.Encoder) error { return e.EncodeString("now") }, 0, true},
		{"float", func(e *msgpack.Encoder) error { return e.EncodeFloat32(1) }, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := build(t, func(e *msgpack.Encoder) error {
				if err := e.EncodeMapLen(1); err != nil {
					return err
				}
				if err := e.EncodeString("timestamp"); err != nil {
					return err
				}
				return tc.enc(e)
			})
			var rec Record
			err := Unmarshal(body, &rec)
			if tc.wantErr {
				assertMalformed(t, err)
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if rec.Timestamp != tc.want {
				t.Fatalf("got %d, want %d", rec.Timestamp, tc.want)
			}
		})
	}
}

func TestDecodeWrongTypes(t *testing.T) {
	one := func(key string, v any) []byte { return mapBody(t, key, v) }
	tests := []struct {
		name string
		body []byte
		into any
	}{
		{"record value as int", one("value", 5), &Record{}},
		{"record value as map", one("value", map[string]any{}), &Record{}},
		{"record offset as string", one("offset", "5"), &Record{}},
		{"record negative offset", one("offset", -5), &Record{}},
		{"record key as bool", one("key", true), &Record{}},
		{"record headers as array", one("headers", []string{"a"}), &Record{}},
		{"record header value as int", one("headers", map[string]any{"a": 1}), &Record{}},
		{"record as array", build(t, func(e *msgpack.Encoder) error { return e.Encode([]int{1}) }), &Record{}},
		{"record integer key", build(t, func(e *msgpack.Encoder) error { return e.EncodeMulti(map[int]int{1: 1}) }), &Record{}},
		{"append request records as map", one("records", map[string]any{"value": []byte("x")}), &AppendRequest{}},
		{"append request records as string", one("records", "x"), &AppendRequest{}},
		{"append request record as int", one("records", []any{1}), &AppendRequest{}},
		{"append request record with negative offset", one("records", []any{map[string]any{"offset": -1}}), &AppendRequest{}},
		{"append request as string", build(t, func(e *msgpack.Encoder) error { return e.Encode("records") }), &AppendRequest{}},
		{"read request offset as string", one("offset", "0"), &ReadRequest{}},
		{"read request negative offset", one("offset", -1), &ReadRequest{}},
		{"read request max_bytes as float", one("max_bytes", 1.5), &ReadRequest{}},
		{"read reply records as map", one("records", map[string]any{}), &ReadReply{}},
		{"truncate request lowest as bin", one("lowest", []byte{1}), &TruncateRequest{}},
		{"info reply as int", build(t, func(e *msgpack.Encoder) error { return e.Encode(1) }), &InfoReply{}},
		{"committed nil key", []byte{0x81, 0xc0, 0x01}, &Committed{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertMalformed(t, Unmarshal(tc.body, tc.into))
		})
	}
}

// Keys a reader does not know are skipped whatever they hold, so that
// newer writers can add fields.
func TestDecodeSkipsUnknownKeys(t *testing.T) {
	long := "a_key_longer_than_the_thirty_two_byte_scratch"
	unknown := []any{
		"future", []any{1, "two", map[string]any{"three": []byte{3}}},
		long, "x",
		"offset_", -1,
		"f", 1.5,
	}
	body := func(known ...any) []byte {
		return mapBody(t, append(append([]any{}, unknown...), known...)...)
	}
	tests := []struct {
		name string
		body []byte
		into any
		want any
	}{
		{"record", body("value", []byte("v"), "offset", 3), &Record{}, Record{Value: []byte("v"), Offset: 3}},
		{"append request", body("records", []any{map[string]any{"value": []byte("v"), long: 1}}), &AppendRequest{}, AppendRequest{Records: []Record{{Value: []byte("v")}}}},
		{"append reply", body("last_offset", 2), &AppendReply{}, AppendReply{LastOffset: 2}},
		{"read request", body("offset", 5, "wait_ms", 6), &ReadRequest{}, ReadRequest{Offset: 5, WaitMS: 6}},
		{"read reply", body("next_offset", 8), &ReadReply{}, ReadReply{NextOffset: 8}},
		{"truncate request", body("lowest", 9), &TruncateRequest{}, TruncateRequest{Lowest: 9}},
		{"truncate reply", body("lowest_offset", 10), &TruncateReply{}, TruncateReply{LowestOffset: 10}},
		{"info reply", body("segments", 11), &InfoReply{}, InfoReply{Segments: 11}},
		{"committed", body("first_offset", 12), &Committed{}, Committed{FirstOffset: 12}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Unmarshal(tc.body, tc.into); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if got := normBody(tc.into); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A body Validate accepts but the decoder reads differently must not pass:
// Unmarshal checks that the decoder used up every byte.
func TestUnmarshalTrailingBytes(t *testing.T) {
	b := append(mustMarshal(t, ReadRequest{Offset: 1}), 0x01)
	assertMalformed(t, Unmarshal(b, &ReadRequest{}))
}

// mapBody encodes a map of the keys and values in kv, in that order.
func mapBody(t testing.TB, kv ...any) []byte {
	t.Helper()
	return build(t, func(e *msgpack.Encoder) error {
		if err := e.EncodeMapLen(len(kv) / 2); err != nil {
			return err
		}
		return e.EncodeMulti(kv...)
	})
}

// sprintMap prints a decoded map with sorted keys, and integers whatever
// width they were written in, so that two encodings compare as text.
func sprintMap(m map[string]any) string {
	return fmt.Sprint(m)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
