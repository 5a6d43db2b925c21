package messages

import (
	"errors"
	"reflect"
	"testing"
)

// TestWireRules pins each deliberate choice of the decoders, in both
// forms of a body: what is accepted beyond the strict types, and what is
// refused rather than guessed at.
func TestWireRules(t *testing.T) {
	tests := []struct {
		name    string
		msgpack []byte
		json    string
		into    func() any
		want    any // nil: refused
	}{
		// Accepted: str and bin are both bytes, so a client whose library
		// writes strings as str need not convert them.
		{"value and key as str", inField("records", mustMarshalAny(t, []any{map[string]any{"value": "v", "key": "k"}})),
			`{"records": [{"value": "v", "key": "k"}]}`,
			func() any { return &AppendRequest{} }, &AppendRequest{Records: []Record{{Value: []byte("v"), Key: []byte("k")}}}},
		{"header name and value as bin", inField("records", mustMarshalAny(t, []any{map[string]any{"value": "v", "headers": map[string]any{"h": []byte("x")}}})),
			`{"records": [{"value": "v", "headers": {"h": "x"}}]}`,
			func() any { return &AppendRequest{} }, &AppendRequest{Records: []Record{{Value: []byte("v"), Headers: map[string]string{"h": "x"}}}}},
		{"nil header value is empty", inField("records", mustMarshalAny(t, []any{map[string]any{"value": "v", "headers": map[string]any{"h": nil}}})),
			`{"records": [{"value": "v", "headers": {"h": null}}]}`,
			func() any { return &AppendRequest{} }, &AppendRequest{Records: []Record{{Value: []byte("v"), Headers: map[string]string{"h": ""}}}}},
		{"unknown keys skipped", mapBody(t, "offset", 3, "future", []any{1}),
			`{"offset": 3, "future": [1]}`,
			func() any { return &ReadRequest{} }, &ReadRequest{Offset: 3}},
		{"limits left out for the defaults", mapBody(t, "offset", 0, "max_records", nil),
			`{"offset": 0, "max_records": null}`,
			func() any { return &ReadRequest{} }, &ReadRequest{}},
		{"wait_ms 0 does not wait", mapBody(t, "offset", 0, "wait_ms", 0),
			`{"offset": 0, "wait_ms": 0}`,
			func() any { return &ReadRequest{} }, &ReadRequest{}},
		// Refused: a read must say where, a truncation how far, and a
		// limit of 0 cannot be answered.
		{"read without offset", mapBody(t, "max_records", 5), `{"max_records": 5}`,
			func() any { return &ReadRequest{} }, nil},
		{"read with a nil offset", mapBody(t, "offset", nil), `{"offset": null}`,
			func() any { return &ReadRequest{} }, nil},
		{"empty read", mapBody(t), `{}`,
			func() any { return &ReadRequest{} }, nil},
		{"max_records 0", mapBody(t, "offset", 0, "max_records", 0), `{"offset": 0, "max_records": 0}`,
			func() any { return &ReadRequest{} }, nil},
		{"max_bytes 0", mapBody(t, "offset", 0, "max_bytes", 0), `{"offset": 0, "max_bytes": 0}`,
			func() any { return &ReadRequest{} }, nil},
		{"truncate without lowest", mapBody(t, "low", 5), `{"low": 5}`,
			func() any { return &TruncateRequest{} }, nil},
	}
	for _, tc := range tests {
		for _, form := range []Format{FormatMsgpack, FormatJSON} {
			t.Run(tc.name+"/"+form.String(), func(t *testing.T) {
				body := tc.msgpack
				if form == FormatJSON {
					body = []byte(tc.json)
				}
				got := tc.into()
				err := form.Unmarshal(body, got)
				if tc.want == nil {
					if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMalformedJSON) {
						t.Fatalf("accepted (err %v): %+v", err, got)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			})
		}
	}
}
