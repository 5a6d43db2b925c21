package snapshot

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
)

// testLog returns an open log of small segments holding recs, appended
// with their timestamps, from offset first.
func testLog(t *testing.T, first uint64, recs []*messages.Record) *segment.Log {
	t.Helper()
	var c segment.Config
	c.Segment.MaxStoreBytes = 4 << 20
	c.Segment.MaxIndexBytes = 12 * 50 // 50 records a segment
	c.Segment.InitialOffset = first
	c.Sync.Mode = segment.SyncNever
	l, err := segment.NewLog(t.TempDir(), c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := l.AppendBatch(recs); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestWriteLog(t *testing.T) {
	recs := testRecords(500, 3000)
	// Larger than one batch read, so that WriteLog reads it on its own.
	recs[1234].Value = bytes.Repeat([]byte{0xfe}, batchBytes+10)
	l := testLog(t, 500, recs)
	tests := []struct {
		name        string
		first, next uint64
	}{
		{"whole log", 500, 3500},
		{"a middle range across segments", 620, 2999},
		{"one record", 1734, 1735},
		{"empty", 1000, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := Header{LogID: LogID{7}, First: tt.first, Next: tt.next}
			n, err := WriteLog(&buf, l, h)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(buf.Len()) {
				t.Errorf("WriteLog says %d bytes, wrote %d", n, buf.Len())
			}
			gotH, got, err := readAll(buf.Bytes(), WithMaxRecordBytes(2*batchBytes))
			if err != nil {
				t.Fatal(err)
			}
			want := recs[tt.first-500 : tt.next-500]
			if gotH != h || len(got) != len(want) {
				t.Fatalf("header %+v, %d records; want %+v, %d", gotH, len(got), h, len(want))
			}
			for i := range want {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("record %d: %+v, want %+v", want[i].Offset, got[i], want[i])
				}
			}
		})
	}
}

func TestWriteLogOutsideTheLog(t *testing.T) {
	l := testLog(t, 10, testRecords(10, 20))
	for _, h := range []Header{{First: 5, Next: 15}, {First: 20, Next: 31}} {
		var buf bytes.Buffer
		if _, err := WriteLog(&buf, l, h); !errors.Is(err, segment.ErrOffsetOutOfRange) {
			t.Errorf("[%d, %d) of a log of [10, 30): %v, want ErrOffsetOutOfRange", h.First, h.Next, err)
		}
		if _, _, err := readAll(buf.Bytes()); err == nil {
			t.Errorf("[%d, %d): what reached the writer reads as a valid snapshot", h.First, h.Next)
		}
	}
}
