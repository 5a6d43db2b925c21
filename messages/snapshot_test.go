package messages

import (
	"errors"
	"testing"
)

// TestSnapshotRequest pins the snapshot request's body in both forms: from
// is optional, and a body without it (or with nil) asks for the whole log.
func TestSnapshotRequest(t *testing.T) {
	tests := []struct {
		name    string
		msgpack []byte
		json    string
		want    SnapshotRequest
		refused bool
	}{
		{"from", mapBody(t, "from", 42), `{"from": 42}`, SnapshotRequest{From: 42}, false},
		{"from left out", mapBody(t), `{}`, SnapshotRequest{}, false},
		{"from nil", mapBody(t, "from", nil), `{"from": null}`, SnapshotRequest{}, false},
		{"unknown key skipped", mapBody(t, "from", 3, "later", "x"), `{"from": 3, "later": "x"}`, SnapshotRequest{From: 3}, false},
		{"negative from", mapBody(t, "from", -1), `{"from": -1}`, SnapshotRequest{}, true},
		{"from a string", mapBody(t, "from", "7"), `{"from": "7"}`, SnapshotRequest{}, true},
	}
	for _, tc := range tests {
		for _, f := range []Format{FormatMsgpack, FormatJSON} {
			t.Run(tc.name+"/"+f.String(), func(t *testing.T) {
				body := tc.msgpack
				if f == FormatJSON {
					body = []byte(tc.json)
				}
				var got SnapshotRequest
				err := f.Unmarshal(body, &got)
				if tc.refused {
					if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMalformedJSON) {
						t.Fatalf("accepted (err %v): %+v", err, got)
					}
					return
				}
				if err != nil || got != tc.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
				}
			})
		}
	}
	// The encoding leaves a zero from out, so that it reads back the same.
	for _, r := range []SnapshotRequest{{}, {From: 1 << 40}} {
		b, err := Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back SnapshotRequest
		if err := Unmarshal(b, &back); err != nil || back != r {
			t.Fatalf("%+v round-trips as %+v, %v", r, back, err)
		}
		if r.From == 0 && len(b) != 1 {
			t.Fatalf("zero request encodes as % x, want an empty map", b)
		}
	}
}
