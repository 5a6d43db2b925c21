package segment

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"testing"
)

func TestTruncate(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	tests := []struct {
		name   string
		lowest uint64
		// wantBases are the segments left; the log held [0 1 2] [3 4 5] [6 7 8] [9].
		wantBases  []uint64
		wantLowest uint64
	}{
		{"zero removes nothing", 0, []uint64{0, 3, 6, 9}, 0},
		{"inside the first segment removes nothing", 2, []uint64{0, 3, 6, 9}, 2},
		{"base of the second removes the first", 3, []uint64{3, 6, 9}, 3},
		{"inside the third removes two", 7, []uint64{6, 9}, 7},
		{"the active segment's base", 9, []uint64{9}, 9},
		{"everything", 10, []uint64{10}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := quietConfig(3*fs, 0)
			l := openLog(t, dir, c)
			want := appendN(t, l, 10)
			if err := l.TruncateFront(tt.lowest); err != nil {
				t.Fatalf("truncate: %v", err)
			}
			check := func(l *Log) {
				t.Helper()
				if got := bases(t, dir); !slices.Equal(got, tt.wantBases) {
					t.Fatalf("bases %v, want %v", got, tt.wantBases)
				}
				if got := len(files(t, dir, indexSuffix)); got != len(tt.wantBases) {
					t.Fatalf("%d index files for %d segments", got, len(tt.wantBases))
				}
				if lo, err := l.LowestOffset(); err != nil || lo != tt.wantLowest {
					t.Fatalf("lowest %d, %v; want %d", lo, err, tt.wantLowest)
				}
				if n := l.NextOffset(); n != 10 {
					t.Fatalf("next %d, want 10", n)
				}
				checkReadAll(t, l, want[tt.wantLowest:])
				if tt.wantLowest > 0 {
					_, err := l.Read(tt.wantLowest - 1)
					checkOutOfRange(t, err, tt.wantLowest-1)
				}
				if tt.wantLowest == 10 {
					if _, err := l.HighestOffset(); !errors.Is(err, ErrEmpty) {
						t.Fatalf("highest after truncating everything: %v", err)
					}
				} else if hi, err := l.HighestOffset(); err != nil || hi != 9 {
					t.Fatalf("highest %d, %v", hi, err)
				}
			}
			check(l)
			closeLog(t, l)
			l = openLog(t, dir, c)
			if rec := l.Recovered(); len(rec) != 0 {
				t.Fatalf("reopen after truncate recovered %+v", rec)
			}
			check(l)
			// Offsets go on from where they were, never reused.
			more := appendN(t, l, 4)
			if more[0].Offset != 10 {
				t.Fatalf("append after truncate got %d, want 10", more[0].Offset)
			}
			checkReadAll(t, l, append(want[tt.wantLowest:], more...))
		})
	}
}

func TestTruncateEverythingTwice(t *testing.T) {
	dir := t.TempDir()
	c := quietConfig(0, 0)
	l := openLog(t, dir, c)
	appendN(t, l, 3)
	for range 2 {
		if err := l.TruncateFront(l.NextOffset()); err != nil {
			t.Fatalf("truncate: %v", err)
		}
	}
	if got := bases(t, dir); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("bases %v", got)
	}
	closeLog(t, l)
	l = openLog(t, dir, c)
	if n := l.NextOffset(); n != 3 {
		t.Fatalf("next offset %d after reopen, want 3", n)
	}
	if lo, _ := l.LowestOffset(); lo != 3 {
		t.Fatalf("lowest %d after reopen, want 3", lo)
	}
}

func TestTruncateBeyondNext(t *testing.T) {
	tests := []struct {
		name   string
		n      int
		lowest uint64
	}{
		{"empty log", 0, 1},
		{"one past next", 5, 6},
		{"far past next", 5, 1 << 62},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, quietConfig(64, 0))
			want := appendN(t, l, tt.n)
			before := bases(t, dir)
			err := l.TruncateFront(tt.lowest)
			checkOutOfRange(t, err, tt.lowest)
			if got := bases(t, dir); !slices.Equal(got, before) {
				t.Fatalf("bases %v, were %v", got, before)
			}
			checkReadAll(t, l, want)
		})
	}
}

// TestTruncateInsideSegment: records below the mark stop reading at once,
// through every read path, while their segment stays, and the mark
// survives a restart.
func TestTruncateInsideSegment(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	c := quietConfig(4*fs, 0)
	dir := t.TempDir()
	l := openLog(t, dir, c)
	want := appendN(t, l, 6) // [0 1 2 3] [4 5]
	if err := l.TruncateFront(2); err != nil {
		t.Fatal(err)
	}
	check := func(l *Log) {
		t.Helper()
		if got := bases(t, dir); !slices.Equal(got, []uint64{0, 4}) {
			t.Fatalf("bases %v, want [0 4]: no segment is wholly below 2", got)
		}
		if lo, err := l.LowestOffset(); err != nil || lo != 2 {
			t.Fatalf("lowest %d, %v; want 2", lo, err)
		}
		if st := l.Stats(); st.LowestOffset != 2 {
			t.Fatalf("stats %+v, want lowest 2", st)
		}
		for off := range uint64(2) {
			_, err := l.Read(off)
			checkOutOfRange(t, err, off)
			_, n, err := l.ReadRaw(off, 10, 1<<20, nil)
			checkOutOfRange(t, err, off)
			if n != 0 {
				t.Fatalf("read raw %d gave %d records", off, n)
			}
		}
		checkReadAll(t, l, want[2:])
		if _, n, err := l.ReadRaw(2, 10, 1<<20, nil); err != nil || n != 2 {
			t.Fatalf("read raw 2: %d records, %v; want the 2 left in the first segment", n, err)
		}
		got := readerBytes(t, l)
		if all := liveStoreBytes(t, dir); !bytes.HasSuffix(all, got) || uint64(len(all)-len(got)) != 2*fs {
			t.Fatalf("reader gave %d bytes of %d, want all but the 2 records below the mark", len(got), len(all))
		}
	}
	check(l)
	closeLog(t, l)
	l = openLog(t, dir, c)
	check(l)
	// A lower or equal truncate changes nothing.
	if err := l.TruncateFront(1); err != nil {
		t.Fatal(err)
	}
	check(l)
	// Truncating to the end leaves an empty log at the same offsets.
	if err := l.TruncateFront(6); err != nil {
		t.Fatal(err)
	}
	if _, err := l.HighestOffset(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("highest after truncating everything: %v", err)
	}
}

// TestTruncateCrashBeforeRemoval: a crash after the mark is written but
// before the segments below it are deleted leaves them; the log reads from
// the mark and the next TruncateFront deletes them.
func TestTruncateCrashBeforeRemoval(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	c := quietConfig(2*fs, 0)
	dir := t.TempDir()
	l := openLog(t, dir, c)
	want := appendN(t, l, 6) // [0 1] [2 3] [4 5]
	closeLog(t, l)
	m := readMetaFile(t, dir)
	m.low = 5
	writeFile(t, filepath.Join(dir, metaName), m.encode())
	l = openLog(t, dir, c)
	if lo, _ := l.LowestOffset(); lo != 5 {
		t.Fatalf("lowest %d, want 5", lo)
	}
	_, err := l.Read(3)
	checkOutOfRange(t, err, 3)
	checkReadAll(t, l, want[5:])
	if err := l.TruncateFront(0); err != nil {
		t.Fatal(err)
	}
	if got := bases(t, dir); !slices.Equal(got, []uint64{4}) {
		t.Fatalf("bases %v, want [4]", got)
	}
}

// TestResetLowersTheMark: Reset starts again at InitialOffset, and a
// reopen agrees.
func TestResetLowersTheMark(t *testing.T) {
	dir := t.TempDir()
	c := quietConfig(0, 0)
	l := openLog(t, dir, c)
	appendN(t, l, 5)
	if err := l.TruncateFront(3); err != nil {
		t.Fatal(err)
	}
	if err := l.Reset(); err != nil {
		t.Fatal(err)
	}
	want := appendN(t, l, 2)
	closeLog(t, l)
	l = openLog(t, dir, c)
	if lo, _ := l.LowestOffset(); lo != 0 {
		t.Fatalf("lowest %d after reset and reopen, want 0", lo)
	}
	checkReadAll(t, l, want)
}
