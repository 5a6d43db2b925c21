package main

import (
	"errors"
	"testing"

	"github.com/evlog/evlog/messages"
)

func TestDecode(t *testing.T) {
	body, err := messages.Marshal(&messages.ReadReply{
		Records:    []messages.Record{{Offset: 7, Timestamp: 1_700_000_000_000_000_001, Value: []byte("text"), Key: []byte{0xff, 0x00}}},
		NextOffset: 8,
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, string(body), "decode")
	if err != nil {
		t.Fatalf("decode: %v: %s", err, out)
	}
	want := `{"records":[{"value":"text","offset":7,"timestamp":1700000000000000001,"key_base64":"/wA="}],"next_offset":8}` + "\n"
	if out != want {
		t.Fatalf("decode printed\n%s\nwant\n%s", out, want)
	}
}

// An error reply has an empty body: nats --translate runs decode on it,
// and anything but an exit of 0 shows as "Error while translating".
func TestDecodeEmptyBody(t *testing.T) {
	for name, in := range map[string]string{
		"empty":             "",
		"nats req --raw":    "nil body\n\n\n",
		"nil body, no line": "nil body",
	} {
		t.Run(name, func(t *testing.T) {
			out, err := cli(t, in, "decode")
			if err != nil || out != "" {
				t.Fatalf("decode of %q: err %v, out %q", in, err, out)
			}
		})
	}
}

// nats req --raw prints the body and one or two newlines. A body can end
// in a byte that is a newline too: 10 is 0x0a.
func TestDecodeTrailingWhiteSpace(t *testing.T) {
	body, err := messages.Marshal(&messages.Committed{FirstOffset: 10, LastOffset: 10})
	if err != nil {
		t.Fatal(err)
	}
	if body[len(body)-1] != '\n' {
		t.Fatalf("test body % x does not end in a newline", body)
	}
	const want = `{"first_offset":10,"last_offset":10}` + "\n"
	for _, tail := range []string{"", "\n", "\n\n", "\r\n", " \t\n"} {
		out, err := cli(t, string(body)+tail, "decode")
		if err != nil || out != want {
			t.Fatalf("decode with %q after the body: err %v, out %q", tail, err, out)
		}
	}
}

func TestDecodeRejectsBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"array32 bomb":       "\x81\xa7records\xdd\xff\xff\xff\xff",
		"bin32 bomb":         "\xc6\xff\xff\xff\xff",
		"trailing":           "\x01\x02",
		"too much trailing":  "\x80" + "\n\n\n\n\n\n\n\n\n",
		"text":               "hello",
		"white space inside": "\x82\n\xa1a\x01",
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := cli(t, in, "decode"); err == nil || !errors.Is(err, messages.ErrMalformed) {
				t.Fatalf("decode of %q: err %v, out %q", in, err, out)
			}
		})
	}
}
