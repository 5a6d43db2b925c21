package raftlog

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/evlog/evlog/messages"
	"github.com/evlog/evlog/segment"
	"github.com/evlog/evlog/service"
	"github.com/evlog/evlog/service/dedup"
	"github.com/evlog/evlog/service/servicetest"
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

// applyBoth applies entries to each replica, in order.
func applyBoth(a, b *fsm, entries ...*raft.Log) {
	for _, e := range entries {
		a.Apply(e)
		b.Apply(e)
	}
}

// restartFSM closes f and opens its directory again, which rebuilds the
// dedup table from the records, as after a crash.
func restartFSM(t *testing.T, f *fsm) *fsm {
	t.Helper()
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	return openTestFSM(t, f.dir)
}

// restartFSMSaved closes f as a clean close of the Log does, saving the
// dedup table, and opens its directory again, which must load it.
func restartFSMSaved(t *testing.T, f *fsm) *fsm {
	t.Helper()
	f.saveIDs(nil)
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	logs := &servicetest.Buffer{}
	f, err := openFSM(f.dir, segment.Config{}, dedup.Config{}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f.onApply = func(*entry, *applyResult) {}
	f.onFail = func(err error) { t.Errorf("fsm failed: %v", err) }
	if !strings.Contains(logs.String(), "loaded append ids") {
		t.Fatalf("the checkpoint was not loaded: %s", logs)
	}
	return f
}

// restarts are the two ways a replica's dedup table comes back.
var restarts = []struct {
	name    string
	restart func(*testing.T, *fsm) *fsm
}{{"rebuilt", restartFSM}, {"checkpoint", restartFSMSaved}}

// TestTruncateForgetsIDsOnEveryReplica: a truncate removes a record whose
// id is still within the dedup window; one replica restarts and rebuilds
// its table from what is left, the other keeps running. A retry with
// that id must be decided alike on both: a new append, since the
// restarted one cannot know the id.
func TestTruncateForgetsIDsOnEveryReplica(t *testing.T) {
	for _, r := range restarts {
		t.Run(r.name, func(t *testing.T) { testTruncateForgetsIDs(t, r.restart) })
	}
}

func testTruncateForgetsIDs(t *testing.T, restart func(*testing.T, *fsm) *fsm) {
	a, b := openTestFSM(t, t.TempDir()), openTestFSM(t, t.TempDir())
	defer a.close()
	applyBoth(a, b,
		appendEntry(t, 1, 1000, "x", "v0"),
		appendEntry(t, 2, 2000, "y", "v1"),
		truncEntry(t, 3, 1),
	)
	b = restart(t, b)
	defer b.close()
	// The next leader's clock is behind: the ids are all in the window.
	retryX, retryY := appendEntry(t, 4, 1500, "x", "v0"), appendEntry(t, 5, 1500, "y", "v1")
	for _, f := range []*fsm{a, b} {
		rx, ry := f.Apply(retryX).(*applyResult), f.Apply(retryY).(*applyResult)
		if o := rx.outcomes[0]; o.Duplicate || o.First != 2 {
			t.Errorf("retry of the truncated id x: %+v, want a new append at 2", o)
		}
		if o := ry.outcomes[0]; !o.Duplicate || o.First != 1 {
			t.Errorf("retry of the kept id y: %+v, want a duplicate of 1", o)
		}
		if next := f.seg.NextOffset(); next != 3 {
			t.Errorf("next offset %d, want 3", next)
		}
	}
}

// TestTruncateKeepsLastTimestamp: a log truncated to empty keeps no
// record to carry the last timestamp; a replica that restarts must still
// stamp the next entry, from a leader whose clock is behind, as the one
// that kept running does.
func TestTruncateKeepsLastTimestamp(t *testing.T) {
	a, b := openTestFSM(t, t.TempDir()), openTestFSM(t, t.TempDir())
	defer a.close()
	applyBoth(a, b, appendEntry(t, 1, 5000, "", "v0"), truncEntry(t, 2, 1))
	b = restartFSM(t, b)
	defer b.close()
	applyBoth(a, b, appendEntry(t, 3, 4000, "", "v1"))
	for _, f := range []*fsm{a, b} {
		if rec, err := f.seg.Read(1); err != nil || rec.Timestamp != 5000 {
			t.Errorf("record 1: %+v, %v; want timestamp 5000", rec, err)
		}
	}
}

// TestAppliedFileOldForm: an applied file of the index alone, as written
// before it held the timestamp, is still read.
func TestAppliedFileOldForm(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, appliedFile), []byte{0, 0, 0, 0, 0, 0, 0, 7}, 0o644); err != nil {
		t.Fatal(err)
	}
	if a, err := readApplied(dir); err != nil || a != (appliedState{index: 7}) {
		t.Fatalf("old applied file: %+v, %v; want index 7", a, err)
	}
	want := appliedState{index: 9, ts: 1234}
	if err := writeApplied(dir, want); err != nil {
		t.Fatal(err)
	}
	if a, err := readApplied(dir); err != nil || a != want {
		t.Fatalf("applied file: %+v, %v; want %+v", a, err, want)
	}
	if err := os.WriteFile(filepath.Join(dir, appliedFile), []byte{1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readApplied(dir); err == nil {
		t.Fatal("a 3-byte applied file was read")
	}
}

// TestLocalApplyFailureIsOutcomeUnknown: an entry that this node's disk
// fails to write is committed all the same, on a majority that may not
// need this node. Its appends are answered as of unknown outcome, not as
// refused, and the log fails.
func TestLocalApplyFailureIsOutcomeUnknown(t *testing.T) {
	f := openTestFSM(t, t.TempDir())
	var failed error
	f.onFail = func(err error) { failed = err }
	if err := f.seg.Close(); err != nil { // stands for a failed disk
		t.Fatal(err)
	}
	r := f.Apply(appendEntry(t, 1, 1000, "id", "a")).(*applyResult)
	if !errors.Is(failed, service.ErrLogFailed) {
		t.Fatalf("the log did not fail: %v", failed)
	}
	o := r.outcomes[0]
	if !errors.Is(o.Err, service.ErrLogFailed) || !strings.Contains(o.Err.Error(), "may or may not commit") {
		t.Fatalf("the append's outcome: %v; want an unknown outcome", o.Err)
	}
}

// TestNoLogSnapshotAndRestoreFail: a state machine whose log a failed
// restore left closed refuses a snapshot and a restore with an error, in
// Raft's goroutines, rather than panicking there.
func TestNoLogSnapshotAndRestoreFail(t *testing.T) {
	f := openTestFSM(t, t.TempDir())
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Snapshot(); !errors.Is(err, service.ErrLogFailed) {
		t.Fatalf("snapshot without a log: %v, want ErrLogFailed", err)
	}
	st := snapState{Index: 5, Next: 0}
	if err := f.Restore(io.NopCloser(bytes.NewReader(st.encode()))); !errors.Is(err, service.ErrLogFailed) {
		t.Fatalf("restore without a log: %v, want ErrLogFailed", err)
	}
}

// TestTooLargeAtApplyFailsTheNode: a record the leader accepted that
// this node's segments cannot hold means the nodes' segment sizes differ;
// refusing it here would make this replica decide otherwise than the
// others, so it fails the node instead.
func TestTooLargeAtApplyFailsTheNode(t *testing.T) {
	var cfg segment.Config
	cfg.Segment.MaxStoreBytes = 1 << 10
	f, err := openFSM(t.TempDir(), cfg, dedup.Config{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	var failed error
	f.onApply, f.onFail = func(*entry, *applyResult) {}, func(err error) { failed = err }
	r := f.Apply(appendEntry(t, 1, 1000, "", strings.Repeat("x", 2<<10))).(*applyResult)
	if !errors.Is(failed, service.ErrLogFailed) {
		t.Fatalf("a record too large for this node's segments did not fail it: %v", failed)
	}
	if o := r.outcomes[0]; errors.Is(o.Err, service.ErrTooLarge) {
		t.Fatalf("the append was refused as too large: %v", o.Err)
	}
}

// TestDuplicateOnlyEntryForgetsNothing: an entry whose appends are all
// duplicates writes no record, so its timestamp is stored nowhere. Had
// its lookups forgotten the ids too old at that timestamp, a replica
// that kept running would forget what one rebuilt from the records still
// holds, and the two would decide a retry from a leader whose clock is
// behind differently, and diverge.
func TestDuplicateOnlyEntryForgetsNothing(t *testing.T) {
	const s = int64(time.Second)
	for _, r := range restarts {
		t.Run(r.name, func(t *testing.T) {
			a, b := openTestFSM(t, t.TempDir()), openTestFSM(t, t.TempDir())
			defer a.close()
			applyBoth(a, b,
				appendEntry(t, 1, 1*s, "x", "v0"),
				appendEntry(t, 2, 100*s, "y", "v1"),
				appendEntry(t, 3, 200*s, "y", "v1"), // duplicates only
			)
			b = r.restart(t, b)
			defer b.close()
			e := appendEntry(t, 4, 50*s, "x", "v0") // a leader whose clock is behind
			ra, rb := a.Apply(e).(*applyResult), b.Apply(e).(*applyResult)
			if oa, ob := ra.outcomes[0], rb.outcomes[0]; oa != ob {
				t.Fatalf("the replica that kept running decided %+v, the one restarted (%s) %+v", oa, r.name, ob)
			}
			if !bytes.Equal(rawFSM(t, a), rawFSM(t, b)) {
				t.Fatal("the replicas hold different records")
			}
		})
	}
}

// rawFSM returns the stored encodings of every record f's log holds.
func rawFSM(t *testing.T, f *fsm) []byte {
	t.Helper()
	low, err := f.seg.LowestOffset()
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for off := low; off < f.seg.NextOffset(); {
		b, err := f.seg.ReadRawBatch(off, 1000, 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b.Records...)
		off += uint64(b.N)
	}
	return out
}
