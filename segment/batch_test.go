package segment

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evlog/evlog/messages"
)

// batchImage is the directory of a log that died (kill -9) right after
// writing a batch of three records after two committed ones, all in its
// one segment, and where that batch lies in the store.
type batchImage struct {
	dir        string
	config     Config
	records    []*messages.Record
	store      string
	batchStart int
	batchEnd   int
}

func newBatchImage(t *testing.T) batchImage {
	t.Helper()
	c := quietConfig(1<<20, 100*entryWidth)
	dir := t.TempDir()
	l := openLog(t, dir, c)
	recs := appendN(t, l, 2)
	batch := appendable(3)
	if _, err := l.AppendBatch(batch); err != nil {
		t.Fatal(err)
	}
	img := batchImage{dir: copyDir(t, dir), config: c, records: append(recs, batch...)}
	closeLog(t, l)
	img.store = filepath.Base(files(t, img.dir, storeSuffix)[0])
	fr := frames(t, filepath.Join(img.dir, img.store))
	if len(fr) != 5 {
		t.Fatalf("%d frames, want 5", len(fr))
	}
	img.batchStart, img.batchEnd = fr[2].pos, fr[4].pos+fr[4].size
	return img
}

// TestRecoverIncompleteBatch cuts the store at every byte inside a batch of
// three records, as a crash in the middle of its one write may leave it:
// recovery keeps exactly the records before the batch, although the
// batch's first records may be intact, and Check calls the rest a torn
// tail. Cut at its end, the batch is whole and kept.
func TestRecoverIncompleteBatch(t *testing.T) {
	img := newBatchImage(t)
	orig := readFile(t, filepath.Join(img.dir, img.store))
	fr := frames(t, filepath.Join(img.dir, img.store))
	for cut := img.batchStart; cut <= img.batchEnd; cut++ {
		t.Run(fmt.Sprintf("cut at %d", cut), func(t *testing.T) {
			t.Parallel()
			dir := copyDir(t, img.dir)
			path := filepath.Join(dir, img.store)
			writeFile(t, path, orig[:cut])
			kept := 2
			if cut == img.batchEnd {
				kept = 5
			}
			rep, err := Check(dir, CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			seg := rep.Segments[0]
			switch {
			case kept == 5 && seg.Status != StatusOK && len(seg.Problems) > 0:
				t.Fatalf("check of a whole batch: %+v", seg)
			case kept == 2 && cut > img.batchStart && (seg.Status != StatusDamaged || len(seg.Problems) != 1 ||
				!strings.HasPrefix(seg.Problems[0], "torn tail")):
				t.Fatalf("check of a cut batch: %+v, want one problem, a torn tail", seg)
			}
			l := openLog(t, dir, img.config)
			if n := l.NextOffset(); n != uint64(kept) {
				t.Fatalf("next offset %d, want %d", n, kept)
			}
			checkReadAll(t, l, img.records[:kept])
			if kept < 5 {
				_, err := l.Read(uint64(kept))
				checkOutOfRange(t, err, uint64(kept))
				rec := l.Recovered()
				// The batch's intact frames are cut as torn, and so are
				// the bytes after them up to the last that is not zero:
				// zeros at the end are free space.
				torn := img.batchStart
				for _, f := range fr[2:] {
					if f.pos+f.size <= cut {
						torn = f.pos + f.size
					}
				}
				torn = max(torn, img.batchStart+nonZeroLen(orig[img.batchStart:cut])) - img.batchStart
				if len(rec) != 1 || rec[0].TruncatedBytes != uint64(torn) || rec[0].Records != 2 {
					t.Fatalf("recovered %+v, want %d bytes cut and 2 records", rec, torn)
				}
			}
			if kept == 2 {
				checkStoreFile(t, path, orig[:img.batchStart])
			}
			// A retry of the batch appends it once.
			retry := appendable(3)
			if _, err := l.AppendBatch(retry); err != nil {
				t.Fatal(err)
			}
			checkReadAll(t, l, append(img.records[:kept:kept], retry...))
		})
	}
}

// TestCheckIncompleteBatchInSealedSegment: a sealed segment never ends
// inside a batch, so one that does is damaged, not torn, and recovery
// leaves its tail in place.
func TestCheckIncompleteBatchInSealedSegment(t *testing.T) {
	img := newBatchImage(t)
	dir := copyDir(t, img.dir)
	path := filepath.Join(dir, img.store)
	fr := frames(t, path)
	// Keep the batch's first frame, which says more follow, and start a
	// segment after it.
	writeFile(t, path, readFile(t, path)[:fr[3].pos])
	writeFile(t, filepath.Join(dir, indexName(img.store)), nil)
	writeFile(t, segmentName(dir, 3, storeSuffix), nil)
	rep, err := Check(dir, CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seg := rep.Segments[0]
	if seg.Status != StatusDamaged || seg.Records != 2 || !strings.Contains(strings.Join(seg.Problems, "\n"), "store damaged") ||
		!strings.Contains(strings.Join(seg.Problems, "\n"), "a batch cut short") {
		t.Fatalf("sealed segment ending inside a batch: %+v", seg)
	}
	l := openLog(t, dir, img.config)
	rec := l.Recovered()
	if len(rec) != 1 || rec[0].DamagedBytes != uint64(fr[3].pos-fr[2].pos) || rec[0].TruncatedBytes != 0 {
		t.Fatalf("recovered %+v", rec)
	}
	checkReadAll(t, l, img.records[:2])
	if _, err := l.Read(2); err == nil {
		t.Fatal("read of the cut batch's record succeeded")
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != int64(fr[3].pos) {
		t.Fatalf("sealed store changed: %v, %v", fi, err)
	}
}

// TestBatchSplitAcrossSegments: a batch too large for one segment is
// written as one batch of the format per segment, so that no sealed
// segment ends inside a batch and a clean reopen recovers nothing.
func TestBatchSplitAcrossSegments(t *testing.T) {
	fs := uint64(frameSize(t, value(0), 0))
	c := quietConfig(3*fs, 0)
	dir := t.TempDir()
	l := openLog(t, dir, c)
	batch := appendable(8)
	if _, err := l.AppendBatch(batch); err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	for _, p := range files(t, dir, storeSuffix) {
		b := readFile(t, p)
		fr := frames(t, p)
		for i, f := range fr {
			if more := b[f.pos]>>7 == 1; more != (i < len(fr)-1) {
				t.Fatalf("%s: frame %d of %d has the batch flag %v", p, i, len(fr), more)
			}
		}
	}
	l = openLog(t, dir, c)
	if r := l.Recovered(); len(r) != 0 {
		t.Fatalf("reopen recovered %+v", r)
	}
	checkReadAll(t, l, batch)
}
