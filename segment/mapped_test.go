package segment

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/evlog/evlog/messages"
)

// TestKillDuringMappedAppend kills the log, as kill -9 would, at every
// byte of a batch's copy into the active store's mapping: the files are
// copied while the copy is partway, with the rest of the store still the
// zeros of its preallocation. Recovery must keep exactly the records
// acknowledged before the batch, or all of them once the copy is whole,
// report a torn tail of the bytes the copy wrote (zeros at the end being
// free space), and leave nothing but free space after the frames kept.
func TestKillDuringMappedAppend(t *testing.T) {
	dir := t.TempDir()
	c := quietConfig(64<<10, 100*entryWidth)
	l := openLog(t, dir, c)
	before := appendN(t, l, 3)
	if !l.active().store.writable {
		t.Skip("the file system does not preallocate: appends use write(2)")
	}
	store := l.active().store.name
	start := int(l.active().store.size)

	var images []string
	var written [][]byte
	writeMapped = func(dst, src []byte) error {
		for k := range len(src) {
			copy(dst, src[:k])
			images = append(images, copyDir(t, dir))
			written = append(written, append([]byte(nil), src[:k]...))
		}
		copy(dst, src)
		return nil
	}
	t.Cleanup(func() { writeMapped = copyToMapping })
	batch := []*messages.Record{{Value: []byte("first of the batch")}, {Value: []byte("second of the batch")}}
	if _, err := l.AppendBatch(batch); err != nil {
		t.Fatal(err)
	}
	writeMapped = copyToMapping
	whole := copyDir(t, dir)
	closeLog(t, l)
	frames := readFile(t, store)

	for k, img := range images {
		t.Run(fmt.Sprintf("killed after %d bytes", k), func(t *testing.T) {
			if fi, err := os.Stat(filepath.Join(img, filepath.Base(store))); err != nil || fi.Size() != int64(c.Segment.MaxStoreBytes) {
				t.Fatalf("image's store: %v, %v; want it preallocated to %d bytes", fi, err, c.Segment.MaxStoreBytes)
			}
			l := openLog(t, img, c)
			checkReadAll(t, l, before)
			if n := l.NextOffset(); n != uint64(len(before)) {
				t.Fatalf("next offset %d, want %d", n, len(before))
			}
			rec := l.Recovered()
			if len(rec) != 1 || !rec[0].IndexRebuilt || rec[0].Records != 3 ||
				rec[0].TruncatedBytes != uint64(nonZeroLen(written[k])) {
				t.Fatalf("recovered %+v, want 3 records and %d torn bytes cut", rec, nonZeroLen(written[k]))
			}
			checkStoreFile(t, filepath.Join(img, filepath.Base(store)), frames[:start])
			// Appends go on after the records kept.
			more := appendValues(t, l, []byte("after the kill"))
			checkReadAll(t, l, append(before[:3:3], more...))
		})
	}
	t.Run("killed after the copy", func(t *testing.T) {
		l := openLog(t, whole, c)
		checkReadAll(t, l, append(before[:3:3], batch...))
		if rec := l.Recovered(); len(rec) != 1 || rec[0].TruncatedBytes != 0 || rec[0].Records != 5 {
			t.Fatalf("recovered %+v, want the index rebuilt over 5 records and nothing cut", rec)
		}
		checkStoreFile(t, filepath.Join(whole, filepath.Base(store)), frames)
	})
}

// TestCloseCutsPreallocation: a clean close leaves the active store ending
// at its last frame, so that the next open trusts it without a scan and
// reports nothing.
func TestCloseCutsPreallocation(t *testing.T) {
	dir := t.TempDir()
	c := quietConfig(64<<10, 100*entryWidth)
	l := openLog(t, dir, c)
	recs := appendN(t, l, 3)
	store := l.active().store.name
	if fi, err := os.Stat(store); err != nil || fi.Size() != 64<<10 {
		t.Fatalf("open store: %v, %v; want it preallocated", fi, err)
	}
	closeLog(t, l)
	if fi, err := os.Stat(store); err != nil || fi.Size() != int64(framesEnd(t, store)) {
		t.Fatalf("closed store: %v, %v; want it cut to its frames", fi, err)
	}
	l = openLog(t, dir, c)
	if rec := l.Recovered(); len(rec) != 0 {
		t.Fatalf("reopen recovered %+v", rec)
	}
	checkReadAll(t, l, recs)
}
