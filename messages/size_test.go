package messages

import (
	"math"
	"strings"
	"testing"
)

// TestMaxEncodedSize checks that MaxEncodedSize never underestimates what the
// log will store, whatever offset and timestamp it assigns.
func TestMaxEncodedSize(t *testing.T) {
	long := strings.Repeat("h", 300)
	records := []Record{
		{Value: []byte("x")},
		{Key: []byte("k")},
		{Value: make([]byte, 255), Key: make([]byte, 256)},
		{Value: make([]byte, 1<<16), Headers: map[string]string{"a": "b", long: long, "": ""}},
		{Value: make([]byte, 1<<16-1), Key: make([]byte, 1<<16), Headers: map[string]string{strings.Repeat("k", 31): strings.Repeat("v", 32)}},
	}
	for i, r := range records {
		bound := MaxEncodedSize(&r)
		r.Offset, r.Timestamp = math.MaxUint64, math.MinInt64
		b, err := Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > bound {
			t.Fatalf("record %d: encodes to %d bytes, bound %d", i, len(b), bound)
		}
		if bound > len(b)+16 {
			t.Fatalf("record %d: bound %d is loose for %d bytes", i, bound, len(b))
		}
	}
}
