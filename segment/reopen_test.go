package segment

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/evlog/evlog/messages"

	"github.com/evlog/evlog/segment/internal/frame"
)

func TestReopenAfterClose(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	tests := []struct {
		name     string
		maxStore uint64
		maxIndex uint64
		n        int
		sync     SyncMode
	}{
		{"empty", 3 * fs, 100 * entryWidth, 0, SyncNever},
		{"one segment", 3 * fs, 100 * entryWidth, 2, SyncNever},
		{"active segment full", 3 * fs, 100 * entryWidth, 6, SyncNever},
		{"several segments", 3 * fs, 100 * entryWidth, 10, SyncNever},
		{"rolled on the index", 1 << 20, 2 * entryWidth, 7, SyncNever},
		{"sync always", 3 * fs, 100 * entryWidth, 10, SyncAlways},
		{"sync interval", 3 * fs, 100 * entryWidth, 10, SyncInterval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := testConfig(tt.maxStore, tt.maxIndex)
			c.Sync.Mode = tt.sync
			l := openLog(t, dir, c)
			want := appendN(t, l, tt.n)
			closeLog(t, l)
			for round := range 3 {
				l = openLog(t, dir, c)
				if rec := l.Recovered(); len(rec) != 0 {
					t.Fatalf("round %d: clean reopen recovered %+v", round, rec)
				}
				if n := l.NextOffset(); n != uint64(len(want)) {
					t.Fatalf("round %d: next %d, want %d", round, n, len(want))
				}
				checkReadAll(t, l, want)
				want = append(want, appendN(t, l, 2)...)
				closeLog(t, l)
			}
		})
	}
}

// TestReopenTrustsCleanIndex shows that a clean reopen reads no more than
// the last frame of each segment: damage in the middle of a closed segment
// goes unnoticed by NewLog and is caught by the Read of that record.
func TestReopenTrustsCleanIndex(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	dir := t.TempDir()
	c := quietConfig(3*fs, 0)
	l := openLog(t, dir, c)
	want := appendN(t, l, 8) // [0 1 2] [3 4 5] [6 7]
	closeLog(t, l)
	for _, p := range files(t, dir, storeSuffix) {
		b := readFile(t, p)
		b[frame.HeaderSize+2] ^= 0x10 // the first record's payload
		writeFile(t, p, b)
	}
	l = openLog(t, dir, c)
	if rec := l.Recovered(); len(rec) != 0 {
		t.Fatalf("NewLog scanned: %+v", rec)
	}
	for _, w := range want {
		r, err := l.Read(w.Offset)
		if w.Offset%3 == 0 {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("read damaged %d: %v, %+v", w.Offset, err, r)
			}
			continue
		}
		if err != nil {
			t.Fatalf("read %d: %v", w.Offset, err)
		}
		checkRecord(t, r, w)
	}
}

// TestInitExisting follows proglog's testInitExisting: a log opened on the
// files of another continues where it left off.
func TestInitExisting(t *testing.T) {
	dir := t.TempDir()
	c := quietConfig(32, 0)
	c.Segment.MaxStoreBytes = uint64(frameSize(t, []byte("hello world"), 0)) * 2
	l := openLog(t, dir, c)
	want := appendValues(t, l, []byte("hello world"), []byte("hello world"), []byte("hello world"))
	if lo, err := l.LowestOffset(); err != nil || lo != 0 {
		t.Fatalf("lowest %d, %v", lo, err)
	}
	if hi, err := l.HighestOffset(); err != nil || hi != 2 {
		t.Fatalf("highest %d, %v", hi, err)
	}
	closeLog(t, l)

	n, err := NewLog(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if lo, err := n.LowestOffset(); err != nil || lo != 0 {
		t.Fatalf("reopened lowest %d, %v", lo, err)
	}
	if hi, err := n.HighestOffset(); err != nil || hi != 2 {
		t.Fatalf("reopened highest %d, %v", hi, err)
	}
	checkReadAll(t, n, want)
	appendValues(t, n, []byte("again"))
	if hi, _ := n.HighestOffset(); hi != 3 {
		t.Fatalf("highest %d after append, want 3", hi)
	}
}

func TestClosedLog(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, quietConfig(0, 0))
	appendN(t, l, 3)
	closeLog(t, l)
	closeLog(t, l) // idempotent

	tests := []struct {
		name string
		call func() error
	}{
		{"Append", func() error { _, err := l.Append(&messages.Record{}); return err }},
		{"AppendBatch", func() error { _, err := l.AppendBatch(appendable(1)); return err }},
		{"Read", func() error { _, err := l.Read(0); return err }},
		{"ReadRaw", func() error { _, _, err := l.ReadRaw(0, 1, 100, nil); return err }},
		{"LowestOffset", func() error { _, err := l.LowestOffset(); return err }},
		{"HighestOffset", func() error { _, err := l.HighestOffset(); return err }},
		{"Truncate", func() error { return l.TruncateFront(1) }},
		{"Sync", l.Sync},
		{"Reset", l.Reset},
		{"Reader", func() error { _, err := l.Reader().Read(make([]byte, 1)); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, ErrClosed) {
				t.Fatalf("got %v, want ErrClosed", err)
			}
		})
	}
	if n := l.NextOffset(); n != 0 {
		t.Fatalf("next offset %d after close", n)
	}
	if st := l.Stats(); st != (Stats{}) {
		t.Fatalf("stats %+v after close", st)
	}
	// Close left the files as they were.
	if got := bases(t, dir); len(got) != 1 {
		t.Fatalf("bases %v", got)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir() + "/log"
	l, err := NewLog(dir, quietConfig(64, 0))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 5)
	if err := l.Remove(); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dir after remove: %v", err)
	}
	if _, err := l.Read(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after remove: %v", err)
	}
}

func TestReset(t *testing.T) {
	dir := t.TempDir()
	c := quietConfig(64, 0)
	c.Segment.InitialOffset = 10
	l := openLog(t, dir, c)
	appendN(t, l, 5)
	if err := l.Reset(); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if lo, _ := l.LowestOffset(); lo != 10 || l.NextOffset() != 10 {
		t.Fatalf("after reset: lowest %d next %d", lo, l.NextOffset())
	}
	if got := bases(t, dir); len(got) != 1 || got[0] != 10 {
		t.Fatalf("bases after reset %v", got)
	}
	want := appendN(t, l, 3)
	closeLog(t, l)
	l = openLog(t, dir, c)
	checkReadAll(t, l, want)
}

// TestForeignFiles puts files into a log's directory that the log did not
// name: NewLog must leave them alone and neither create segments for them
// nor move its offsets.
func TestForeignFiles(t *testing.T) {
	tests := []struct {
		name string
		file string
		dir  bool
	}{
		{"short number", "7.store", false},
		{"long number", "0000000000000000000007.store", false},
		{"not a number", "notes.store", false},
		{"backup", "00000000000000000007.store.bak", false},
		{"orphan index", "00000000000000000007.index", false},
		{"directory", "00000000000000000007.store", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := quietConfig(0, 0)
			l := openLog(t, dir, c)
			want := appendN(t, l, 5)
			closeLog(t, l)
			path := filepath.Join(dir, tt.file)
			if tt.dir {
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			} else {
				writeFile(t, path, []byte("not a segment"))
			}
			before, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}

			l = openLog(t, dir, c)
			if n := l.NextOffset(); n != 5 {
				t.Fatalf("next offset %d, want 5", n)
			}
			if r := l.Recovered(); len(r) != 0 {
				t.Fatalf("recovered %+v", r)
			}
			checkReadAll(t, l, want)
			closeLog(t, l)
			after, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Fatalf("files %v, were %v", after, before)
			}
			if !tt.dir {
				if b := readFile(t, path); string(b) != "not a segment" {
					t.Fatalf("%s changed to %q", tt.file, b)
				}
			}
		})
	}
}

// TestReopenWithOtherLimits reopens a log with smaller and larger segment
// limits than it was written with: the existing segments stay readable and
// new records obey the new limits.
func TestReopenWithOtherLimits(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	tests := []struct {
		name              string
		storeFrames, idx  uint64 // limits when written
		storeFrames2, id2 uint64 // limits when reopened
		wantActiveGrows   bool   // the reopened active segment takes more records
	}{
		{"smaller store", 4, 100, 2, 100, false},
		{"smaller index", 100, 4, 100, 2, false},
		{"larger store", 4, 100, 8, 100, true},
		{"larger index", 100, 4, 100, 8, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, quietConfig(tt.storeFrames*fs, tt.idx*entryWidth))
			want := appendN(t, l, 7) // [0 1 2 3] [4 5 6]
			closeLog(t, l)
			c := quietConfig(tt.storeFrames2*fs, tt.id2*entryWidth)
			l = openLog(t, dir, c)
			if r := l.Recovered(); len(r) != 0 {
				t.Fatalf("recovered %+v", r)
			}
			checkReadAll(t, l, want)
			want = append(want, appendN(t, l, 6)...)
			checkReadAll(t, l, want)
			b := bases(t, dir)
			grew := b[1] == 4 && (len(b) == 2 || b[2] > 8)
			if grew != tt.wantActiveGrows {
				t.Fatalf("bases %v: active segment took more records: %v, want %v", b, grew, tt.wantActiveGrows)
			}
			// Segments made under the new limits obey them.
			for _, p := range files(t, dir, storeSuffix)[2:] {
				if fi, _ := os.Stat(p); uint64(fi.Size()) > tt.storeFrames2*fs {
					t.Fatalf("%s: %d bytes, over %d", p, fi.Size(), tt.storeFrames2*fs)
				}
			}
			closeLog(t, l)
			l = openLog(t, dir, c)
			checkReadAll(t, l, want)
		})
	}
}

// TestSyncFailureIsSticky makes fdatasync fail by closing the active
// store's file under the log: Sync must report it, later appends must be
// refused rather than acknowledged, and the records written before stay
// in the files for the next NewLog.
func TestSyncFailureIsSticky(t *testing.T) {
	dir := t.TempDir()
	c := quietConfig(0, 0)
	l, err := NewLog(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	want := appendN(t, l, 3)
	l.active().store.file.Close()
	serr := l.Sync()
	if serr == nil {
		t.Fatal("sync of a closed file succeeded")
	}
	for range 2 {
		if _, err := l.Append(&messages.Record{Value: []byte("x")}); !errors.Is(err, serr) {
			t.Fatalf("append after a failed sync: %v, want it to wrap %v", err, serr)
		}
		if err := l.Sync(); !errors.Is(err, serr) {
			t.Fatalf("sync after a failed sync: %v, want %v", err, serr)
		}
	}
	if n := l.NextOffset(); n != 3 {
		t.Fatalf("next offset %d, want 3", n)
	}
	if err := l.Close(); err == nil {
		t.Fatal("close with a closed store file succeeded")
	}
	l = openLog(t, dir, c)
	checkReadAll(t, l, want)
	appendN(t, l, 1)
}
