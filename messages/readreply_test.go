package messages

import (
	"bytes"
	"math"
	"reflect"
	"testing"
)

func TestAppendReadReply(t *testing.T) {
	recs := sampleRecordValues()
	tests := []struct {
		name   string
		prefix []byte
		recs   []Record
		next   uint64
	}{
		{"no records", nil, nil, 0},
		{"one record", nil, recs[2:3], 2},
		{"all samples", nil, recs, math.MaxUint64},
		{"after a prefix", []byte("prefix"), recs[:3], 3},
		{"sixteen records, array16 header", nil, sixteenRecords(recs), 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The records as the service has them: encoded one after another.
			var stored []byte
			for _, r := range tc.recs {
				stored = append(stored, mustMarshal(t, r)...)
			}
			dst := bytes.Clone(tc.prefix)
			got := AppendReadReply(dst, len(tc.recs), stored, tc.next)
			if !bytes.HasPrefix(got, tc.prefix) {
				t.Fatalf("lost the prefix: %x", got)
			}
			body := got[len(tc.prefix):]

			want := mustMarshal(t, ReadReply{Records: tc.recs, NextOffset: tc.next})
			if !bytes.Equal(body, want) {
				t.Fatalf("AppendReadReply wrote\n%x\nReadReply encodes to\n%x", body, want)
			}
			var reply ReadReply
			if err := Unmarshal(body, &reply); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if reply.NextOffset != tc.next {
				t.Fatalf("NextOffset = %d, want %d", reply.NextOffset, tc.next)
			}
			if !reflect.DeepEqual(reply.Records, normRecords(tc.recs)) {
				t.Fatalf("records:\n got %+v\nwant %+v", reply.Records, normRecords(tc.recs))
			}
		})
	}
}

// sixteenRecords returns 16 records, one more than a fixarray holds.
func sixteenRecords(recs []Record) []Record {
	out := make([]Record, 16)
	for i := range out {
		out[i] = recs[i%len(recs)]
		out[i].Offset = uint64(i)
	}
	return out
}

func TestAppendReadReplyAllocs(t *testing.T) {
	rec := mustMarshal(t, Record{Value: []byte("v")})
	dst := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		dst = AppendReadReply(dst[:0], 1, rec, 1)
	})
	if allocs != 0 {
		t.Fatalf("AppendReadReply into a large enough dst allocated %v times", allocs)
	}
}

func TestAppendReadReplyPanicsOnBadCount(t *testing.T) {
	for _, tc := range []struct {
		name  string
		count int64
	}{{"negative", -1}, {"above uint32", math.MaxUint32 + 1}} {
		t.Run(tc.name, func(t *testing.T) {
			count := int(tc.count)
			if int64(count) != tc.count {
				t.Skip("int cannot hold the count on this platform")
			}
			defer func() {
				if recover() == nil {
					t.Fatalf("AppendReadReply(count %d) did not panic", count)
				}
			}()
			AppendReadReply(nil, count, nil, 0)
		})
	}
}
