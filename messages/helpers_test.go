package messages

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// maxAlloc is what decoding a hostile body may allocate at most. Real
// decoding of these tiny bodies needs a few hundred bytes; a declared
// length that is believed needs gigabytes.
const maxAlloc = 64 << 10

// build encodes a body by hand through the library's encoder, so that a
// test can write integer encodings, types and keys the evlog encoders never
// produce.
func build(t testing.TB, fn func(e *msgpack.Encoder) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := fn(msgpack.NewEncoder(&buf)); err != nil {
		t.Fatalf("build body: %v", err)
	}
	return buf.Bytes()
}

// mustMarshal is Marshal that fails the test on error.
func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%T): %v", v, err)
	}
	return b
}

// assertMalformed fails the test unless err matches ErrMalformed.
func assertMalformed(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("error = %v, want one wrapping ErrMalformed", err)
	}
}

// allocated returns how many bytes of heap fn allocates. Tests that call it
// must not run in parallel with others, which would add theirs.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// normRecord returns r as it comes back from an encoding: the omitempty
// fields cannot tell nil from empty, so both become nil.
func normRecord(r Record) Record {
	if len(r.Key) == 0 {
		r.Key = nil
	}
	if len(r.Headers) == 0 {
		r.Headers = nil
	}
	return r
}

func normRecords(recs []Record) []Record {
	if len(recs) == 0 {
		return nil
	}
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[i] = normRecord(r)
	}
	return out
}

// sampleRecords covers the shapes a record can take: nil and empty value,
// key, headers, the extremes of offset and timestamp, and values that need
// each of bin8, bin16 and bin32.
func sampleRecords() []struct {
	name string
	rec  Record
} {
	return []struct {
		name string
		rec  Record
	}{
		{"zero", Record{}},
		{"empty value", Record{Value: []byte{}}},
		{"value", Record{Value: []byte("hello"), Offset: 1, Timestamp: 1_700_000_000_000_000_000}},
		{"key", Record{Value: []byte("k"), Key: []byte("user-42")}},
		{"empty key", Record{Value: []byte("k"), Key: []byte{}}},
		{"headers", Record{Value: []byte("h"), Headers: map[string]string{"b": "2", "a": "1", "": "", "ünï": "cödé"}}},
		{"empty headers", Record{Value: []byte("h"), Headers: map[string]string{}}},
		{"max offset and timestamp", Record{Value: []byte("max"), Offset: math.MaxUint64, Timestamp: math.MaxInt64}},
		{"negative timestamp", Record{Value: []byte("neg"), Timestamp: -1}},
		{"min timestamp", Record{Value: []byte("min"), Timestamp: math.MinInt64}},
		{"bin16 value", Record{Value: bytes.Repeat([]byte{0xab}, 300)}},
		{"bin32 value", Record{Value: bytes.Repeat([]byte{0xcd}, 70_000), Key: bytes.Repeat([]byte("k"), 40)}},
		{"everything", Record{Value: []byte("all"), Offset: 7, Timestamp: 8, Key: []byte{0}, Headers: map[string]string{strings.Repeat("x", 40): "long key"}}},
	}
}

func sampleRecordValues() []Record {
	var recs []Record
	for _, s := range sampleRecords() {
		recs = append(recs, s.rec)
	}
	return recs
}

// sampleBodies returns one of each value Marshal is used for, by name.
func sampleBodies() []struct {
	name string
	v    any
} {
	recs := sampleRecordValues()
	return []struct {
		name string
		v    any
	}{
		{"record zero", Record{}},
		{"record full", recs[len(recs)-1]},
		{"record large", recs[len(recs)-2]},
		{"append request empty", AppendRequest{}},
		{"append request", AppendRequest{Records: recs}},
		{"append reply", AppendReply{FirstOffset: 1, LastOffset: math.MaxUint64}},
		{"read request zero", ReadRequest{}},
		{"read request", ReadRequest{Offset: 300, MaxRecords: 70_000, MaxBytes: 1 << 33, WaitMS: 1}},
		{"read reply empty", ReadReply{}},
		{"read reply", ReadReply{Records: recs[:4], NextOffset: math.MaxUint64}},
		{"truncate request", TruncateRequest{Lowest: 1 << 40}},
		{"truncate reply", TruncateReply{LowestOffset: 127}},
		{"info reply", InfoReply{LowestOffset: 128, NextOffset: 65_536, Segments: 3, Bytes: math.MaxUint32 + 1}},
		{"committed", Committed{FirstOffset: 0, LastOffset: 255}},
	}
}

// equalBodies reports whether a and b, decoded from equal bytes, are equal
// up to what the encoding cannot carry (nil versus empty in omitempty
// fields and in Records).
func equalBodies(a, b any) bool {
	return reflect.DeepEqual(normBody(a), normBody(b))
}

func normBody(v any) any {
	switch v := v.(type) {
	case Record:
		return normRecord(v)
	case *Record:
		return normRecord(*v)
	case AppendRequest:
		return AppendRequest{Records: normRecords(v.Records)}
	case *AppendRequest:
		return AppendRequest{Records: normRecords(v.Records)}
	case ReadReply:
		return ReadReply{Records: normRecords(v.Records), NextOffset: v.NextOffset}
	case *ReadReply:
		return ReadReply{Records: normRecords(v.Records), NextOffset: v.NextOffset}
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		return rv.Elem().Interface()
	}
	return v
}

// newLike returns a pointer to a new zero value of v's type, to decode into.
func newLike(v any) any {
	return reflect.New(reflect.TypeOf(v)).Interface()
}

// reflectRecord has Record's fields and tags but no codec of its own, so
// the library encodes and decodes it by reflection: the reference for the
// keys the hand-written codec writes, and the baseline of the benchmarks.
type reflectRecord struct {
	Value     []byte            `msgpack:"value"`
	Offset    uint64            `msgpack:"offset"`
	Timestamp int64             `msgpack:"timestamp"`
	Key       []byte            `msgpack:"key,omitempty"`
	Headers   map[string]string `msgpack:"headers,omitempty"`
}

// reflectAppendRequest is AppendRequest without a codec of its own.
type reflectAppendRequest struct {
	Records []reflectRecord `msgpack:"records"`
}
