package messages

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// assertMalformedJSON fails the test unless err matches ErrMalformedJSON.
func assertMalformedJSON(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformedJSON) {
		t.Fatalf("error = %v, want one wrapping ErrMalformedJSON", err)
	}
}

// The JSON of every sample body is what the README documents, and a JSON
// request that a reply's conversion produces decodes to the same request:
// the two directions agree.
func TestMsgpackToJSONRoundTrip(t *testing.T) {
	recs := sampleRecordValues()
	recs = append(recs,
		Record{Value: []byte{0xff, 0xfe}, Key: []byte{0x80}, Headers: map[string]string{"bin": "\xff", "text": "<&>"}},
		Record{Value: []byte("x"), Headers: map[string]string{"only-bin": "\xc3"}})
	for _, body := range []any{AppendRequest{Records: recs}, ReadRequest{Offset: 300, MaxRecords: 7, MaxBytes: 1 << 40, WaitMS: 9}, TruncateRequest{Lowest: math.MaxUint64}} {
		out, err := MsgpackToJSON(mustMarshal(t, body))
		if err != nil {
			t.Fatalf("%T: %v", body, err)
		}
		if !json.Valid(out) {
			t.Fatalf("%T: not valid JSON: %s", body, out)
		}
		got := newLike(body)
		if err := UnmarshalJSON(out, got); err != nil {
			t.Fatalf("%T: %v\n%s", body, err, out)
		}
		if !equalBodies(got, body) {
			t.Fatalf("%T round trip:\n got %+v\nwant %+v\njson %s", body, normBody(got), normBody(body), out)
		}
	}
}

func TestMsgpackToJSON(t *testing.T) {
	rec := func(r Record) []byte { return mustMarshal(t, r) }
	tests := []struct {
		name string
		body []byte
		want string
	}{
		{"append reply", mustMarshal(t, AppendReply{FirstOffset: 0, LastOffset: math.MaxUint64}),
			`{"first_offset":0,"last_offset":18446744073709551615}`},
		{"read reply", AppendReadReply(nil, 2, append(
			rec(Record{Value: []byte("hi"), Offset: 1, Timestamp: 1_700_000_000_123_456_789, Headers: map[string]string{"a": "b", "z": "\xff"}}),
			rec(Record{Key: []byte{0xc0}, Offset: 2, Timestamp: -5})...), 3),
			`{"records":[` +
				`{"value":"hi","offset":1,"timestamp":1700000000123456789,"headers":{"a":"b"},"headers_base64":{"z":"/w=="}},` +
				`{"value":null,"offset":2,"timestamp":-5,"key_base64":"wA=="}],"next_offset":3}`},
		{"empty read reply", AppendReadReply(nil, 0, nil, 0), `{"records":[],"next_offset":0}`},
		{"escapes", mapBody(t, "s", "\"\\\n\r\t\x01<>&é"), `{"s":"\"\\\n\r\t\u0001<>&é"}`},
		{"only binary headers", mapBody(t, "h", map[string]any{"x": []byte{0xff}}), `{"h_base64":{"x":"/w=="}}`},
		{"mixed map is not split", mapBody(t, "m", map[string]any{"n": 1}), `{"m":{"n":1}}`},
		{"bytes in an array", mustMarshalAny(t, []any{[]byte("t"), []byte{0xff}}), `["t",{"base64":"/w=="}]`},
		{"scalars", mustMarshalAny(t, []any{nil, true, false, -1, int64(math.MinInt64), 1.5, float32(0.25)}),
			`[null,true,false,-1,-9223372036854775808,1.5,0.25]`},
		{"integer keys", mustMarshalAny(t, map[int]string{-3: "a"}), `{"-3":"a"}`},
		{"invalid UTF-8 key", mustMarshalAny(t, map[string]int{"\xff": 1}), `{"` + "\uFFFD" + `":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MsgpackToJSON(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestMsgpackToJSONRefuses(t *testing.T) {
	for name, body := range map[string][]byte{
		"empty":     nil,
		"trailing":  {0x01, 0x0a},
		"NaN":       mustMarshalAny(t, math.NaN()),
		"infinity":  mustMarshalAny(t, math.Inf(-1)),
		"array key": {0x81, 0x90, 0x01},
		"bomb":      bombRecords,
		"extension": bombExt,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := MsgpackToJSON(body); !errors.Is(err, ErrMalformed) {
				t.Fatalf("error = %v, want ErrMalformed", err)
			}
		})
	}
}

// The bytes that grow the most, an array of one-byte binary values that
// are not UTF-8, stay within JSONGrowth.
func TestJSONGrowthWorstCase(t *testing.T) {
	body := []byte{0xdc, 0xff, 0xff}
	for range 0xffff {
		body = append(body, 0xc4, 0x01, 0xff)
	}
	out, err := MsgpackToJSON(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) > JSONGrowth*len(body)+16 {
		t.Fatalf("%d bytes became %d, more than JSONGrowth allows", len(body), len(out))
	}
	if len(out) < 5*len(body) {
		t.Fatalf("%d bytes became %d: not the worst case this test means to check", len(body), len(out))
	}
}

func TestRequestFormat(t *testing.T) {
	tests := []struct {
		contentType string
		body        string
		want        Format
	}{
		{"", `{"offset":0}`, FormatJSON},
		{"", " \r\n\t{}", FormatJSON},
		{"application/json", "", FormatJSON},
		{"Application/JSON; charset=utf-8", `x`, FormatJSON},
		{"", "", FormatMsgpack},
		{"", "\x81\xa6offset\x00", FormatMsgpack},
		{"application/msgpack", "\x80", FormatMsgpack},
		{"", "[1]", FormatMsgpack},
		{"text/plain", "", FormatMsgpack},
		{"not a media type;;", "", FormatMsgpack},
	}
	for _, tc := range tests {
		if got := RequestFormat(tc.contentType, []byte(tc.body)); got != tc.want {
			t.Errorf("RequestFormat(%q, %q) = %v, want %v", tc.contentType, tc.body, got, tc.want)
		}
	}
}

// A body that starts with '{' or JSON white space is never a valid
// msgpack request: those bytes are complete values, so the rest is
// trailing data.
func TestJSONStartIsNoMsgpackRequest(t *testing.T) {
	for _, c := range []byte("{ \t\r\n") {
		body := append([]byte{c}, mustMarshal(t, ReadRequest{})...)
		if err := Unmarshal(body, &ReadRequest{}); err == nil {
			t.Errorf("msgpack body starting with %q decodes", c)
		}
		if err := Unmarshal([]byte{c}, &ReadRequest{}); err == nil {
			t.Errorf("msgpack body %q decodes as a read request", c)
		}
	}
}

func TestFormatDispatch(t *testing.T) {
	var rr ReadRequest
	if err := FormatJSON.Unmarshal([]byte(`{"offset": 4}`), &rr); err != nil || rr.Offset != 4 {
		t.Fatalf("JSON read request: %+v, %v", rr, err)
	}
	if err := FormatMsgpack.Unmarshal(mustMarshal(t, ReadRequest{Offset: 5}), &rr); err != nil || rr.Offset != 5 {
		t.Fatalf("msgpack read request: %+v, %v", rr, err)
	}
	ar, err := FormatJSON.UnmarshalAppendRequest([]byte(`{"records":[{"value":"a"},{"value":"b"}]}`), 1)
	if !errors.Is(err, ErrTooManyRecords) {
		t.Fatalf("JSON append over the limit: %+v, %v", ar, err)
	}
	reply := mustMarshal(t, TruncateReply{LowestOffset: 3})
	if got, err := FormatMsgpack.Reply(reply); err != nil || string(got) != string(reply) {
		t.Fatalf("msgpack reply changed: % x, %v", got, err)
	}
	if got, err := FormatJSON.Reply(reply); err != nil || string(got) != `{"lowest_offset":3}` {
		t.Fatalf("JSON reply: %s, %v", got, err)
	}
	if err := UnmarshalJSON([]byte(`{}`), &InfoReply{}); !errors.Is(err, ErrMalformedJSON) {
		t.Fatalf("UnmarshalJSON into a reply: %v", err)
	}
}

func TestUnmarshalJSONRequests(t *testing.T) {
	ar, err := UnmarshalAppendRequestJSON([]byte(`{"records": [
		{"value": "hello", "key": "k", "headers": {"a": "1", "n": null}, "headers_base64": {"b": "/w=="}},
		{"value_base64": "AAE=", "key_base64": ""},
		{"key": "only"},
		null,
		{"value": "", "offset": 5, "timestamp": -1, "unknown": [1, {"x": []}]}
	], "junk": {"deep": [[[]]]}}`), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{Value: []byte("hello"), Key: []byte("k"), Headers: map[string]string{"a": "1", "n": "", "b": "\xff"}},
		{Value: []byte{0, 1}, Key: []byte{}},
		{Key: []byte("only")},
		{},
		{Value: []byte{}, Offset: 5, Timestamp: -1},
	}
	if !reflect.DeepEqual(ar.Records, want) {
		t.Fatalf("got  %+v\nwant %+v", ar.Records, want)
	}
	var rr ReadRequest
	if err := UnmarshalJSON([]byte(`{"offset": 18446744073709551615, "max_records": 2, "max_bytes": 3, "wait_ms": 0}`+"\n"), &rr); err != nil {
		t.Fatal(err)
	}
	if rr != (ReadRequest{Offset: math.MaxUint64, MaxRecords: 2, MaxBytes: 3}) {
		t.Fatalf("read request %+v", rr)
	}
	var tr TruncateRequest
	if err := UnmarshalJSON([]byte(`{"lowest": 7}`), &tr); err != nil || tr.Lowest != 7 {
		t.Fatalf("truncate request %+v, %v", tr, err)
	}
}

func TestUnmarshalJSONRefuses(t *testing.T) {
	tests := []struct {
		name string
		into any
		body string
	}{
		{"not an object", &ReadRequest{}, `[]`},
		{"null body", &ReadRequest{}, `null`},
		{"empty", &ReadRequest{}, ``},
		{"unterminated", &ReadRequest{}, `{"offset": 1`},
		{"trailing data", &ReadRequest{}, `{"offset": 1} {}`},
		{"syntax", &ReadRequest{}, `{"offset" 1}`},
		{"offset a string", &ReadRequest{}, `{"offset": "1"}`},
		{"offset negative", &ReadRequest{}, `{"offset": -1}`},
		{"offset fraction", &ReadRequest{}, `{"offset": 1.5}`},
		{"offset exponent", &ReadRequest{}, `{"offset": 1e3}`},
		{"offset past uint64", &ReadRequest{}, `{"offset": 18446744073709551616}`},
		{"offset huge", &ReadRequest{}, `{"offset": 1` + strings.Repeat("0", 100_000) + `}`},
		{"offset 1e400", &ReadRequest{}, `{"offset": 1e400}`},
		{"keys are case-sensitive", &ReadRequest{}, `{"Offset": 1}`},
		{"wait_ms a bool", &ReadRequest{}, `{"offset": 1, "wait_ms": true}`},
		{"lowest an array", &TruncateRequest{}, `{"lowest": [1]}`},
		{"records an object", &AppendRequest{}, `{"records": {}}`},
		{"record a string", &AppendRequest{}, `{"records": ["hello"]}`},
		{"value a number", &AppendRequest{}, `{"records": [{"value": 1}]}`},
		{"value and value_base64", &AppendRequest{}, `{"records": [{"value": "a", "value_base64": "YQ=="}]}`},
		{"key and key_base64", &AppendRequest{}, `{"records": [{"key": "a", "key_base64": "YQ=="}]}`},
		{"header in both forms", &AppendRequest{}, `{"records": [{"value": "a", "headers": {"h": "x"}, "headers_base64": {"h": "eA=="}}]}`},
		{"bad base64", &AppendRequest{}, `{"records": [{"value_base64": "YQ"}]}`},
		{"url base64", &AppendRequest{}, `{"records": [{"value_base64": "-_8="}]}`},
		{"header value a number", &AppendRequest{}, `{"records": [{"value": "a", "headers": {"h": 1}}]}`},
		{"headers an array", &AppendRequest{}, `{"records": [{"value": "a", "headers": ["h"]}]}`},
		{"timestamp past int64", &AppendRequest{}, `{"records": [{"value": "a", "timestamp": 9223372036854775808}]}`},
		{"record offset negative", &AppendRequest{}, `{"records": [{"value": "a", "offset": -1}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertMalformedJSON(t, UnmarshalJSON([]byte(tc.body), tc.into))
		})
	}
}

// mustMarshalAny encodes v by reflection, for values the evlog encoders
// never write.
func mustMarshalAny(t testing.TB, v any) []byte {
	t.Helper()
	return build(t, func(e *msgpack.Encoder) error { return e.Encode(v) })
}
