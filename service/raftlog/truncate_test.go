package raftlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/evlog/evlog/service"
)

// TestTruncateReplicates: a truncate through the leader applies on every
// node; one up to the end of the log leaves no record to carry the Raft
// index, and a restart must still not apply anything twice.
func TestTruncateReplicates(t *testing.T) {
	c := newCluster(t, 3, nil)
	for i := range 5 {
		c.mustDo(app(fmt.Sprintf("t%d", i), "a", "b"))
	}
	c.converged(10)
	for _, nd := range c.running() {
		if nd.log.Leader() {
			continue
		}
		if _, err := nd.log.TruncateFront(4); !errors.Is(err, service.ErrUnavailable) {
			t.Fatalf("truncate on a follower: %v, want ErrUnavailable", err)
		}
	}
	low, err := c.leader().log.TruncateFront(10)
	if err != nil || low != 10 {
		t.Fatalf("truncate to the end: lowest %d, %v", low, err)
	}
	if _, err := c.leader().log.TruncateFront(99); !errors.Is(err, service.ErrOffsetOutOfRange) {
		t.Fatalf("truncate beyond the log: %v", err)
	}
	waitFor(t, 10*time.Second, "the truncate on every node", func() bool {
		for _, nd := range c.running() {
			if nd.log.Stats().LowestOffset != 10 {
				return false
			}
		}
		return true
	})
	for _, nd := range c.nodes {
		c.stop(nd)
	}
	for _, nd := range c.nodes {
		c.restart(nd)
	}
	c.mustDo(app("", "after"))
	c.converged(11)
	for _, nd := range c.running() {
		if st := nd.log.Stats(); st.LowestOffset != 10 || st.NextOffset != 11 {
			t.Fatalf("%s after restart: %+v, want records [10, 11)", nd.cfg.NodeID, st)
		}
	}
}

// TestFollowerReadsWait: a follower's committed offset is what it has
// applied, and CommitChanged wakes a read waiting there when an append
// made on the leader reaches it.
func TestFollowerReadsWait(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.mustDo(app("", "first"))
	c.converged(1)
	var f *node
	for _, nd := range c.running() {
		if !nd.log.Leader() {
			f = nd
		}
	}
	changed := f.log.CommitChanged()
	if got := f.log.CommittedOffset(); got != 1 {
		t.Fatalf("follower committed %d, want 1", got)
	}
	c.mustDo(app("", "second"))
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("follower's CommitChanged not closed by an append on the leader")
	}
	b, err := f.log.ReadRawBatch(1, 1, 1<<20, nil)
	if err != nil || b.N != 1 {
		t.Fatalf("follower read of offset 1: %d records, %v", b.N, err)
	}
}

// TestOpenRefusesLogWithoutRaftState: a node whose raft/ directory was
// removed alone would start Raft from index 1 under a state machine that
// has applied further, and skip the new entries: it is refused at open.
func TestOpenRefusesLogWithoutRaftState(t *testing.T) {
	c := newCluster(t, 1, nil)
	c.mustDo(app("", "a"))
	nd := c.nodes[0]
	c.stop(nd)
	if err := os.RemoveAll(filepath.Join(nd.cfg.Dir, "raft")); err != nil {
		t.Fatal(err)
	}
	l, err := Open(nd.cfg)
	if err == nil {
		l.Close()
		t.Fatal("a segment log without raft state was opened")
	}
	if !errors.Is(err, ErrNoState) {
		t.Fatalf("open: %v, want ErrNoState", err)
	}
}

// TestAppendBelowAppliedIsSettled: when the state machine is ahead of
// Raft's log, an entry proposed at an index it holds already applies as
// nothing; its appends must still be answered, with an error, and Detach
// must not wait for them.
func TestAppendBelowAppliedIsSettled(t *testing.T) {
	c := newCluster(t, 1, nil)
	c.mustDo(app("", "a"))
	nd := c.nodes[0]
	c.stop(nd)
	if err := writeApplied(nd.cfg.Dir, appliedState{index: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	c.restart(nd)
	if err := do(c.leader().log, app("", "b")); !errors.Is(err, service.ErrLogFailed) {
		t.Fatalf("append below the applied index: %v, want ErrLogFailed", err)
	}
	done := make(chan struct{})
	go func() { defer close(done); c.stop(nd) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("stop (Detach) hangs")
	}
}

// TestTooLargeRefusedBeforeProposing: the leader refuses a record its
// segments cannot hold, stamps included, before it enters Raft's log.
func TestTooLargeRefusedBeforeProposing(t *testing.T) {
	c := newCluster(t, 1, smallSegments)
	l := c.leader().log
	big := app("id", string(make([]byte, 1<<10)))
	if err := l.Append(big); !errors.Is(err, service.ErrTooLarge) {
		t.Fatalf("append of a record larger than a segment: %v, want ErrTooLarge", err)
	}
	// What is left of a segment once the stamps are counted still fits.
	c.mustDo(app("id", string(make([]byte, 1<<9))))
	if got := l.CommittedOffset(); got != 1 {
		t.Fatalf("committed offset %d, want 1", got)
	}
}
