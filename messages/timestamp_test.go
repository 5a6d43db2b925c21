package messages

import (
	"errors"
	"testing"
)

// TestReadRequestTimestamp round-trips a read by time in msgpack and reads
// it from JSON, and refuses a body with both or neither of offset and
// timestamp in both forms.
func TestReadRequestTimestamp(t *testing.T) {
	for _, ts := range []int64{0, -5, 1700000000000000000, 1<<63 - 1} {
		in := ReadRequest{Timestamp: &ts, MaxRecords: 3, WaitMS: 7}
		b, err := Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var out ReadRequest
		if err := Unmarshal(b, &out); err != nil {
			t.Fatalf("decode %d: %v", ts, err)
		}
		if out.Timestamp == nil || *out.Timestamp != ts || out.Offset != 0 || out.MaxRecords != 3 || out.WaitMS != 7 {
			t.Fatalf("decoded %+v, want timestamp %d", out, ts)
		}
	}
	var r ReadRequest
	if err := UnmarshalJSON([]byte(`{"timestamp": -12, "max_records": 2}`), &r); err != nil || r.Timestamp == nil || *r.Timestamp != -12 || r.MaxRecords != 2 {
		t.Fatalf("JSON read by time: %+v, %v", r, err)
	}
	if err := UnmarshalJSON([]byte(`{"timestamp": null, "offset": 4}`), &r); err != nil || r.Timestamp != nil || r.Offset != 4 {
		t.Fatalf("JSON with a null timestamp: %+v, %v", r, err)
	}
	for _, body := range []string{`{"timestamp": 1, "offset": 4}`, `{"max_records": 2}`, `{"timestamp": "x"}`, `{"timestamp": 1.5}`} {
		if err := UnmarshalJSON([]byte(body), &r); !errors.Is(err, ErrMalformedJSON) {
			t.Fatalf("JSON %s: %v, want ErrMalformedJSON", body, err)
		}
	}
	both, err := Marshal(map[string]int64{"timestamp": 1, "offset": 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal(both, &r); !errors.Is(err, ErrMalformed) {
		t.Fatalf("msgpack with offset and timestamp: %v, want ErrMalformed", err)
	}
	neither, err := Marshal(map[string]int64{"max_records": 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal(neither, &r); !errors.Is(err, ErrMalformed) {
		t.Fatalf("msgpack without offset or timestamp: %v, want ErrMalformed", err)
	}
}
