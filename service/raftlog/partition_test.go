package raftlog

import (
	"fmt"
	"testing"
	"time"

	"github.com/evlog/evlog/service"
)

// followerOf returns a running node other than ld.
func (c *cluster) followerOf(ld *node) *node {
	for _, nd := range c.running() {
		if nd != ld {
			return nd
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// TestCutFollowerCatchesUpByLog: a follower cut off the others misses
// appends the majority acknowledges; healed, it is sent the entries it
// missed from Raft's log (no install) and matches byte for byte.
func TestCutFollowerCatchesUpByLog(t *testing.T) {
	net := newNetCut()
	c := newCluster(t, 3, net.tweak)
	c.mustRetry("before", "before")
	f := c.followerOf(c.leader())
	c.converged(1)
	net.isolate(f.log.Addr())
	for i := range 20 {
		c.mustRetry(fmt.Sprintf("cut-%d", i), "v")
	}
	if got := f.log.CommittedOffset(); got != 1 {
		t.Fatalf("the cut follower applied up to %d", got)
	}
	net.heal(f.log.Addr())
	c.converged(21)
	if a, err := readApplied(f.cfg.Dir); err != nil || a.index != 0 {
		t.Fatalf("applied file %d (%v): the follower was restored from a snapshot, not sent the log", a.index, err)
	}
}

// TestCutFollowerCatchesUpByInstall: a follower cut off while the leader
// compacts its Raft log past what the follower holds is brought up to
// date by a snapshot install once healed.
func TestCutFollowerCatchesUpByInstall(t *testing.T) {
	net := newNetCut()
	c := newCluster(t, 3, func(cfg *Config) {
		net.tweak(cfg)
		cfg.TrailingLogs = 2
		cfg.SnapshotThreshold = 1 << 30 // only the snapshots the test takes
		cfg.WALSegmentBytes = 4 << 10   // so that compaction deletes files
	})
	for i := range 10 {
		c.mustRetry(fmt.Sprintf("id-%d", i), "a")
	}
	ld := c.leader()
	f := c.followerOf(ld)
	c.converged(10)
	net.isolate(f.log.Addr())
	for i := range 40 {
		c.mustRetry(fmt.Sprintf("cut-%d", i), fmt.Sprintf("value-%d", i))
	}
	ld = c.leader()
	if err := ld.log.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if first, err := ld.log.wal.FirstIndex(); err != nil || first <= 3 {
		t.Fatalf("leader's raft log starts at %d (%v): not compacted, no install needed", first, err)
	}
	net.heal(f.log.Addr())
	c.converged(50)
	if a, err := readApplied(f.cfg.Dir); err != nil || a.index == 0 {
		t.Fatalf("applied file %d (%v): the follower was not restored from a snapshot", a.index, err)
	}
	if got := f.log.Stats().DedupIDs; got != 50 {
		t.Fatalf("restored follower remembers %d ids, want 50", got)
	}
}

// TestCutLeaderAcknowledgesNothing: a leader cut off on the minority side
// acknowledges none of the appends it is given from then on; the majority
// elects a new leader and goes on; healed, the old leader steps down,
// catches up, and holds what the majority holds, byte for byte, and every
// acknowledged append once.
func TestCutLeaderAcknowledgesNothing(t *testing.T) {
	net := newNetCut()
	c := newCluster(t, 3, net.tweak)
	w := &writer{c: c, acked: map[string][2]uint64{}}
	for range 5 {
		if err := w.appendOne(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	old := c.leader()
	net.isolate(old.log.Addr())
	// Appends given to the old leader after the cut: none may be
	// acknowledged, since no majority can hold them.
	var late []*handed
	for i := range 10 {
		a := app(fmt.Sprintf("late-%d", i), "late")
		late = append(late, &handed{a: a, err: old.log.Append(a)})
	}
	var nl *node
	waitFor(t, 15*time.Second, "a leader on the majority side", func() bool {
		for _, nd := range c.running() {
			if nd != old && nd.log.Leader() {
				nl = nd
				return true
			}
		}
		return false
	})
	waitFor(t, 10*time.Second, "the old leader to step down", func() bool { return !old.log.Leader() })
	for range 10 {
		if err := w.appendOne(time.Now().Add(20 * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range late {
		if m.err != nil {
			continue // refused at once: not acknowledged
		}
		select {
		case err := <-m.a.Token.(chan error):
			if err == nil {
				t.Fatalf("the cut leader acknowledged %s at %d", m.a.ID, m.a.First)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("append %s on the cut leader was never answered", m.a.ID)
		}
	}
	net.heal(old.log.Addr())
	want := nl.log.CommittedOffset()
	c.converged(want)
	w.check(t)
	if old.log.Leader() {
		t.Fatal("the old leader leads again beside the new one")
	}
}

// handed is an append handed to a node and what Append returned.
type handed struct {
	a   *service.Append
	err error
}
