package messages

import (
	"bytes"
	"strings"
	"testing"
)

// TestAppendRecordMatchesEncoder: AppendRecord writes exactly the bytes
// of Record.EncodeMsgpack, at every boundary of every length and integer
// encoding, after whatever dst held.
func TestAppendRecordMatchesEncoder(t *testing.T) {
	lengths := []int{0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536}
	ints := []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<63 - 1, -1, -32, -33, -128, -129, -32768, -32769, -1 << 31, -1<<31 - 1, -1 << 63}
	var recs []*Record
	for _, n := range lengths {
		recs = append(recs,
			&Record{Value: bytes.Repeat([]byte("v"), n)},
			&Record{Value: []byte("v"), Key: bytes.Repeat([]byte("k"), n)},
			&Record{Headers: map[string]string{strings.Repeat("h", n): strings.Repeat("x", n), "a": ""}},
		)
	}
	for _, i := range ints {
		recs = append(recs, &Record{Value: nil, Offset: uint64(i), Timestamp: i})
	}
	many := map[string]string{}
	for i := range 20 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	recs = append(recs, &Record{Key: []byte{}, Headers: many}, &Record{Value: []byte{}})
	e := NewEncoder()
	for i, r := range recs {
		want, err := e.EncodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := AppendRecord([]byte("prefix"), r)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], want) {
			t.Fatalf("record %d: AppendRecord wrote %x, the encoder %x", i, got[6:], want)
		}
	}
}

// TestAppendRecordWithMatchesHeaderMap: the headers AppendRecordWith adds
// encode as if they were in the record's header map, merged in key order
// with the record's own, replacing one of the same key, and the record's
// map is left as it was.
func TestAppendRecordWithMatchesHeaderMap(t *testing.T) {
	stamp := []Header{{Key: IDHeader, Value: "id-1"}, {Key: BatchRecordsHeader, Value: "3"}}
	for name, h := range map[string]map[string]string{
		"none":     nil,
		"empty":    {},
		"before":   {"A": "1"},
		"between":  {"F": "1", "Evlog-Z": "2"},
		"after":    {"z": "1", "zz": "2"},
		"replaced": {IDHeader: "client's", "k": "v"},
		"many":     {"a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "6", "g": "7", "h": "8", "i": "9"},
	} {
		for _, extra := range [][]Header{stamp, {stamp[1], stamp[0]}, stamp[:1], nil} {
			r := &Record{Value: []byte("v"), Offset: 9, Timestamp: 100, Headers: h}
			n := len(h)
			got, err := AppendRecordWith(nil, r, extra)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Headers) != n {
				t.Fatalf("%s: the record's headers were written into: %v", name, r.Headers)
			}
			merged := map[string]string{}
			for k, v := range h {
				merged[k] = v
			}
			for _, x := range extra {
				merged[x.Key] = x.Value
			}
			want, err := NewEncoder().EncodeRecord(&Record{Value: r.Value, Offset: r.Offset, Timestamp: r.Timestamp, Headers: merged})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s with %d extra: wrote %x, the encoder %x", name, len(extra), got, want)
			}
		}
	}
}
