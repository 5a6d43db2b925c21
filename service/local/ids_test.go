package local

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/dedup"
	"github.com/evlog/evlog/service/servicetest"
)

// serve serves seg with cfg and records the commits; the test closes seg.
func serve(t *testing.T, seg *segment.Log, cfg Config) (*Log, *commits) {
	t.Helper()
	l, err := New(seg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	cs := &commits{}
	if err := l.Attach(cs.add); err != nil {
		t.Fatal(err)
	}
	return l, cs
}

func withID(id string, values ...string) *service.Append {
	a := app(values...)
	a.ID = id
	return a
}

func mustAppend(t *testing.T, l *Log, a *service.Append) {
	t.Helper()
	if err := l.Append(a); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicateAnswersOriginalOffsets(t *testing.T) {
	for _, mode := range []segment.SyncMode{segment.SyncNever, segment.SyncAlways} {
		t.Run(mode.String(), func(t *testing.T) {
			l, cs := open(t, mode, segment.Config{})
			orig := withID("batch-1", "a", "b")
			mustAppend(t, l, orig)
			mustAppend(t, l, app("c"))
			// Other content, same id: the id is the client's promise.
			dup := withID("batch-1", "x")
			mustAppend(t, l, dup)
			l.Detach()
			if !dup.Duplicate || dup.First != orig.First || dup.Last != orig.Last || orig.Duplicate {
				t.Fatalf("original %+v, duplicate %+v", orig, dup)
			}
			if next := l.Stats().NextOffset; next != 3 {
				t.Fatalf("next offset %d after a duplicate, want 3", next)
			}
			// The duplicate is delivered after its original: in a later
			// commit (alone, Empty, or behind another append) or in the
			// original's own group commit, after it. Which depends on how
			// the committer groups them, so any of these may happen.
			origAt, dupAt := deliveredAt(cs.get(), orig), deliveredAt(cs.get(), dup)
			if origAt < 0 || dupAt < 0 || dupAt < origAt {
				t.Fatalf("original delivered at %d, duplicate at %d in %+v", origAt, dupAt, cs.get())
			}
			for _, c := range cs.get() {
				if c.Empty != allDuplicates(c) {
					t.Fatalf("commit %+v: Empty is %v", c, c.Empty)
				}
			}
			if l.Stats().DedupIDs != 1 {
				t.Fatalf("DedupIDs %d, want 1", l.Stats().DedupIDs)
			}
		})
	}
}

// TestConcurrentRetriesShareOffsets: appends of one id racing each other
// get one set of offsets, one of them appends, and none is answered
// before that one commits.
func TestConcurrentRetriesShareOffsets(t *testing.T) {
	l, cs := open(t, segment.SyncAlways, segment.Config{})
	const n = 32
	as := make([]*service.Append, n)
	var wg sync.WaitGroup
	for i := range as {
		as[i] = withID("retried", fmt.Sprint(i))
		wg.Go(func() {
			if err := l.Append(as[i]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	l.Detach()
	if next := l.Stats().NextOffset; next != 1 {
		t.Fatalf("next offset %d, want 1: one append", next)
	}
	originals := 0
	committed := false
	for _, c := range cs.get() {
		for _, a := range c.Appends {
			if a.First != 0 || a.Last != 0 {
				t.Errorf("append got offsets %d-%d, want 0-0", a.First, a.Last)
			}
			if !a.Duplicate {
				originals++
				committed = true
			} else if !committed {
				t.Error("duplicate delivered before its original committed")
			}
		}
	}
	if originals != 1 {
		t.Fatalf("%d appends wrote records, want 1", originals)
	}
}

func TestExpectedOffset(t *testing.T) {
	l, _ := open(t, segment.SyncNever, segment.Config{})
	zero := uint64(0)
	a := app("a")
	a.ExpectedOffset = &zero
	mustAppend(t, l, a)

	b := app("b")
	b.ExpectedOffset = &zero
	err := l.Append(b)
	var conflict *service.ConflictError
	if !errors.As(err, &conflict) || !errors.Is(err, service.ErrConflict) || conflict.NextOffset != 1 {
		t.Fatalf("stale expected offset: %v", err)
	}
	if next := l.Stats().NextOffset; next != 1 {
		t.Fatalf("next offset %d after a conflict, want 1", next)
	}
	one := uint64(1)
	c := app("c")
	c.ExpectedOffset = &one
	mustAppend(t, l, c)
	if c.First != 1 {
		t.Fatalf("appended at %d, want 1", c.First)
	}
}

// TestDuplicateWinsOverExpectedOffset: the retry of an acknowledged
// conditional append gets its offsets, not a conflict.
func TestDuplicateWinsOverExpectedOffset(t *testing.T) {
	l, _ := open(t, segment.SyncNever, segment.Config{})
	zero := uint64(0)
	a := withID("cond", "a")
	a.ExpectedOffset = &zero
	mustAppend(t, l, a)
	retry := withID("cond", "a")
	retry.ExpectedOffset = &zero
	if err := l.Append(retry); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if !retry.Duplicate || retry.First != 0 {
		t.Fatalf("retry %+v", retry)
	}
}

// idsSession opens the log in dir, serves it with a logger into logs, and
// appends n batches with ids from id-first on, each followed by one
// without; it returns the batches with ids. It closes both logs, so that
// the table's checkpoint is saved.
func idsSession(t *testing.T, dir string, logs *servicetest.Buffer, first, n int) []*service.Append {
	t.Helper()
	var cfg segment.Config
	cfg.Sync.Mode = segment.SyncNever
	cfg.Segment.MaxStoreBytes = 256 // several segments
	seg, err := segment.NewLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	l, _ := serve(t, seg, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	defer l.Close()
	var spans []*service.Append
	for i := first; i < first+n; i++ {
		a := withID(fmt.Sprintf("id-%d", i), "x", "y", "z")
		mustAppend(t, l, a)
		spans = append(spans, a)
		mustAppend(t, l, app("no id"))
	}
	return spans
}

// checkpointAhead appends more to the log in dir and returns the
// checkpoint saved then, with dir put back as it was before: a checkpoint
// of records the log no longer holds.
func checkpointAhead(t *testing.T, dir string, logs *servicetest.Buffer) []byte {
	t.Helper()
	before := copyTree(t, dir)
	idsSession(t, dir, logs, 20, 5)
	ahead := readFile(t, filepath.Join(dir, idsFile))
	replaceTree(t, before, dir)
	return ahead
}

// TestIDsAcrossRestart: a retry after a restart is answered as a
// duplicate with its original's offsets, whether the table comes from the
// checkpoint a clean stop saved, from an older one and the records since,
// or, when the checkpoint is gone, damaged, or of records the log no
// longer holds, from the records alone.
func TestIDsAcrossRestart(t *testing.T) {
	for _, tc := range []struct {
		stop string
		// between changes dir after the first session; it returns the
		// batches it appended.
		between func(t *testing.T, dir string, logs *servicetest.Buffer) []*service.Append
		// want is the message New logs about the table.
		want string
	}{
		{"clean", nil, "loaded append ids"},
		{"crash", func(t *testing.T, dir string, _ *servicetest.Buffer) []*service.Append {
			// A kill -9 saves no checkpoint.
			if err := os.Remove(filepath.Join(dir, idsFile)); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "rebuilt append ids"},
		{"older checkpoint", func(t *testing.T, dir string, logs *servicetest.Buffer) []*service.Append {
			// The first session's checkpoint is back after a second
			// session appended more, as if the second had crashed: the
			// records since are read on top of it.
			path := filepath.Join(dir, idsFile)
			old := readFile(t, path)
			more := idsSession(t, dir, logs, 20, 5)
			writeFile(t, path, old)
			return more
		}, "loaded append ids"},
		{"checkpoint past the log's end", func(t *testing.T, dir string, logs *servicetest.Buffer) []*service.Append {
			// A power loss took records that a checkpoint was saved
			// after.
			writeFile(t, filepath.Join(dir, idsFile), checkpointAhead(t, dir, logs))
			return nil
		}, "append id checkpoint not used"},
		{"checkpoint of records lost and replaced", func(t *testing.T, dir string, logs *servicetest.Buffer) []*service.Append {
			// As above, and then other records took the lost offsets.
			ahead := checkpointAhead(t, dir, logs)
			other := idsSession(t, dir, logs, 20, 5)
			writeFile(t, filepath.Join(dir, idsFile), ahead)
			return other
		}, "append id checkpoint not used"},
		{"damaged checkpoint", func(t *testing.T, dir string, _ *servicetest.Buffer) []*service.Append {
			path := filepath.Join(dir, idsFile)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 1
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "append id checkpoint not used"},
	} {
		t.Run(tc.stop, func(t *testing.T) {
			dir := t.TempDir()
			logs := &servicetest.Buffer{}
			spans := idsSession(t, dir, logs, 0, 20)
			if tc.between != nil {
				spans = append(spans, tc.between(t, dir, logs)...)
			}
			var cfg segment.Config
			cfg.Sync.Mode = segment.SyncNever
			seg, err := segment.NewLog(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = seg.Close() })
			logs = &servicetest.Buffer{}
			l, _ := serve(t, seg, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if !strings.Contains(logs.String(), tc.want) {
				t.Fatalf("New logged %q, want %q", logs.String(), tc.want)
			}
			// A loaded checkpoint stays for a crash to come.
			if _, err := os.Stat(filepath.Join(dir, idsFile)); strings.Contains(tc.want, "loaded") && err != nil {
				t.Fatalf("after New, the checkpoint: %v", err)
			}
			if n := l.Stats().DedupIDs; n != len(spans) {
				t.Fatalf("%d ids after the restart, want %d", n, len(spans))
			}
			rec, err := seg.Read(spans[3].First)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Headers[messages.IDHeader] != "id-3" || rec.Headers[messages.BatchRecordsHeader] != "3" {
				t.Fatalf("first record's headers %v", rec.Headers)
			}
			for i, orig := range spans {
				retry := withID(fmt.Sprintf("id-%d", i), "x")
				mustAppend(t, l, retry)
				if !retry.Duplicate || retry.First != orig.First || retry.Last != orig.Last {
					t.Fatalf("retry of id-%d after the restart: %+v, original %d-%d", i, retry, orig.First, orig.Last)
				}
			}
		})
	}
}

func TestIDsExpireAfterWindow(t *testing.T) {
	dir := t.TempDir()
	var cfg segment.Config
	cfg.Sync.Mode = segment.SyncNever
	seg, err := segment.NewLog(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = seg.Close() })
	window := Config{Dedup: dedup.Config{Window: time.Minute}}
	l, _ := serve(t, seg, window)
	old := withID("old", "a")
	old.Records[0].Timestamp = time.Now().Add(-time.Hour).UnixNano() // as if appended long ago
	mustAppend(t, l, old)
	mustAppend(t, l, withID("young", "b"))

	again := withID("old", "c")
	mustAppend(t, l, again)
	if again.Duplicate {
		t.Fatal("id older than the window answered as a duplicate")
	}
	l.Close()
	// After a restart too, only the young ids come back.
	l, _ = serve(t, seg, window)
	for id, want := range map[string]bool{"young": true, "old": true} {
		a := withID(id, "d")
		mustAppend(t, l, a)
		if a.Duplicate != want {
			t.Errorf("%s after reopen: duplicate %v, want %v", id, a.Duplicate, want)
		}
	}
}

func TestIDsEvictedAtBound(t *testing.T) {
	var cfg segment.Config
	cfg.Sync.Mode = segment.SyncNever
	seg, err := segment.NewLog(t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = seg.Close() })
	l, _ := serve(t, seg, Config{Dedup: dedup.Config{MaxIDs: 2}})
	for _, id := range []string{"a", "b", "c"} {
		mustAppend(t, l, withID(id, id))
	}
	if n := l.Stats().DedupIDs; n != 2 {
		t.Fatalf("DedupIDs %d, want the bound 2", n)
	}
	for id, want := range map[string]bool{"a": false, "c": true} {
		a := withID(id, "again")
		mustAppend(t, l, a)
		if a.Duplicate != want {
			t.Errorf("%s: duplicate %v, want %v", id, a.Duplicate, want)
		}
	}
}

// deliveredAt returns where a was delivered among the commits cs, as its
// position counted across every commit's appends, or -1.
func deliveredAt(cs []service.Commit, a *service.Append) int {
	n := 0
	for _, c := range cs {
		for _, got := range c.Appends {
			if got == a {
				return n
			}
			n++
		}
	}
	return -1
}

// allDuplicates says whether every append c completes is a duplicate.
func allDuplicates(c service.Commit) bool {
	for _, a := range c.Appends {
		if !a.Duplicate {
			return false
		}
	}
	return len(c.Appends) > 0
}

// TestTruncateForgetsIDs: a truncate forgets the ids of the records it
// removed, as a restart would, so that a retry decides alike before and
// after one; the ids of the records kept stay.
func TestTruncateForgetsIDs(t *testing.T) {
	l, _ := open(t, segment.SyncNever, segment.Config{})
	gone, kept := withID("gone", "a", "b"), withID("kept", "c")
	mustAppend(t, l, gone)
	mustAppend(t, l, kept)
	if _, err := l.TruncateFront(kept.First); err != nil {
		t.Fatal(err)
	}
	if n := l.Stats().DedupIDs; n != 1 {
		t.Fatalf("%d ids after the truncate, want 1", n)
	}
	again, dup := withID("gone", "a", "b"), withID("kept", "c")
	mustAppend(t, l, again)
	mustAppend(t, l, dup)
	if again.Duplicate || again.First != 3 {
		t.Fatalf("retry of a truncated id: %+v, want a new append at 3", again)
	}
	if !dup.Duplicate || dup.First != kept.First {
		t.Fatalf("retry of a kept id: %+v, want the original %d", dup, kept.First)
	}
}
