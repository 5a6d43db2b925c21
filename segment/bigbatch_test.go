package segment

import (
	"bytes"
	"testing"

	"github.com/evlog/evlog/messages"
)

// TestAppendBatchLargerThanScratchLimit: a batch whose frames outgrow the
// scratch the log keeps between appends (4 MiB) is written whole; the
// scratch was once dropped before the write and the append panicked.
func TestAppendBatchLargerThanScratchLimit(t *testing.T) {
	l := openLog(t, t.TempDir(), quietConfig(64<<20, 1000*entryWidth))
	v := bytes.Repeat([]byte{'v'}, 1<<20)
	recs := make([]*messages.Record, 5)
	for i := range recs {
		recs[i] = &messages.Record{Value: v}
	}
	first, err := l.AppendBatch(recs)
	if err != nil || first != 0 {
		t.Fatalf("append of 5 MiB: first %d, %v", first, err)
	}
	for i := range recs {
		r, err := l.Read(uint64(i))
		if err != nil || !bytes.Equal(r.Value, v) {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if off, err := l.Append(&messages.Record{Value: []byte("after")}); err != nil || off != 5 {
		t.Fatalf("append after the big batch: %d, %v", off, err)
	}
}
