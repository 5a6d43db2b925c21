package messages

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/vmihailenco/msgpack/v5"
)

// Bodies of a few bytes whose declared lengths would make a decoder that
// believes them allocate gigabytes, or recurse without bound.
var (
	// {"records": array32 of 4294967295}: 14 bytes.
	bombRecords = []byte{0x81, 0xa7, 'r', 'e', 'c', 'o', 'r', 'd', 's', 0xdd, 0xff, 0xff, 0xff, 0xff}
	// A bin32 header of 4 GiB - 1 and no data: 5 bytes.
	bombBin32 = []byte{0xc6, 0xff, 0xff, 0xff, 0xff}
	// {"value": bin32 of 4 GiB - 1}.
	bombValue = append([]byte{0x81, 0xa5, 'v', 'a', 'l', 'u', 'e'}, bombBin32...)
	// str32, map32 and array32 headers of 4294967295.
	bombStr32   = []byte{0xdb, 0xff, 0xff, 0xff, 0xff}
	bombMap32   = []byte{0xdf, 0xff, 0xff, 0xff, 0xff}
	bombArray32 = []byte{0xdd, 0xff, 0xff, 0xff, 0xff}
	// array16 and map16 of 65535 with one item present.
	bombArray16 = []byte{0xdc, 0xff, 0xff, 0x01}
	bombMap16   = []byte{0xde, 0xff, 0xff, 0xa1, 'k', 0x01}
	// 100000 nested one-element arrays.
	bombDeep = append(bytes.Repeat([]byte{0x91}, 100_000), 0x01)
	// An ext8 whose payload is {"x": array32 of 4294967295}: the library
	// reads a map inside an extension where it expects a map, so this got
	// past a Validate that treated extension payloads as opaque and made
	// Unmarshal into map[string]any allocate 64 GiB.
	bombExt = []byte{0xc7, 0x08, 0x05, 0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff}
)

// inField returns {key: bomb}.
func inField(key string, bomb []byte) []byte {
	b := append([]byte{0x81, 0xa0 | byte(len(key))}, key...)
	return append(b, bomb...)
}

func TestUnmarshalBombs(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		into func() any
	}{
		{"records array32 into AppendRequest", bombRecords, func() any { return &AppendRequest{} }},
		{"records array32 into map", bombRecords, func() any { return &map[string]any{} }},
		{"records array32 into ReadReply", bombRecords, func() any { return &ReadReply{} }},
		{"records array32 into any", bombRecords, func() any { return new(any) }},
		{"bin32 into Record value", bombValue, func() any { return &Record{} }},
		{"bin32 into Record key", inField("key", bombBin32), func() any { return &Record{} }},
		{"bin32 into unknown Record field", inField("x", bombBin32), func() any { return &Record{} }},
		{"bin32 into bytes", bombBin32, func() any { return new([]byte) }},
		{"bin32 into any", bombBin32, func() any { return new(any) }},
		{"str32 into string", bombStr32, func() any { return new(string) }},
		{"str32 into Record value", inField("value", bombStr32), func() any { return &Record{} }},
		{"str32 as map key", append([]byte{0x81}, bombStr32...), func() any { return &map[string]any{} }},
		{"str32 as Record key", append([]byte{0x81}, bombStr32...), func() any { return &Record{} }},
		{"map32 into map", bombMap32, func() any { return &map[string]any{} }},
		{"map32 into Record", bombMap32, func() any { return &Record{} }},
		{"map32 into AppendRequest", bombMap32, func() any { return &AppendRequest{} }},
		{"map32 into ReadRequest", bombMap32, func() any { return &ReadRequest{} }},
		{"map32 into Record headers", inField("headers", bombMap32), func() any { return &Record{} }},
		{"array32 into slice", bombArray32, func() any { return new([]any) }},
		{"array16 into slice", bombArray16, func() any { return new([]any) }},
		{"array16 records into AppendRequest", inField("records", bombArray16), func() any { return &AppendRequest{} }},
		{"map16 into map", bombMap16, func() any { return &map[string]any{} }},
		{"map16 into InfoReply", bombMap16, func() any { return &InfoReply{} }},
		{"map16 into Record headers", inField("headers", bombMap16), func() any { return &Record{} }},
		{"deep nesting into any", bombDeep, func() any { return new(any) }},
		{"deep nesting into slice", bombDeep, func() any { return new([]any) }},
		{"deep nesting into records", inField("records", bombDeep), func() any { return &AppendRequest{} }},
		{"deep nesting into unknown field", inField("x", bombDeep), func() any { return &ReadRequest{} }},
		{"ext around map into map", bombExt, func() any { return &map[string]any{} }},
		{"ext around map into AppendRequest", bombExt, func() any { return &AppendRequest{} }},
		{"ext around map into Record", bombExt, func() any { return &Record{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.into()
			var err error
			start := time.Now()
			n := allocated(func() { err = Unmarshal(tc.data, v) })
			elapsed := time.Since(start)
			assertMalformed(t, err)
			if n > maxAlloc {
				t.Errorf("Unmarshal allocated %d bytes for a %d-byte body", n, len(tc.data))
			}
			if elapsed > time.Second {
				t.Errorf("Unmarshal took %v", elapsed)
			}
		})
	}
}

// A caller that decodes with the library directly loses Validate, but the
// hand-written decoders still check every declared length against the
// bytes left (checkLen) and bound how deep they skip.
func TestLibraryUnmarshalBombs(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		into func() any
	}{
		{"records array32 into AppendRequest", bombRecords, func() any { return &AppendRequest{} }},
		{"records array32 into ReadReply", bombRecords, func() any { return &ReadReply{} }},
		{"records array16 into AppendRequest", inField("records", bombArray16), func() any { return &AppendRequest{} }},
		{"bin32 into Record value", bombValue, func() any { return &Record{} }},
		{"bin32 into Record key", inField("key", bombBin32), func() any { return &Record{} }},
		{"bin32 in a record of AppendRequest", append([]byte{0x81, 0xa7, 'r', 'e', 'c', 'o', 'r', 'd', 's', 0x91}, bombValue...), func() any { return &AppendRequest{} }},
		{"str32 as Record key", append([]byte{0x81}, bombStr32...), func() any { return &Record{} }},
		{"map32 into Record", bombMap32, func() any { return &Record{} }},
		{"map32 into AppendRequest", bombMap32, func() any { return &AppendRequest{} }},
		{"map32 into Committed", bombMap32, func() any { return &Committed{} }},
		{"map32 into Record headers", inField("headers", bombMap32), func() any { return &Record{} }},
		// Decoder.Skip, which Record used for unknown keys, reads a 4 GiB
		// length in 1 MiB chunks before it notices the data is short.
		{"bin32 into unknown Record field", inField("x", bombBin32), func() any { return &Record{} }},
		{"bin32 into unknown AppendRequest field", inField("x", bombBin32), func() any { return &AppendRequest{} }},
		{"array32 into unknown ReadRequest field", inField("x", bombArray32), func() any { return &ReadRequest{} }},
		{"deep nesting into unknown field", inField("x", bombDeep), func() any { return &Record{} }},
		{"ext around map into AppendRequest", bombExt, func() any { return &AppendRequest{} }},
		{"ext in unknown field", inField("x", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}), func() any { return &Record{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.into()
			var err error
			n := allocated(func() { err = msgpack.Unmarshal(tc.data, v) })
			if err == nil {
				t.Fatalf("msgpack.Unmarshal accepted %x", tc.data)
			}
			if n > maxAlloc {
				t.Errorf("msgpack.Unmarshal allocated %d bytes for a %d-byte body (err %v)", n, len(tc.data), err)
			}
		})
	}
}

// Decoding allocates in proportion to the body: a body that declares as
// many records as it has bytes, each an empty map, costs at most the
// records' slice.
func TestAppendRequestAllocationBounded(t *testing.T) {
	const n = 10_000
	body := inField("records", append([]byte{0xdc, byte(n >> 8), byte(n & 0xff)}, bytes.Repeat([]byte{0x80}, n)...))
	var req AppendRequest
	var err error
	got := allocated(func() { err = Unmarshal(body, &req) })
	if err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if len(req.Records) != n {
		t.Fatalf("decoded %d records, want %d", len(req.Records), n)
	}
	// The slice of n records, plus a little for the decoder.
	if limit := uint64(n)*uint64(unsafe.Sizeof(Record{})) + maxAlloc; got > limit {
		t.Fatalf("allocated %d bytes for a %d-byte body, limit %d", got, len(body), limit)
	}
}

// TestUnmarshalAppendRequestLimit: a body of many tiny records is refused
// before the decoder allocates a Record for each, which would take dozens
// of times the body's size.
func TestUnmarshalAppendRequestLimit(t *testing.T) {
	const n = 1 << 20
	body := append([]byte{0x81, 0xa7}, "records"...)
	body = append(body, 0xdd, 0x00, 0x10, 0x00, 0x00) // array32 of 1 Mi
	body = append(body, bytes.Repeat([]byte{0x80}, n)...)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := UnmarshalAppendRequest(body, 10000)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooManyRecords) || errors.Is(err, ErrMalformed) {
		t.Fatalf("err %v, want ErrTooManyRecords only", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > uint64(len(body)) {
		t.Fatalf("allocated %d bytes for a %d-byte body", got, len(body))
	}

	small := append(append([]byte{0x81, 0xa7}, "records"...), 0x92, 0x81, 0xa5, 'v', 'a', 'l', 'u', 'e', 0xc4, 0x01, 'x', 0x80)
	if ar, err := UnmarshalAppendRequest(small, 2); err != nil || len(ar.Records) != 2 {
		t.Fatalf("two records under a limit of two: %+v, %v", ar, err)
	}
	if _, err := UnmarshalAppendRequest(small, 1); !errors.Is(err, ErrTooManyRecords) {
		t.Fatalf("two records over a limit of one: %v", err)
	}
}

// TestHeadersMapNotSizedByDeclaredCount: duplicate header keys collapse,
// so the map must grow with what it holds, not with what the body claims.
func TestHeadersMapNotSizedByDeclaredCount(t *testing.T) {
	const pairs = 1 << 18
	body := append([]byte{0x82, 0xa5}, "value"...)
	body = append(body, 0xc4, 0x01, 'x', 0xa7)
	body = append(body, "headers"...)
	body = append(body, 0xdf, 0x00, 0x04, 0x00, 0x00) // map32 of 256 Ki
	body = append(body, bytes.Repeat([]byte{0xa0, 0xa0}, pairs)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var r Record
	err := Unmarshal(body, &r)
	runtime.ReadMemStats(&after)
	if err != nil || len(r.Headers) != 1 {
		t.Fatalf("err %v, headers %d", err, len(r.Headers))
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > uint64(len(body)) {
		t.Fatalf("allocated %d bytes for a %d-byte body", got, len(body))
	}
}

// TestUnmarshalRecordBombs: UnmarshalRecord skips Validate, so the
// record's own decoder must refuse every bomb as cheaply.
func TestUnmarshalRecordBombs(t *testing.T) {
	for _, body := range [][]byte{
		{0xc6, 0xff, 0xff, 0xff, 0xff},
		append(append([]byte{0x81, 0xa5}, "value"...), 0xc6, 0xff, 0xff, 0xff, 0xff),
		append(append([]byte{0x81, 0xa7}, "headers"...), 0xdf, 0xff, 0xff, 0xff, 0xff),
		append(append([]byte{0x81, 0xa3}, "zzz"...), 0xdd, 0xff, 0xff, 0xff, 0xff),
		append(append([]byte{0x81, 0xa3}, "zzz"...), bytes.Repeat([]byte{0x91}, 100000)...),
		{0xdf, 0xff, 0xff, 0xff, 0xff},
		{0x81, 0xdb, 0xff, 0xff, 0xff, 0xff},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		var r Record
		err := UnmarshalRecord(body, &r)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("% x: err %v, want ErrMalformed", body[:min(len(body), 16)], err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
			t.Fatalf("% x: allocated %d bytes", body[:min(len(body), 16)], got)
		}
	}
	want := Record{Value: []byte("v"), Offset: 3, Timestamp: 4, Key: []byte("k"), Headers: map[string]string{"a": "b"}}
	b, err := Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got Record
	if err := UnmarshalRecord(b, &got); err != nil || got.Offset != 3 || string(got.Value) != "v" || got.Headers["a"] != "b" {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if err := UnmarshalRecord(append(b, 0x00), &got); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte: %v", err)
	}
}

// TestUnmarshalAppendRequestBombs: UnmarshalAppendRequest skips Validate,
// so AppendRequest's own decoder must refuse every bomb, wherever in the
// body it sits, without allocating for it.
func TestUnmarshalAppendRequestBombs(t *testing.T) {
	record := func(field []byte) []byte {
		return append(append([]byte{0x81, 0xa7}, "records"...), append([]byte{0x91}, field...)...)
	}
	for name, body := range map[string][]byte{
		"records array32":          bombRecords,
		"bin32 body":               bombBin32,
		"map32 body":               bombMap32,
		"value bin32":              record(bombValue),
		"key bin32":                record(inField("key", bombBin32)),
		"headers map32":            record(inField("headers", bombMap32)),
		"unknown record field":     record(inField("x", bombArray32)),
		"unknown body field":       inField("x", bombStr32),
		"deep unknown field":       inField("x", bombDeep),
		"ext in unknown field":     inField("x", bombExt),
		"records array16 short":    append(append([]byte{0x81, 0xa7}, "records"...), bombArray16...),
		"record map16 short":       record(bombMap16),
		"records inside extension": inField("records", bombExt),
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := UnmarshalAppendRequest(body, 0)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err %v, want ErrMalformed", err)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
				t.Fatalf("allocated %d bytes", got)
			}
		})
	}
}

// TestBombIsMalformedNotTooLarge: a count no body of its size could hold
// is malformed (400 over NATS) even when it also exceeds the record limit.
func TestBombIsMalformedNotTooLarge(t *testing.T) {
	_, err := UnmarshalAppendRequest(bombRecords, 3)
	if !errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooManyRecords) {
		t.Fatalf("err %v, want ErrMalformed only", err)
	}
}
