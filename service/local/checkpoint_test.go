package local

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/segment/segmenttest"
	"github.com/evlog/evlog/service/servicetest"
)

func smallSegmentsConfig() segment.Config {
	var cfg segment.Config
	cfg.Sync.Mode = segment.SyncNever
	cfg.Segment.MaxStoreBytes = 256 // several segments
	return cfg
}

// copyTree copies the log directory src to a new temp dir.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// retryID opens dir, serves it and retries id; it returns whether the retry
// was a duplicate, its first offset, the log's lowest offset and what New
// logged.
func retryID(t *testing.T, dir, id string) (dup bool, first, low uint64, logged string) {
	t.Helper()
	seg, err := segment.NewLog(dir, smallSegmentsConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	logs := &servicetest.Buffer{}
	l, _ := serve(t, seg, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	defer l.Close()
	low, _ = seg.LowestOffset()
	a := withID(id, "retry")
	mustAppend(t, l, a)
	return a.Duplicate, a.First, low, logs.String()
}

// TestIDsAfterRetention: a single node applies retention to the segment
// log directly, which the table does not hear of. The ids of the records
// retention removed must still go, as a truncate's do: while the log
// serves, and after a clean restart, whose checkpoint held them, as after
// a rebuild from the records, which never sees them.
func TestIDsAfterRetention(t *testing.T) {
	dir := t.TempDir()
	seg, err := segment.NewLog(dir, smallSegmentsConfig())
	if err != nil {
		t.Fatal(err)
	}
	l, _ := serve(t, seg, Config{})
	for i := range 20 {
		mustAppend(t, l, withID(fmt.Sprintf("id-%d", i), "x", "y", "z"))
		mustAppend(t, l, app("no id"))
	}
	r, err := seg.ApplyRetention(segment.RetentionPolicy{MaxBytes: 600}, time.Now())
	if err != nil || r.Empty() {
		t.Fatalf("retention removed %+v, %v", r, err)
	}
	live := withID("id-0", "retry")
	mustAppend(t, l, live)
	if live.Duplicate {
		t.Fatalf("retry of an id whose records retention removed: %+v, want a new append", live)
	}
	l.Close()
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	crashed := copyTree(t, dir)
	if err := os.Remove(filepath.Join(crashed, idsFile)); err != nil {
		t.Fatal(err)
	}
	// id-1 is below the lowest offset too; the live retry above made
	// id-0 a new append of its own.
	cdup, cfirst, low, clog := retryID(t, dir, "id-1")
	rdup, _, _, _ := retryID(t, crashed, "id-1")
	if !strings.Contains(clog, "loaded append ids") {
		t.Fatalf("the clean restart logged %q, want its checkpoint loaded", clog)
	}
	if cdup || rdup {
		t.Fatalf("retry of id-1 after a clean restart: duplicate %v (offset %d, below the lowest %d); after a rebuild: duplicate %v",
			cdup, cfirst, low, rdup)
	}
}

// TestIDsAfterRestoreOver: evlog restore --force resets the log, which
// keeps the directory's log id, and restores other records over the same
// offset range. The checkpoint of the old records must not be used for
// the new ones, which carry none of its ids.
func TestIDsAfterRestoreOver(t *testing.T) {
	dir := t.TempDir()
	seg, err := segment.NewLog(dir, smallSegmentsConfig())
	if err != nil {
		t.Fatal(err)
	}
	l, _ := serve(t, seg, Config{})
	for i := range 5 {
		mustAppend(t, l, withID(fmt.Sprintf("id-%d", i), "x"))
	}
	l.Close()
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	// What evlog restore --force does.
	seg, err = segment.NewLog(dir, smallSegmentsConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := seg.Reset(); err != nil {
		t.Fatal(err)
	}
	var recs []*messages.Record
	for i := range 5 {
		recs = append(recs, &messages.Record{Offset: uint64(i), Value: []byte("other log"), Timestamp: time.Now().UnixNano()})
	}
	if _, err := seg.AppendUnsynced(recs); err != nil {
		t.Fatal(err)
	}
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	dup, first, _, logged := retryID(t, dir, "id-0")
	if !strings.Contains(logged, "append id checkpoint not used") {
		t.Fatalf("New logged %q, want the checkpoint refused", logged)
	}
	if dup {
		t.Fatalf("id-0 is answered as a duplicate of offset %d, which now holds a restored record without that id", first)
	}
}

// TestIDsWithDamagedLastRecord: a checkpoint's key holds a checksum of the
// last record, which cannot be read when that record is damaged. New must
// then rebuild the table, as it does for any unusable checkpoint, and not
// fail.
func TestIDsWithDamagedLastRecord(t *testing.T) {
	dir := t.TempDir()
	seg, err := segment.NewLog(dir, smallSegmentsConfig())
	if err != nil {
		t.Fatal(err)
	}
	l, _ := serve(t, seg, Config{})
	orig := withID("kept", "x")
	mustAppend(t, l, orig)
	mustAppend(t, l, app("last"))
	l.Close()
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segmenttest.Segments(t, dir)
	active := segs[len(segs)-1].Store
	frames, _ := segmenttest.Frames(t, active)
	segmenttest.FlipRecordBit(t, active, len(frames)-1)

	dup, first, _, logged := retryID(t, dir, "kept")
	if !strings.Contains(logged, "append id checkpoint not used") {
		t.Fatalf("New logged %q, want the checkpoint refused", logged)
	}
	if !dup || first != orig.First {
		t.Fatalf("retry of an id after the restart: duplicate %v at %d, want a duplicate of %d", dup, first, orig.First)
	}
}
