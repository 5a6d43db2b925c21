package segment

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

// TestRecoverRefusesToCutIntactRecords: when the active store is damaged in
// its middle while the index, as a crash left it, still points at intact
// records after the damage, the damage is bit rot, not a torn tail. Cutting
// there would delete records that may have been acknowledged, so NewLog
// refuses and leaves the files alone; a torn tail still recovers.
func TestRecoverRefusesToCutIntactRecords(t *testing.T) {
	img := newCrashImage(t, 3)
	dir := copyDir(t, img.open)
	store := filepath.Join(dir, img.active)
	b := readFile(t, store)
	mid := img.activeFrames[1]
	b[mid.pos+mid.size-1] ^= 0x40 // inside the payload of the second record
	writeFile(t, store, b)
	before := readFile(t, store)

	l, err := NewLog(dir, img.config)
	if err == nil {
		l.Close()
		t.Fatal("NewLog opened a log whose active store is damaged before intact records")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err %v, want ErrCorrupt", err)
	}
	if after := readFile(t, store); !bytes.Equal(before, after) {
		t.Fatal("the refused recovery changed the store")
	}

	// The same damage in the last record is indistinguishable from a torn
	// tail, which is cut as ever.
	dir = copyDir(t, img.open)
	store = filepath.Join(dir, img.active)
	b = readFile(t, store)
	last := img.activeFrames[len(img.activeFrames)-1]
	b[last.pos+last.size-1] ^= 0x40
	writeFile(t, store, b)
	l = openLog(t, dir, img.config)
	if got, want := l.NextOffset(), img.records[len(img.records)-1].Offset; got != want {
		t.Fatalf("next offset %d after cutting the damaged last record, want %d", got, want)
	}
}

// TestReadRefusesShiftedIndexEntry: an index entry whose relative offset
// is not its own slot points at another record's frame, which is intact;
// Read and ReadRaw must call that corrupt rather than serve it.
func TestReadRefusesShiftedIndexEntry(t *testing.T) {
	dir := t.TempDir()
	c := quietConfig(1<<20, 100*entryWidth)
	l := openLog(t, dir, c)
	appendN(t, l, 5)
	l.mu.Lock()
	s := l.active()
	// Entries 1 and 2 shifted together: each holds the next one's entry,
	// so their positions still frame an intact record, the wrong one.
	_, pos2 := s.index.entry(2)
	_, pos3 := s.index.entry(3)
	s.index.put(1, 2, pos2)
	s.index.put(2, 3, pos3)
	l.mu.Unlock()
	if _, err := l.Read(1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read of a shifted entry: %v, want ErrCorrupt", err)
	}
	if _, n, err := l.ReadRaw(1, 10, 1<<20, nil); !errors.Is(err, ErrCorrupt) || n != 0 {
		t.Fatalf("ReadRaw from a shifted entry: n %d, err %v", n, err)
	}
}
