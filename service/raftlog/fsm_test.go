package raftlog

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service/dedup"
)

func openTestFSM(t *testing.T, dir string) *fsm {
	t.Helper()
	f, err := openFSM(dir, segment.Config{}, dedup.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f.onApply = func(*entry, *applyResult) {}
	f.onFail = func(err error) { t.Errorf("fsm failed: %v", err) }
	return f
}

func appendEntry(t *testing.T, index uint64, ts int64, id string, values ...string) *raft.Log {
	t.Helper()
	ea := entryAppend{ID: id}
	for _, v := range values {
		ea.Records = append(ea.Records, &messages.Record{Value: []byte(v)})
	}
	data, err := encodeEntry(&entry{Op: opAppend, TS: ts, Appends: []entryAppend{ea}})
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: data}
}

// truncEntry is the Raft entry at index of a truncate to lowest.
func truncEntry(t *testing.T, index, lowest uint64) *raft.Log {
	t.Helper()
	data, err := encodeEntry(&entry{Op: opTruncate, TS: 1, Lowest: lowest})
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: data}
}

// storeFile returns the path and the contents of the segment log's only
// store file: preallocated, it holds zeros past the last record, as after
// a crash.
func storeFile(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "log", "*.store"))
	if err != nil || len(m) != 1 {
		t.Fatalf("store files %v, %v; want one", m, err)
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	return m[0], b
}

// TestNoopTruncateSyncsEarlierAppends: a truncate at or below the
// low-water mark removes nothing, yet records its index in the applied
// file. The records of the appends before it must be durable by then: a
// power loss that took them would otherwise leave the node believing it
// applied them, Raft's replay would skip them and the next append would
// reuse their offsets.
func TestNoopTruncateSyncsEarlierAppends(t *testing.T) {
	dir := t.TempDir()
	f := openTestFSM(t, dir)
	f.Apply(appendEntry(t, 1, 1000, "", "a"))
	if err := f.seg.Sync(); err != nil { // as a snapshot's Persist does
		t.Fatal(err)
	}
	path, durable := storeFile(t, dir)
	f.synced = func() { _, durable = storeFile(t, dir) }
	f.Apply(appendEntry(t, 2, 2000, "", "b"))
	f.Apply(appendEntry(t, 3, 3000, "", "c"))
	f.Apply(truncEntry(t, 4, 0))
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	// A power loss keeps what was last synced; the close synced more.
	if err := os.WriteFile(path, durable, 0o644); err != nil {
		t.Fatal(err)
	}
	f = openTestFSM(t, dir)
	defer f.close()
	// Raft replays the entries above its snapshot.
	f.Apply(appendEntry(t, 2, 2000, "", "b"))
	f.Apply(appendEntry(t, 3, 3000, "", "c"))
	f.Apply(truncEntry(t, 4, 0))
	f.Apply(appendEntry(t, 5, 5000, "", "d"))
	for off, want := range []string{"a", "b", "c", "d"} {
		rec, err := f.seg.Read(uint64(off))
		if err != nil || string(rec.Value) != want {
			t.Fatalf("record %d after the power loss and replay: %+v, %v; want %q", off, rec, err, want)
		}
	}
}

// TestReapplyChangesNothing: entries applied before a restart, replayed
// after it, leave the log as it was; the next entry appends.
func TestReapplyChangesNothing(t *testing.T) {
	dir := t.TempDir()
	f := openTestFSM(t, dir)
	e3 := appendEntry(t, 3, 1000, "id", "a", "b")
	e5 := appendEntry(t, 5, 2000, "", "c")
	f.Apply(e3)
	f.Apply(e5)
	if err := f.close(); err != nil {
		t.Fatal(err)
	}

	f = openTestFSM(t, dir)
	defer f.close()
	if f.applied != 5 || f.lastTS != 2000 || f.committed.Load() != 3 {
		t.Fatalf("reopened: applied %d, last ts %d, committed %d; want 5, 2000, 3", f.applied, f.lastTS, f.committed.Load())
	}
	if r := f.Apply(e3); r != nil {
		t.Fatalf("re-applying index 3 returned %v", r)
	}
	f.Apply(e5)
	if next := f.seg.NextOffset(); next != 3 {
		t.Fatalf("next offset %d after replay, want 3", next)
	}
	// The id came back from the log: a retry is a duplicate.
	r := f.Apply(appendEntry(t, 6, 1500, "id", "a", "b")).(*applyResult)
	if o := r.outcomes[0]; !o.Duplicate || o.First != 0 || o.Last != 1 || r.wrote {
		t.Fatalf("retry after reopen: %+v, wrote %v", o, r.wrote)
	}
	// The timestamp never goes back: 1500 < 2000.
	f.Apply(appendEntry(t, 7, 1500, "", "d"))
	rec, err := f.seg.Read(3)
	if err != nil || rec.Timestamp != 2000 {
		t.Fatalf("record 3: %+v, %v; want timestamp 2000", rec, err)
	}
}
