package raftlog

import (
	"log/slog"
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
