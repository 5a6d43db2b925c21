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
