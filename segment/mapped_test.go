package segment

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment/internal/frame"
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

// TestKillWithActiveSegmentFull kills the log when its active segment is
// full to the last byte of its store and the last entry of its index, the
// one state in which a crash leaves the files exactly as a clean close
// does: the preallocation has no free space left and the index no spare
// entry. Recovery must trust them, report nothing and keep every record;
// the next append rolls to a new segment. With one byte of store to spare,
// the zero left after the frames is free space that recovery cuts, and it
// says so.
func TestKillWithActiveSegmentFull(t *testing.T) {
	recs := func() []*messages.Record {
		var r []*messages.Record
		for i := range 4 {
			r = append(r, &messages.Record{Value: value(i), Timestamp: int64(1000 + i)})
		}
		return r
	}
	var exact uint64
	for i, r := range recs() {
		r.Offset = uint64(i)
		b, err := messages.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		exact += frame.HeaderSize + uint64(len(b))
	}
	for _, spare := range []uint64{0, 1} {
		t.Run(fmt.Sprintf("%d bytes spare", spare), func(t *testing.T) {
			dir := t.TempDir()
			c := quietConfig(exact+spare, 4*entryWidth)
			l := openLog(t, dir, c)
			want := recs()
			if _, err := l.AppendBatch(want); err != nil {
				t.Fatal(err)
			}
			writable := l.active().store.writable
			store := filepath.Base(l.active().store.name)
			img := copyDir(t, dir)
			closeLog(t, l)

			l = openLog(t, img, c)
			checkReadAll(t, l, want)
			rec := l.Recovered()
			switch {
			case spare == 0 && len(rec) != 0:
				t.Fatalf("a full segment recovered %+v, want it trusted as it is", rec)
			case spare == 1 && writable && (len(rec) != 1 || !rec[0].IndexRebuilt || rec[0].TruncatedBytes != 0 || rec[0].Records != 4):
				t.Fatalf("recovered %+v, want the index rebuilt over 4 records and nothing cut", rec)
			}
			more := appendValues(t, l, []byte("after the kill"))
			if got := len(l.segments); got != 2 {
				t.Fatalf("%d segments after appending to a full one, want 2", got)
			}
			// Sealed now: cut to its frames, whatever it was preallocated to.
			if fi, err := os.Stat(filepath.Join(img, store)); err != nil || uint64(fi.Size()) != exact {
				t.Fatalf("sealed store: %v, %v; want its %d bytes of frames", fi, err, exact)
			}
			checkReadAll(t, l, append(want, more...))
		})
	}
}
