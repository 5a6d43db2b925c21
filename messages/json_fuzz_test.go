package messages

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzJSONRequest feeds arbitrary bytes to the JSON request decoders. They
// must never panic and must fail only with ErrMalformedJSON (or
// ErrTooManyRecords under a limit); what they accept must survive the
// trip the service makes: msgpack, then MsgpackToJSON, then JSON again.
func FuzzJSONRequest(f *testing.F) {
	for _, seed := range []string{
		`{"records": [{"value": "hello", "key": "k", "headers": {"a": "1"}, "headers_base64": {"b": "/w=="}}]}`,
		`{"records": [{"value_base64": "AAE=", "offset": 1, "timestamp": -1}, null, {}]}`,
		`{"offset": 0, "max_records": 10, "max_bytes": 1024, "wait_ms": 5000}`,
		`{"lowest": 18446744073709551615}`,
		`{"offset": 1e3}`, `{"offset": "\ud800"}`, `{"x": [[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]}`,
		`{"records": [{"value": "a", "value_base64": "YQ=="}]}`, "{\"offset\": 0}\n", `{`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkJSONRequest(t, data, &ReadRequest{}, &ReadRequest{})
		checkJSONRequest(t, data, &TruncateRequest{}, &TruncateRequest{})
		checkJSONRequest(t, data, &AppendRequest{}, &AppendRequest{})
		if _, err := UnmarshalAppendRequestJSON(data, 2); err != nil && !errors.Is(err, ErrMalformedJSON) && !errors.Is(err, ErrTooManyRecords) {
			t.Fatalf("error %v wraps neither ErrMalformedJSON nor ErrTooManyRecords", err)
		}
	})
}

func checkJSONRequest(t *testing.T, data []byte, v, again any) {
	t.Helper()
	if err := UnmarshalJSON(data, v); err != nil {
		assertMalformedJSON(t, err)
		return
	}
	mp := mustMarshal(t, v)
	out, err := MsgpackToJSON(mp)
	if err != nil {
		t.Fatalf("MsgpackToJSON of an accepted %T: %v", v, err)
	}
	if err := UnmarshalJSON(out, again); err != nil {
		t.Fatalf("the JSON of an accepted %T does not decode: %v\n%s", v, err, out)
	}
	if !equalBodies(v, again) {
		t.Fatalf("%T changed in a round trip:\nfirst  %+v\nsecond %+v", v, normBody(v), normBody(again))
	}
}

// FuzzMsgpackToJSON: whatever Validate accepts converts to valid JSON
// within JSONGrowth, or fails with ErrMalformed for what has no JSON form;
// everything else is refused.
func FuzzMsgpackToJSON(f *testing.F) {
	for _, body := range sampleBodies() {
		if b := mustMarshal(f, body.v); len(b) <= 4<<10 {
			f.Add(b)
		}
	}
	for _, seed := range [][]byte{bombRecords, bombExt, {0x81, 0x01, 0xc4, 0x01, 0xff}, {0x91, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 1}, {}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := MsgpackToJSON(data)
		if err != nil {
			assertMalformed(t, err)
			return
		}
		if Validate(data) != nil {
			t.Fatalf("converted a body that Validate refuses: %x", data)
		}
		if !json.Valid(out) {
			t.Fatalf("not valid JSON: %s", out)
		}
		if len(out) > JSONGrowth*len(data)+16 {
			t.Fatalf("%d bytes became %d", len(data), len(out))
		}
	})
}
