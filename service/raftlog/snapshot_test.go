package raftlog

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWipedFollowerInstall: a follower whose directory was wiped comes
// back empty and catches up by a snapshot install, the leader's Raft log
// having been compacted past what it could replay; the snapshot the
// leader persisted holds no record, only metadata.
func TestWipedFollowerInstall(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.TrailingLogs = 2
		cfg.SnapshotThreshold = 1 << 30 // only the snapshots the test takes
		cfg.WALSegmentBytes = 4 << 10   // so that compaction deletes files
	})
	for i := range 30 {
		c.mustDo(app(fmt.Sprintf("id-%d", i), fmt.Sprintf("v%d", i), "w"))
	}
	ld := c.leader()
	var f *node
	for _, nd := range c.running() {
		if nd != ld {
			f = nd
		}
	}
	c.converged(60)
	c.stop(f)
	wipe(t, f.cfg.Dir)
	for i := range 10 {
		c.mustDo(app("", fmt.Sprintf("after-%d", i)))
	}
	if err := ld.log.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if first, err := ld.log.wal.FirstIndex(); err != nil || first <= 3 {
		t.Fatalf("leader's raft log starts at %d (%v): not compacted, no install needed", first, err)
	}
	checkMetadataOnly(t, ld.cfg.Dir)

	c.restart(f)
	c.converged(70)
	if got := f.log.Stats().DedupIDs; got != 30 {
		t.Fatalf("restored follower remembers %d ids, want 30", got)
	}
	// Only a truncate or a restore writes the applied file.
	if a, err := readApplied(f.cfg.Dir); err != nil || a.index == 0 || f.log.fsm.applied < a.index {
		t.Fatalf("applied file %d (%v), fsm applied %d: the follower was not restored from a snapshot", a.index, err, f.log.fsm.applied)
	}
	// Once restored, the install is cut down to its state. The cut comes
	// after the restored records are visible (a failed swap must still
	// find the whole stream), so it is waited for, not assumed.
	waitFor(t, 20*time.Second, "the received install to be cut to its state", func() bool {
		return metadataOnly(t, f.cfg.Dir) == ""
	})
	// The restored follower takes its part: appends go on and reach it.
	c.mustDo(app("id-3", "again")) // a duplicate, decided alike
	c.mustDo(app("", "last"))
	c.converged(71)
}

// checkMetadataOnly fails unless every persisted snapshot in dir is a
// few hundred bytes of metadata.
func checkMetadataOnly(t *testing.T, dir string) {
	t.Helper()
	if why := metadataOnly(t, dir); why != "" {
		t.Fatal(why)
	}
}

// metadataOnly says what is wrong unless every persisted snapshot in dir
// is a few hundred bytes of metadata, and returns "" if nothing is.
func metadataOnly(t *testing.T, dir string) string {
	t.Helper()
	states, err := filepath.Glob(filepath.Join(dir, "raft", "snap", "*", stateFile))
	if err != nil || len(states) == 0 {
		return fmt.Sprintf("no snapshot in %s (%v)", dir, err)
	}
	for _, s := range states {
		fi, err := os.Stat(s)
		if err != nil {
			return err.Error()
		}
		if fi.Size() > 512 {
			return fmt.Sprintf("snapshot %s is %d bytes: it copies records", s, fi.Size())
		}
	}
	return ""
}

// TestRestartKeepsState: a node restarted after a snapshot and more
// appends replays Raft's log over what its segment log holds and changes
// nothing; a new leader's barrier applies nothing twice.
func TestRestartKeepsState(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := range 10 {
		c.mustDo(app(fmt.Sprintf("a%d", i), "x", "y"))
	}
	if err := c.leader().log.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		c.mustDo(app(fmt.Sprintf("b%d", i), "z"))
	}
	c.converged(30)
	before := raw(t, c.nodes[0].log)
	for _, nd := range c.nodes {
		c.stop(nd)
	}
	for _, nd := range c.nodes {
		c.restart(nd)
	}
	c.leader()
	c.converged(30)
	if got := raw(t, c.nodes[0].log); string(got) != string(before) {
		t.Fatalf("log changed across the restart: %d bytes, %d before", len(got), len(before))
	}
	if st := c.nodes[0].log.Stats(); st.NextOffset != 30 || st.DedupIDs != 20 {
		t.Fatalf("after restart: %+v, want next offset 30 and 20 ids", st)
	}
	dup := app("b9", "z")
	c.mustDo(dup)
	if !dup.Duplicate || dup.First != 29 {
		t.Fatalf("retry after restart: %+v", dup)
	}
}

// TestInstallAfterTruncatePastSnapshot: a truncate passes the records of
// the leader's newest snapshot, which can then no longer be streamed, and
// the log goes quiet. A wiped follower must still be installed, from a
// snapshot taken after the truncate, not wait for SnapshotThreshold more
// entries.
func TestInstallAfterTruncatePastSnapshot(t *testing.T) {
	c := newCluster(t, 3, func(cfg *Config) {
		cfg.TrailingLogs = 2
		cfg.SnapshotThreshold = 1 << 30 // only the snapshots the test takes, and the truncate's
		cfg.WALSegmentBytes = 4 << 10   // so that compaction deletes files
	})
	for i := range 30 {
		c.mustDo(app(fmt.Sprintf("id-%d", i), fmt.Sprintf("v%d", i)))
	}
	c.converged(30)
	ld := c.leader()
	f := c.followerOf(ld)
	if err := ld.log.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	c.stop(f)
	wipe(t, f.cfg.Dir)
	for i := range 10 {
		c.mustDo(app("", fmt.Sprintf("after-%d", i)))
	}
	if low, err := ld.log.TruncateFront(35); err != nil || low != 35 {
		t.Fatalf("truncate: lowest %d, %v", low, err)
	}
	c.restart(f)
	waitFor(t, 20*time.Second, "the wiped follower to be installed", func() bool {
		st := f.log.Stats()
		return st.LowestOffset == 35 && st.NextOffset == 40
	})
	c.converged(40)
	c.mustDo(app("", "last"))
	c.converged(41)
}
