package segment

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

func TestReader(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	tests := []struct {
		name     string
		n        int
		truncate uint64
	}{
		{"empty", 0, 0},
		{"one record", 1, 0},
		{"one segment", 3, 0},
		{"several segments", 10, 0},
		{"after truncate", 10, 4},
		{"after truncating everything", 10, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, quietConfig(3*fs, 0))
			want := appendN(t, l, tt.n)
			if err := l.TruncateFront(tt.truncate); err != nil {
				t.Fatal(err)
			}
			got := readerBytes(t, l)
			// The stores end with the bytes, which start at the low-water
			// mark's record although its segment holds records below it.
			if !bytes.HasSuffix(liveStoreBytes(t, dir), got) {
				t.Fatalf("reader gave %d bytes, not the end of the %d the stores hold", len(got), len(liveStoreBytes(t, dir)))
			}
			// The bytes are the frames of the records left, in order.
			lo, _ := l.LowestOffset()
			var frames []byte
			for _, r := range want[lo:] {
				frames = frame.Append(frames, encoding(t, r), false)
			}
			if !bytes.Equal(got, frames) {
				t.Fatalf("reader gave %d bytes, want the %d of the frames of [%d, %d)", len(got), len(frames), lo, tt.n)
			}
		})
	}
}

// TestReaderSnapshot shows that a Reader stops at the stores' sizes at the
// time it was made, whatever is appended later.
func TestReaderSnapshot(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, quietConfig(0, 0))
	appendN(t, l, 3)
	before := liveStoreBytes(t, dir)
	r := l.Reader()
	appendN(t, l, 3)
	var got bytes.Buffer
	if _, err := got.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), before) {
		t.Fatalf("reader gave %d bytes, want the %d there were", got.Len(), len(before))
	}

	// A reader whose log is closed under it fails rather than stop short
	// as if it had read everything.
	r = l.Reader()
	closeLog(t, l)
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("reader of a closed log read to the end")
	}
}

func TestReadRaw(t *testing.T) {
	fs := frameSize(t, value(0), 0)
	pl := fs - frame.HeaderSize // encoded size of each record
	tests := []struct {
		name       string
		offset     uint64
		maxRecords int
		maxBytes   int
		want       int // records returned
		err        error
	}{
		{"one record", 0, 1, 1 << 20, 1, nil},
		{"up to the segment's end", 1, 100, 1 << 20, 3, nil},
		{"from a segment's start", 4, 100, 1 << 20, 4, nil},
		{"max records", 4, 2, 1 << 20, 2, nil},
		{"zero max records", 4, 0, 1 << 20, 0, nil},
		{"negative max records", 4, -1, 1 << 20, 0, nil},
		{"max bytes exactly three", 4, 100, 3 * pl, 3, nil},
		{"max bytes one short of three", 4, 100, 3*pl - 1, 2, nil},
		{"max bytes exactly one", 4, 100, pl, 1, nil},
		{"first record over max bytes", 4, 100, pl - 1, 0, ErrRecordTooLarge},
		{"zero max bytes", 4, 100, 0, 0, ErrRecordTooLarge},
		{"negative max bytes", 4, 100, -1, 0, ErrRecordTooLarge},
		{"last record", 9, 100, 1 << 20, 1, nil},
		{"next offset", 10, 100, 1 << 20, 0, ErrOffsetOutOfRange},
	}
	dir := t.TempDir()
	// [0 1 2 3] [4 5 6 7] [8 9]
	l := openLog(t, dir, quietConfig(uint64(4*fs), 0))
	recs := appendN(t, l, 10)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("prefix")
			dst := bytes.Clone(prefix)
			got, n, err := l.ReadRaw(tt.offset, tt.maxRecords, tt.maxBytes, dst)
			if !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
			if n != tt.want {
				t.Fatalf("got %d records, want %d", n, tt.want)
			}
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("dst's prefix lost: %q", got)
			}
			if err != nil {
				if len(got) != len(prefix) {
					t.Fatalf("failed read appended %d bytes", len(got)-len(prefix))
				}
				return
			}
			if wantBytes := encodings(t, recs[tt.offset:tt.offset+uint64(n)]); !bytes.Equal(got[len(prefix):], wantBytes) {
				t.Fatalf("got %d bytes, want the %d of the encodings", len(got)-len(prefix), len(wantBytes))
			}
			// Each encoding unmarshals into its record.
			rest := got[len(prefix):]
			for i := range n {
				want := recs[tt.offset+uint64(i)]
				var r messages.Record
				if err := messages.Unmarshal(rest[:pl], &r); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				checkRecord(t, &r, want)
				rest = rest[pl:]
			}
		})
	}
}

// TestReadRawAfterRecovery reads raw from a segment whose index recovery
// rebuilt, to make sure the rebuilt positions frame the records exactly.
func TestReadRawAfterRecovery(t *testing.T) {
	img := newCrashImage(t, 2)
	dir := copyDir(t, img.open)
	l := openLog(t, dir, img.config)
	raw, n, err := l.ReadRaw(3, 10, 1<<20, nil)
	if err != nil || n != 2 {
		t.Fatalf("read raw: %d records, %v", n, err)
	}
	if !bytes.Equal(raw, encodings(t, img.records[3:])) {
		t.Fatal("raw records differ from what was appended")
	}
}
