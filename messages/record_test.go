package messages

import (
	"bytes"
	"testing"
)

// Marshal takes values, not only pointers. The library refuses a value
// whose encoder has a pointer receiver, so Record used to fail here.
func TestMarshalNonAddressable(t *testing.T) {
	rec := Record{Value: []byte("v"), Offset: 3}
	tests := []struct {
		name string
		v    any
		want []byte // what the encoding holds
	}{
		{"record value", rec, mustMarshal(t, &rec)},
		{"record in a struct value", struct{ R Record }{rec}, mustMarshal(t, &rec)},
		{"append reply value", AppendReply{FirstOffset: 1, LastOffset: 2}, mustMarshal(t, &AppendReply{FirstOffset: 1, LastOffset: 2})},
		{"append request value", AppendRequest{Records: []Record{rec}}, mustMarshal(t, &rec)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if b := mustMarshal(t, tc.v); !bytes.Contains(b, tc.want) {
				t.Fatalf("encoding %x does not hold %x", b, tc.want)
			}
		})
	}
}
