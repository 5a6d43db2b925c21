package messages

import (
	"bytes"
	"testing"
)

// FuzzUnmarshal feeds arbitrary bytes to Unmarshal for the bodies the
// service decodes from clients (AppendRequest, ReadRequest) and from disk
// (Record). Unmarshal must never panic and must fail only with
// ErrMalformed; whatever it accepts must re-encode to bytes that Validate
// accepts and that decode to the same value and encode to the same bytes.
func FuzzUnmarshal(f *testing.F) {
	// Seeds stay small: the fuzzer minimizes every input that finds new
	// coverage, one byte at a time, and on the 70 KB samples or the 100 KB
	// deep bomb that took the whole run, leaving no time to fuzz.
	const maxSeed = 4 << 10
	for _, body := range sampleBodies() {
		if b := mustMarshal(f, body.v); len(b) <= maxSeed {
			f.Add(b)
		}
	}
	deep := bombDeep[len(bombDeep)-4*MaxDepth:] // still too deep
	for _, seed := range [][]byte{
		bombRecords, bombValue, bombBin32, bombStr32, bombMap32, bombArray32,
		bombArray16, bombMap16, bombExt, deep,
		inField("records", bombArray16),
		inField("headers", bombMap32),
		inField("x", deep),
		mapBody(f, "offset", -1),
		mapBody(f, "records", []any{nil, map[string]any{"value": "str", "timestamp": -1}}),
		{},
		{0xc0},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkUnmarshal(t, data, &AppendRequest{}, &AppendRequest{})
		checkUnmarshal(t, data, &ReadRequest{}, &ReadRequest{})
		checkUnmarshal(t, data, &Record{}, &Record{})
	})
}

// checkUnmarshal decodes data into v and, if that succeeds, re-encodes v
// and decodes the result into again, which must then equal v.
func checkUnmarshal(t *testing.T, data []byte, v, again any) {
	t.Helper()
	if err := Unmarshal(data, v); err != nil {
		assertMalformed(t, err)
		return
	}
	b, err := Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%T) of an accepted body: %v", v, err)
	}
	if err := Validate(b); err != nil {
		t.Fatalf("Validate refuses the encoding of an accepted %T: %v\n%x", v, err, b)
	}
	if err := Unmarshal(b, again); err != nil {
		t.Fatalf("Unmarshal of the re-encoded %T: %v\n%x", v, err, b)
	}
	if !equalBodies(v, again) {
		t.Fatalf("%T changed in a round trip:\nfirst  %+v\nsecond %+v", v, normBody(v), normBody(again))
	}
	if b2, err := Marshal(again); err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("%T encodes differently after a round trip (err %v):\n%x\n%x", v, err, b, b2)
	}
}

// FuzzUnmarshalRecord: the storage engine's decoder, which skips Validate,
// never panics, and what it accepts survives a round trip.
func FuzzUnmarshalRecord(f *testing.F) {
	for _, r := range []Record{{Value: []byte("x")}, {Value: []byte("v"), Offset: 9, Timestamp: -1, Key: []byte("k"), Headers: map[string]string{"h": "v"}}} {
		b, err := Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xc6, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x81, 0xa3, 'z', 'z', 'z', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Record
		if err := UnmarshalRecord(data, &r); err != nil {
			return
		}
		b, err := Marshal(r)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var again Record
		if err := UnmarshalRecord(b, &again); err != nil {
			t.Fatalf("decode of re-encoded %+v: %v", r, err)
		}
		if !bytes.Equal(again.Value, r.Value) || again.Offset != r.Offset || again.Timestamp != r.Timestamp || !bytes.Equal(again.Key, r.Key) || len(again.Headers) != len(r.Headers) {
			t.Fatalf("round trip changed %+v into %+v", r, again)
		}
	})
}

// FuzzUnmarshalAppendRequest: the service's append decoder, which skips
// Validate, never panics, honours its record limit, and what it accepts
// survives a round trip.
func FuzzUnmarshalAppendRequest(f *testing.F) {
	for _, ar := range []AppendRequest{{Records: []Record{{Value: []byte("x")}}}, {Records: []Record{{Key: []byte("k"), Headers: map[string]string{"a": "b"}}, {Value: []byte("y")}}}} {
		b, err := Marshal(ar)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x81, 0xa7, 'r', 'e', 'c', 'o', 'r', 'd', 's', 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFastAgrees(t, data, 3)
		ar, err := UnmarshalAppendRequest(data, 3)
		if err != nil {
			return
		}
		if len(ar.Records) > 3 {
			t.Fatalf("%d records accepted under a limit of 3", len(ar.Records))
		}
		b, err := Marshal(ar)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		again, err := UnmarshalAppendRequest(b, 3)
		if err != nil || len(again.Records) != len(ar.Records) {
			t.Fatalf("round trip of %d records: %d, %v", len(ar.Records), len(again.Records), err)
		}
		for i := range ar.Records {
			if !bytes.Equal(again.Records[i].Value, ar.Records[i].Value) || !bytes.Equal(again.Records[i].Key, ar.Records[i].Key) {
				t.Fatalf("record %d changed in a round trip", i)
			}
		}
	})
}
