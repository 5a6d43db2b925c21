package segment

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	before := snapshot(t, dir)

	// Twice: a refusal that changed the index would let the next open
	// cut the records.
	for range 2 {
		l, err := NewLog(dir, img.config)
		if err == nil {
			l.Close()
			t.Fatal("NewLog opened a log whose active store is damaged before intact records")
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err %v, want ErrCorrupt", err)
		}
		if !sameFiles(before, snapshot(t, dir)) {
			t.Fatal("the refused recovery changed the files")
		}
	}

	// The same damage in the last record is indistinguishable from a torn
	// tail, which is cut as ever.
	dir = copyDir(t, img.open)
	store = filepath.Join(dir, img.active)
	b = readFile(t, store)
	last := img.activeFrames[len(img.activeFrames)-1]
	b[last.pos+last.size-1] ^= 0x40
	writeFile(t, store, b)
	l := openLog(t, dir, img.config)
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

// zeroEndedClock stamps every record with a timestamp whose last byte is
// zero. A record's encoding ends with its timestamp, so every frame ends
// in a zero byte, which free-space detection must not take for the zeros
// of a preallocated tail.
func zeroEndedClock(c *Config) {
	at := time.Unix(0, time.Now().UnixNano()&^0xff)
	c.Now = func() time.Time { return at }
}

// TestRecoverRefusesToCutIntactRecordsEndingInZeros: the refusal above
// holds when the intact record after the damage is the store's last and
// its frame ends in zeros. Those zeros looked like the free space of a
// preallocated tail, so the frame seemed to run past the store's end and
// the damage passed for a torn tail, which was cut with the record.
func TestRecoverRefusesToCutIntactRecordsEndingInZeros(t *testing.T) {
	img := newCrashImage(t, 3, zeroEndedClock)
	dir := copyDir(t, img.open)
	store := filepath.Join(dir, img.active)
	b := readFile(t, store)
	last := img.activeFrames[len(img.activeFrames)-1]
	if b[last.pos+last.size-1] != 0 {
		t.Fatalf("the last frame ends in %#x, want a zero", b[last.pos+last.size-1])
	}
	mid := img.activeFrames[1]
	b[mid.pos+mid.size-1] ^= 0x40
	writeFile(t, store, b)
	before := readFile(t, store)

	l, err := NewLog(dir, img.config)
	if err == nil {
		l.Close()
		t.Fatal("NewLog cut an intact record ending in zeros with the damage before it")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err %v, want ErrCorrupt", err)
	}
	if after := readFile(t, store); !bytes.Equal(before, after) {
		t.Fatal("the refused recovery changed the store")
	}
	rep := repair(t, dir)
	if after := readFile(t, store); !bytes.Equal(before, after) {
		t.Fatal("repair cut an intact record ending in zeros")
	}
	s := rep.Segments[len(rep.Segments)-1]
	if s.Status != StatusDamaged || !strings.Contains(strings.Join(s.Problems, ";"), "1 intact records after the damage") {
		t.Fatalf("check's report %+v", s)
	}
}

// TestRecoverLeavesDamagedSealedStoreWhole: a sealed store damaged in its
// middle, whose index is missing, keeps its damaged tail for inspection
// byte for byte, including the zeros its last frame ends in; they were cut
// as if a crash had left them preallocated.
func TestRecoverLeavesDamagedSealedStoreWhole(t *testing.T) {
	img := newCrashImage(t, 1, zeroEndedClock)
	dir := copyDir(t, img.closed)
	stores := files(t, dir, storeSuffix)
	sealed := stores[0]
	fr := frames(t, sealed)
	b := readFile(t, sealed)
	if b[len(b)-1] != 0 {
		t.Fatalf("the sealed store ends in %#x, want a zero", b[len(b)-1])
	}
	b[fr[1].pos+fr[1].size-1] ^= 0x40
	writeFile(t, sealed, b)
	if err := os.Remove(indexName(sealed)); err != nil {
		t.Fatal(err)
	}

	l := openLog(t, dir, img.config)
	if rec := l.Recovered(); len(rec) != 1 || rec[0].DamagedBytes != uint64(len(b)-fr[1].pos) {
		t.Fatalf("recovered %+v, want the %d bytes from the damage on left as damaged", rec, len(b)-fr[1].pos)
	}
	closeLog(t, l)
	if after := readFile(t, sealed); !bytes.Equal(b, after) {
		t.Fatalf("the sealed store changed: %d bytes, was %d", len(after), len(b))
	}
}

// TestRecoverSealedZeroedTailIsDamage: the last frame of a sealed store
// read back as zeros (blocks the disk lost), ending at a frame boundary.
// A sealed store was cut to its last frame and synced before the next
// segment was created, so those zeros are a lost record, not free space a
// crash left preallocated: they are kept and reported as damage, and the
// offset reads as corrupt rather than vanishing from the log.
func TestRecoverSealedZeroedTailIsDamage(t *testing.T) {
	img := newCrashImage(t, 1)
	dir := copyDir(t, img.closed)
	sealed := files(t, dir, storeSuffix)[0]
	fr := frames(t, sealed)
	b := readFile(t, sealed)
	last := fr[len(fr)-1]
	clear(b[last.pos:])
	writeFile(t, sealed, b)

	rep, err := Check(dir, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Segments[0]; s.Status != StatusDamaged || s.Records != uint64(len(fr)-1) {
		t.Fatalf("check of the sealed segment: %+v, want damaged with %d records", s, len(fr)-1)
	}
	l := openLog(t, dir, img.config)
	if rec := l.Recovered(); len(rec) != 1 || rec[0].DamagedBytes != uint64(last.size) {
		t.Fatalf("recovered %+v, want %d damaged bytes", rec, last.size)
	}
	if _, err := l.Read(uint64(len(fr) - 1)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of the zeroed record: %v, want ErrCorrupt", err)
	}
	closeLog(t, l)
	if after := readFile(t, sealed); !bytes.Equal(after, b) {
		t.Fatalf("recovery changed the sealed store: %d bytes, was %d", len(after), len(b))
	}
}

// TestCheckPredictsDamagedSealedTail: Check reports a damaged sealed
// store's tail as NewLog keeps it, trailing zeros included, and never
// calls them free space that opening the log cuts.
func TestCheckPredictsDamagedSealedTail(t *testing.T) {
	img := newCrashImage(t, 1, zeroEndedClock)
	dir := copyDir(t, img.closed)
	sealed := files(t, dir, storeSuffix)[0]
	fr := frames(t, sealed)
	b := readFile(t, sealed)
	b[fr[1].pos+fr[1].size-1] ^= 0x40
	writeFile(t, sealed, b)
	if err := os.Remove(indexName(sealed)); err != nil {
		t.Fatal(err)
	}
	rep, err := Check(dir, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Segments[0]
	for _, n := range s.Notes {
		if strings.Contains(n, "free space") {
			t.Errorf("check calls the end of a damaged sealed store free space: %q", n)
		}
	}
	if s.Status != StatusDamaged || s.Bytes != uint64(len(b)) {
		t.Fatalf("check of the sealed segment: %+v, want damaged, %d bytes", s, len(b))
	}
}
