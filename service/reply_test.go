package service

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/evlog/evlog/messages"
)

func TestAppendOffsets(t *testing.T) {
	for _, v := range []uint64{0, 1, 200, 70000, 1 << 40} {
		var rep messages.AppendReply
		if err := messages.Unmarshal(appendOffsets(nil, "first_offset", v, "last_offset", v+1), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.FirstOffset != v || rep.LastOffset != v+1 {
			t.Fatalf("got %+v for %d", rep, v)
		}
	}
}

// TestRecordSizeBound checks that recordSize never underestimates what the
// log will store, whatever offset and timestamp it assigns.
func TestRecordSizeBound(t *testing.T) {
	long := strings.Repeat("h", 300)
	records := []messages.Record{
		{Value: []byte("x")},
		{Key: []byte("k")},
		{Value: make([]byte, 255), Key: make([]byte, 256)},
		{Value: make([]byte, 1<<16), Headers: map[string]string{"a": "b", long: long, "": ""}},
		{Value: make([]byte, 1<<16-1), Key: make([]byte, 1<<16), Headers: map[string]string{strings.Repeat("k", 31): strings.Repeat("v", 32)}},
	}
	for i, r := range records {
		bound := recordSize(&r)
		r.Offset, r.Timestamp = math.MaxUint64, math.MinInt64
		b, err := messages.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > bound {
			t.Fatalf("record %d: encodes to %d bytes, bound %d", i, len(b), bound)
		}
		if bound > len(b)+16 {
			t.Fatalf("record %d: bound %d is loose for %d bytes", i, bound, len(b))
		}
	}
}

func TestDescribe(t *testing.T) {
	got := describe(messages.CodeBadRequest, fmt.Errorf("%w: key %q\r\nInjected: yes", ErrBadRequest, "a\nb"))
	if strings.ContainsAny(got, "\r\n") || !strings.HasPrefix(got, "bad request: ") {
		t.Fatalf("describe: %q", got)
	}
}
