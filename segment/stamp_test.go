package segment

import (
	"bytes"
	"errors"
	"maps"
	"testing"

	"github.com/evlog/evlog/messages"
)

// TestAppendUnsyncedStamped: the stamp is stored on the batch's first
// record only, merged with its own headers, also when the batch spans
// segments; the caller's header maps are left as they were; and the
// stamp counts toward the record's size.
func TestAppendUnsyncedStamped(t *testing.T) {
	const storeBytes = 512
	l := openLog(t, t.TempDir(), quietConfig(storeBytes, 0))
	stamp := []messages.Header{{Key: "Stamp-A", Value: "1"}, {Key: "Stamp-B", Value: "22"}}
	own := map[string]string{"own": "x"}
	var batch []*messages.Record
	for range 12 { // more than one segment holds
		batch = append(batch, &messages.Record{Value: bytes.Repeat([]byte("v"), 60), Headers: own})
	}
	first, err := l.AppendUnsyncedStamped(batch, stamp)
	if err != nil {
		t.Fatal(err)
	}
	if len(own) != 1 {
		t.Fatalf("the caller's headers were written into: %v", own)
	}
	if l.Stats().Segments < 2 {
		t.Fatalf("the batch fit in %d segment", l.Stats().Segments)
	}
	for i := range batch {
		r, err := l.Read(first + uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"own": "x"}
		if i == 0 {
			want["Stamp-A"], want["Stamp-B"] = "1", "22"
		}
		if !maps.Equal(r.Headers, want) {
			t.Fatalf("record %d headers %v, want %v", i, r.Headers, want)
		}
	}

	// A record that fits alone but not with its stamp is refused whole.
	next := l.NextOffset()
	big := &messages.Record{Value: bytes.Repeat([]byte("v"), storeBytes-60)}
	if _, err := l.AppendUnsynced([]*messages.Record{big}); err != nil {
		t.Fatalf("the record alone: %v", err)
	}
	long := []messages.Header{{Key: "k", Value: string(bytes.Repeat([]byte("s"), 100))}}
	if _, err := l.AppendUnsyncedStamped([]*messages.Record{big}, long); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("the record with its stamp: %v, want ErrRecordTooLarge", err)
	}
	if l.NextOffset() != next+1 {
		t.Fatalf("next offset %d after the refused append, want %d", l.NextOffset(), next+1)
	}
}
