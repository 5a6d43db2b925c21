package raftlog

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestCrashMidInstall: a wiped follower that crashed while it received
// an install, with a complete install spooled but not yet restored, a
// later one still streaming, and a staged log half written, finishes the
// complete restore at its next Open, before Raft starts, drops the rest,
// and then matches the leader byte for byte.
func TestCrashMidInstall(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := range 30 {
		c.mustRetry(fmt.Sprintf("id-%d", i), fmt.Sprintf("v%d", i))
	}
	ld := c.leader()
	f := c.followerOf(ld)
	c.converged(30)
	c.stop(f)
	wipe(t, f.cfg.Dir)

	// What the leader sends in an install: its snapshot, streamed from
	// its live log.
	snap := ld.log.raft.Snapshot()
	if err := snap.Error(); err != nil {
		t.Fatal(err)
	}
	meta, stream, err := snap.Open()
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(stream)
	if cerr := stream.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	// Spooled as Raft spools a received install, then the crash: no
	// Restore.
	store, err := newSnapStore(filepath.Join(f.cfg.Dir, "raft", "snap"), retainSnapshots, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := store.Create(meta.Version, meta.Index, meta.Term, meta.Configuration, meta.ConfigurationIndex, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	// A second install cut off mid-stream, and a staged restore of it.
	partial, err := store.Create(meta.Version, meta.Index+1, meta.Term, meta.Configuration, meta.ConfigurationIndex, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := partial.Write(body[:len(body)/2]); err != nil {
		t.Fatal(err)
	}
	if err := partial.(*snapSink).f.Close(); err != nil {
		t.Fatal(err)
	}
	// The node had opened since the wipe, so its (empty) log is there
	// beside the stage.
	if err := os.MkdirAll(filepath.Join(f.cfg.Dir, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	stage := filepath.Join(f.cfg.Dir, "log.restore")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stage, "00000000000000000000.store"), body[:len(body)/3], 0o644); err != nil {
		t.Fatal(err)
	}

	c.restart(f)
	// Open finished the restore: the records are there before Raft could
	// have sent a single entry.
	if got := f.log.CommittedOffset(); got < 30 {
		t.Fatalf("after open the restored follower holds %d records, want 30", got)
	}
	if a, err := readApplied(f.cfg.Dir); err != nil || a.index != meta.Index {
		t.Fatalf("applied file %d (%v), want the install's index %d", a.index, err, meta.Index)
	}
	if _, err := os.Stat(stage); !os.IsNotExist(err) {
		t.Fatalf("the staged restore is still there: %v", err)
	}
	c.mustRetry("id-7", "again") // a duplicate, decided alike on the restored node
	c.mustRetry("after", "after")
	c.converged(31)
}
