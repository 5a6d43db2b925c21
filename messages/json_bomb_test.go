package messages

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// JSON has no declared lengths, so its bombs are bodies whose decoding
// could cost far more than their size: deep nesting, huge arrays and
// numbers, bytes the decoder would silently change, and duplicate keys.

func TestJSONDeepNesting(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	// The body's object is one level, so MaxDepth-1 more fit under a key.
	if err := UnmarshalJSON([]byte(`{"offset": 0, "x": `+nest(MaxDepth-1)+`}`), &ReadRequest{}); err != nil {
		t.Fatalf("%d levels refused: %v", MaxDepth, err)
	}
	for _, body := range []string{
		`{"offset": 0, "x": ` + nest(MaxDepth) + `}`,
		`{"offset": 0, "x": ` + nest(1_000_000) + `}`,
		`{"records": [{"value": "a", "x": ` + strings.Repeat(`{"a":`, 100_000) + `}`,
		strings.Repeat("{", 1_000_000),
	} {
		start := time.Now()
		err := UnmarshalJSON([]byte(body), &AppendRequest{})
		assertMalformedJSON(t, err)
		if !strings.Contains(err.Error(), "nested deeper") {
			t.Fatalf("error %v does not say why", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("a %d-byte body took %v", len(body), d)
		}
	}
	// Brackets inside strings do not count.
	if err := UnmarshalJSON([]byte(`{"offset": 0, "x": "`+strings.Repeat("[{", 1000)+`"}`), &ReadRequest{}); err != nil {
		t.Fatalf("brackets in a string counted: %v", err)
	}
}

// A huge array of tiny records is refused at the limit, before a Record
// is allocated for each of the rest.
func TestJSONHugeRecordArray(t *testing.T) {
	const n, limit = 1 << 20, 10_000
	body := []byte(`{"records": [` + strings.Repeat(`{},`, n-1) + `{}]}`)
	var err error
	got := allocated(func() { _, err = UnmarshalAppendRequestJSON(body, limit) })
	if !errors.Is(err, ErrTooManyRecords) || errors.Is(err, ErrMalformedJSON) {
		t.Fatalf("err %v, want ErrTooManyRecords only", err)
	}
	// The records below the limit, the slice growing to hold them, and
	// the decoder's buffer.
	if max := 3*limit*uint64(unsafe.Sizeof(Record{})) + uint64(len(body)); got > max {
		t.Fatalf("allocated %d bytes, limit %d", got, max)
	}
	if ar, err := UnmarshalAppendRequestJSON([]byte(`{"records": [{}, {}]}`), 2); err != nil || len(ar.Records) != 2 {
		t.Fatalf("two records under a limit of two: %+v, %v", ar, err)
	}
}

// A huge array under a key nobody reads is skipped in time and memory
// proportional to the body.
func TestJSONHugeUnknownArray(t *testing.T) {
	body := []byte(`{"offset": 0, "junk": [` + strings.Repeat(`0,"x",{},`, 300_000) + `0]}`)
	runtime.GC()
	var err error
	got := allocated(func() { err = UnmarshalJSON(body, &ReadRequest{}) })
	if err != nil {
		t.Fatal(err)
	}
	// The decoder's buffer, grown by doubling to hold the value, and the
	// skipped value's copy: linear in the body, whatever it holds.
	if max := 6 * uint64(len(body)); got > max {
		t.Fatalf("allocated %d bytes for a %d-byte body", got, len(body))
	}
}

func TestJSONHugeNumbers(t *testing.T) {
	for _, n := range []string{
		strings.Repeat("9", 1_000_000),
		"1" + strings.Repeat("0", 20),
		"1e999999999",
		"-" + strings.Repeat("9", 1000),
		"0." + strings.Repeat("0", 1000) + "1",
	} {
		start := time.Now()
		err := UnmarshalJSON([]byte(`{"offset": `+n+`}`), &ReadRequest{})
		assertMalformedJSON(t, err)
		if len(err.Error()) > 200 {
			t.Fatalf("error of %d bytes quotes the number whole", len(err.Error()))
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%d digits took %v", len(n), d)
		}
	}
}

// encoding/json turns invalid UTF-8 and lone surrogate escapes into
// U+FFFD; a record must be stored as sent or refused, so they are refused.
func TestJSONInvalidText(t *testing.T) {
	for name, body := range map[string]string{
		"invalid UTF-8 in a value":    `{"records": [{"value": "` + "\xff" + `"}]}`,
		"invalid UTF-8 in a key":      `{"records": [{"` + "\xc3" + `": 1}]}`,
		"invalid UTF-8 outside":       `{"offset": 0}` + "\xff",
		"lone high surrogate":         `{"records": [{"value": "\ud800"}]}`,
		"lone low surrogate":          `{"records": [{"value": "\udc00x"}]}`,
		"high surrogate, then text":   `{"records": [{"value": "\ud83dx\ude00"}]}`,
		"two high surrogates":         `{"records": [{"value": "\ud83d\ud83d"}]}`,
		"surrogate in a header name":  `{"records": [{"value": "a", "headers": {"\udfff": "x"}}]}`,
		"surrogate in an unknown key": `{"records": [{"value": "a", "x": "\uDBFF"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			assertMalformedJSON(t, UnmarshalJSON([]byte(body), &AppendRequest{}))
		})
	}
	ar, err := UnmarshalAppendRequestJSON([]byte(`{"records": [{"value": "\ud83d\ude00 \u00e9 \\ud800"}]}`), 0)
	if err != nil {
		t.Fatalf("a surrogate pair and an escaped backslash: %v", err)
	}
	if got := string(ar.Records[0].Value); got != "😀 é \\ud800" {
		t.Fatalf("value %q", got)
	}
}

// Duplicate keys: the last one wins, as in the msgpack form, also when it
// is null; that they are duplicates is no reason to refuse a body.
func TestJSONDuplicateKeys(t *testing.T) {
	var rr ReadRequest
	if err := UnmarshalJSON([]byte(`{"offset": 1, "offset": 2, "max_records": 5, "max_records": null}`), &rr); err != nil {
		t.Fatal(err)
	}
	if rr != (ReadRequest{Offset: 2}) {
		t.Fatalf("got %+v", rr)
	}
	if err := UnmarshalJSON([]byte(`{"offset": 1, "offset": null}`), &rr); !errors.Is(err, ErrMalformedJSON) {
		t.Fatalf("a later null offset leaves none: %v", err)
	}
	ar, err := UnmarshalAppendRequestJSON([]byte(`{"records": [{"value": "a"}], "records": [
		{"value": "b", "value": "c", "value_base64": "eA==", "value_base64": null,
		 "headers": {"h": "1", "h": "2"}, "headers": {"g": "3"}}]}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ar.Records) != 1 || string(ar.Records[0].Value) != "c" || len(ar.Records[0].Headers) != 1 || ar.Records[0].Headers["g"] != "3" {
		t.Fatalf("got %+v", ar.Records)
	}
	// The msgpack form agrees.
	var mr ReadRequest
	if err := Unmarshal(mapBody(t, "offset", 1, "offset", 2), &mr); err != nil || mr.Offset != 2 {
		t.Fatalf("msgpack duplicates: %+v, %v", mr, err)
	}
}
