package local

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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

// copyTree copies the log directory src to a new temp dir, as a crash
// would leave it.
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
		if errors.Is(err, os.ErrNotExist) {
			continue // a save's temporary file, renamed meanwhile
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// replaceTree makes dst hold the files of src, and only those.
func replaceTree(t *testing.T, src, dst string) {
	t.Helper()
	ents, err := os.ReadDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dst, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	ents, err = os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		writeFile(t, filepath.Join(dst, e.Name()), readFile(t, filepath.Join(src, e.Name())))
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
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

// TestIDsAfterCrashFromRollCheckpoint: the saver saves the table at each
// roll of a segment. A start after a crash loads the last such checkpoint
// and reads only the records since; it must decide every retry as a start
// that rebuilt the table from all the records does. Random appends, with
// ids and without, of one record and of several, and truncations, over
// small segments; then the directory as a kill -9 leaves it, started both
// ways.
func TestIDsAfterCrashFromRollCheckpoint(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			dir := t.TempDir()
			cfg := smallSegmentsConfig()
			cfg.Segment.MaxStoreBytes = 2048
			seg, err := segment.NewLog(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer seg.Close()
			l, _ := serve(t, seg, Config{})
			ids := 0
			for range 300 {
				switch r := rng.IntN(20); {
				case r == 0:
					next := seg.NextOffset()
					if _, err := l.TruncateFront(next - uint64(rng.IntN(int(min(next, 40))+1))); err != nil {
						t.Fatal(err)
					}
				case r < 12:
					values := make([]string, 1+rng.IntN(3))
					for i := range values {
						values[i] = fmt.Sprintf("v%d", rng.IntN(1000))
					}
					mustAppend(t, l, withID(fmt.Sprintf("id-%d", rng.IntN(ids+1)), values...))
					ids++
				default:
					mustAppend(t, l, app("no id"))
				}
			}
			path := filepath.Join(dir, idsFile)
			waitSaved(t, path)
			// The crash: the files as they are while the log is open.
			withCheckpoint := copyTree(t, dir)
			rebuilt := copyTree(t, dir)
			if err := os.Remove(filepath.Join(rebuilt, idsFile)); err != nil {
				t.Fatal(err)
			}
			a, alog := openCrashed(t, withCheckpoint)
			b, blog := openCrashed(t, rebuilt)
			if !strings.Contains(alog.String(), "loaded append ids") || !strings.Contains(blog.String(), "rebuilt append ids") {
				t.Fatalf("the starts logged %q and %q", alog, blog)
			}
			if a.Stats().DedupIDs != b.Stats().DedupIDs {
				t.Fatalf("%d ids from the checkpoint, %d rebuilt", a.Stats().DedupIDs, b.Stats().DedupIDs)
			}
			for i := range ids + 1 {
				id := fmt.Sprintf("id-%d", i)
				ra, rb := withID(id, "retry"), withID(id, "retry")
				mustAppend(t, a, ra)
				mustAppend(t, b, rb)
				if ra.Duplicate != rb.Duplicate || ra.First != rb.First || ra.Last != rb.Last {
					t.Fatalf("retry of %s: from the checkpoint %+v, rebuilt %+v", id, ra, rb)
				}
			}
		})
	}
}

// waitSaved waits for the saver's first checkpoint at path.
func waitSaved(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint saved at a roll")
		}
		time.Sleep(time.Millisecond)
	}
}

// openCrashed opens and serves dir, as a start after a crash does, and
// returns the Log and what New logged.
func openCrashed(t *testing.T, dir string) (*Log, *servicetest.Buffer) {
	t.Helper()
	cfg := smallSegmentsConfig()
	cfg.Segment.MaxStoreBytes = 2048
	seg, err := segment.NewLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = seg.Close() })
	logs := &servicetest.Buffer{}
	l, _ := serve(t, seg, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	return l, logs
}

// TestIDsCheckpointOlderThanTheWindow: a checkpoint that ends before the
// window starts would have the start read more records than the window
// holds; the table is rebuilt from the window instead.
func TestIDsCheckpointOlderThanTheWindow(t *testing.T) {
	dir := t.TempDir()
	var cfg segment.Config
	cfg.Sync.Mode = segment.SyncNever
	old := time.Now().Add(-time.Hour).UnixNano()
	appendOld := func(l *Log, n int) {
		for i := range n {
			a := withID(fmt.Sprintf("old-%d", i), "x")
			a.Records[0].Timestamp = old // as if appended an hour ago
			mustAppend(t, l, a)
		}
	}
	seg, err := segment.NewLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := serve(t, seg, Config{})
	appendOld(l, 5)
	l.Close()
	if err := seg.Close(); err != nil {
		t.Fatal(err)
	}
	seg, err = segment.NewLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	l, _ = serve(t, seg, Config{})
	appendOld(l, 5)
	crashed := copyTree(t, dir) // the first checkpoint, and the records since

	l, logs := openCrashed(t, crashed)
	if got := logs.String(); !strings.Contains(got, "before the window starts") {
		t.Fatalf("New logged %q, want the old checkpoint refused", got)
	}
	if n := l.Stats().DedupIDs; n != 0 {
		t.Fatalf("%d ids remembered, all older than the window", n)
	}
}
