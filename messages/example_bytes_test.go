package messages

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// TestREADMEBytes keeps the README's byte-for-byte example true.
func TestREADMEBytes(t *testing.T) {
	hexBytes := func(s string) []byte {
		b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	req := hexBytes("81 a7 7265636f726473 91 81 a5 76616c7565 c4 02 6869")
	var ar AppendRequest
	if err := Unmarshal(req, &ar); err != nil {
		t.Fatalf("README request does not decode: %v", err)
	}
	if len(ar.Records) != 1 || string(ar.Records[0].Value) != "hi" {
		t.Fatalf("README request decodes to %+v", ar)
	}
	got, err := Marshal(&AppendReply{})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte{0x82, 0xac}, "first_offset"...), 0x00, 0xab), append([]byte("last_offset"), 0x00)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendReply encodes as % x, the README says % x", got, want)
	}
}
