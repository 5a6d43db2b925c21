package messages

import (
	"errors"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestAppendRequestIDAndExpectedOffsetRoundTrip(t *testing.T) {
	zero := uint64(0)
	for _, tc := range []struct {
		name string
		req  AppendRequest
	}{
		{"neither", AppendRequest{Records: []Record{{Value: []byte("a")}}}},
		{"id", AppendRequest{Records: []Record{{Value: []byte("a")}}, ID: "0a7c-uuid"}},
		{"expected offset 0", AppendRequest{Records: []Record{{Value: []byte("a")}}, ExpectedOffset: &zero}},
		{"both", AppendRequest{Records: []Record{{Value: []byte("a")}}, ID: strings.Repeat("x", MaxIDLen), ExpectedOffset: ptr(uint64(1) << 60)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Marshal(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := UnmarshalAppendRequest(b, 10)
			if err != nil {
				t.Fatal(err)
			}
			checkSameAppendOptions(t, got, tc.req)
			js, err := MsgpackToJSON(b)
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, err := UnmarshalAppendRequestJSON(js, 10)
			if err != nil {
				t.Fatalf("%s: %v", js, err)
			}
			checkSameAppendOptions(t, gotJSON, tc.req)
		})
	}
}

func checkSameAppendOptions(t *testing.T, got, want AppendRequest) {
	t.Helper()
	if got.ID != want.ID {
		t.Errorf("id %q, want %q", got.ID, want.ID)
	}
	switch {
	case (got.ExpectedOffset == nil) != (want.ExpectedOffset == nil):
		t.Errorf("expected offset %v, want %v", got.ExpectedOffset, want.ExpectedOffset)
	case got.ExpectedOffset != nil && *got.ExpectedOffset != *want.ExpectedOffset:
		t.Errorf("expected offset %d, want %d", *got.ExpectedOffset, *want.ExpectedOffset)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAppendRequestRefusesBadIDs(t *testing.T) {
	rec := []Record{{Value: []byte("a")}}
	enc := func(id any) []byte {
		b, err := msgpack.Marshal(map[string]any{"records": rec, "id": id})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name    string
		msgpack []byte
		json    string
	}{
		{"empty", enc(""), `{"records":[{"value":"a"}],"id":""}`},
		{"129 bytes", enc(strings.Repeat("i", MaxIDLen+1)), `{"records":[{"value":"a"}],"id":"` + strings.Repeat("i", MaxIDLen+1) + `"}`},
		{"integer", enc(7), `{"records":[{"value":"a"}],"id":7}`},
		{"array", enc([]string{"a"}), `{"records":[{"value":"a"}],"id":["a"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := UnmarshalAppendRequest(tc.msgpack, 10); !errors.Is(err, ErrMalformed) {
				t.Errorf("msgpack: %v, want ErrMalformed", err)
			}
			if _, err := UnmarshalAppendRequestJSON([]byte(tc.json), 10); !errors.Is(err, ErrMalformedJSON) {
				t.Errorf("json: %v, want ErrMalformedJSON", err)
			}
		})
	}
}

func TestAppendRequestRefusesBadExpectedOffset(t *testing.T) {
	for _, body := range []string{
		`{"records":[{"value":"a"}],"expected_offset":-1}`,
		`{"records":[{"value":"a"}],"expected_offset":"3"}`,
		`{"records":[{"value":"a"}],"expected_offset":1.5}`,
	} {
		if _, err := UnmarshalAppendRequestJSON([]byte(body), 10); !errors.Is(err, ErrMalformedJSON) {
			t.Errorf("%s: %v, want ErrMalformedJSON", body, err)
		}
	}
	b, _ := msgpack.Marshal(map[string]any{"records": []Record{{Value: []byte("a")}}, "expected_offset": -1})
	if _, err := UnmarshalAppendRequest(b, 10); !errors.Is(err, ErrMalformed) {
		t.Errorf("msgpack -1: %v, want ErrMalformed", err)
	}
}

func TestAppendReplyDuplicate(t *testing.T) {
	for _, want := range []AppendReply{{FirstOffset: 3, LastOffset: 9}, {FirstOffset: 3, LastOffset: 9, Duplicate: true}} {
		b, err := Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		var got AppendReply
		if err := Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
		js, err := MsgpackToJSON(b)
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(string(js), `"duplicate":true`); has != want.Duplicate {
			t.Errorf("JSON %s for %+v", js, want)
		}
	}
}
