package messages

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func benchRecord(size int, headers bool) Record {
	r := Record{
		Value:     bytes.Repeat([]byte{'v'}, size),
		Offset:    1 << 40,
		Timestamp: 1_700_000_000_000_000_000,
		Key:       []byte("user-1234"),
	}
	if headers {
		r.Headers = map[string]string{"content-type": "application/json", "trace-id": "4bf92f3577b34da6"}
	}
	return r
}

func toReflect(r Record) reflectRecord {
	return reflectRecord(r)
}

func benchAppendRequest(n, size int) (AppendRequest, reflectAppendRequest) {
	var custom AppendRequest
	var plain reflectAppendRequest
	for i := range n {
		r := benchRecord(size, false)
		r.Offset = uint64(i)
		custom.Records = append(custom.Records, r)
		plain.Records = append(plain.Records, toReflect(r))
	}
	return custom, plain
}

// benchCase is one value to encode and decode, by the hand-written codec
// (custom) and by reflection (plain).
type benchCase struct {
	name                string
	custom, plain       any
	newCustom, newPlain func() any
}

func benchCases() []benchCase {
	var cases []benchCase
	for _, rc := range []struct {
		name    string
		size    int
		headers bool
	}{{"100B", 100, false}, {"1KiB", 1024, false}, {"1KiB+headers", 1024, true}} {
		r := benchRecord(rc.size, rc.headers)
		p := toReflect(r)
		cases = append(cases, benchCase{
			name:      "Record/" + rc.name,
			custom:    &r,
			plain:     &p,
			newCustom: func() any { return &Record{} },
			newPlain:  func() any { return &reflectRecord{} },
		})
	}
	custom, plain := benchAppendRequest(100, 100)
	cases = append(cases, benchCase{
		name:      "AppendRequest/100x100B",
		custom:    &custom,
		plain:     &plain,
		newCustom: func() any { return &AppendRequest{} },
		newPlain:  func() any { return &reflectAppendRequest{} },
	})
	return cases
}

func BenchmarkEncode(b *testing.B) {
	for _, bc := range benchCases() {
		for _, impl := range []struct {
			name string
			v    any
		}{{"custom", bc.custom}, {"reflect", bc.plain}} {
			b.Run(bc.name+"/"+impl.name, func(b *testing.B) {
				e := NewEncoder()
				out, err := e.Encode(impl.v)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(out)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.Encode(impl.v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkDecode decodes with the library's decoder alone (custom and
// reflect) and through Unmarshal, which validates first.
func BenchmarkDecode(b *testing.B) {
	for _, bc := range benchCases() {
		data, err := Marshal(bc.custom)
		if err != nil {
			b.Fatal(err)
		}
		plainData, err := msgpack.Marshal(bc.plain)
		if err != nil {
			b.Fatal(err)
		}
		// Each decode gets a new value, as each request does in the service;
		// decoding into the same one again would let reflection reuse the
		// slices of the previous round.
		for _, impl := range []struct {
			name   string
			data   []byte
			decode func(data []byte) error
		}{
			{"custom", data, func(data []byte) error { return decodeWith(data, bc.newCustom()) }},
			{"reflect", plainData, func(data []byte) error { return decodeWith(data, bc.newPlain()) }},
			{"unmarshal", data, func(data []byte) error { return Unmarshal(data, bc.newCustom()) }},
		} {
			b.Run(bc.name+"/"+impl.name, func(b *testing.B) {
				b.SetBytes(int64(len(impl.data)))
				b.ReportAllocs()
				for b.Loop() {
					if err := impl.decode(impl.data); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

var (
	benchReader  bytes.Reader
	benchDecoder = msgpack.NewDecoder(&benchReader)
)

// decodeWith decodes through one reused decoder, as Unmarshal does, so that
// the figures compare codecs and not decoder set-up.
func decodeWith(data []byte, v any) error {
	benchReader.Reset(data)
	benchDecoder.Reset(&benchReader)
	return benchDecoder.Decode(v)
}

func BenchmarkValidate(b *testing.B) {
	custom, _ := benchAppendRequest(100, 100)
	data, err := Marshal(custom)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendReadReply(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("%dx100B", n), func(b *testing.B) {
			var records []byte
			for range n {
				records = append(records, mustMarshal(b, benchRecord(100, false))...)
			}
			var dst []byte
			b.SetBytes(int64(len(records)))
			b.ReportAllocs()
			for b.Loop() {
				dst = AppendReadReply(dst[:0], n, records, 42)
			}
		})
	}
}

// BenchmarkUnmarshalAppendRequest decodes the service's hottest body: an
// append of 1 or 100 records of 100 bytes.
func BenchmarkUnmarshalAppendRequest(b *testing.B) {
	for _, n := range []int{1, 100} {
		recs := make([]Record, n)
		for i := range recs {
			recs[i] = Record{Value: bytes.Repeat([]byte{'v'}, 100)}
		}
		data, err := Marshal(AppendRequest{Records: recs})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := UnmarshalAppendRequest(data, 1000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
